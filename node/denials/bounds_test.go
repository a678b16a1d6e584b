package denials

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/landlock/audit"
)

var epoch = time.Unix(1795683084, 0)

func denial(pod string, at time.Duration, target string) audit.Denial {
	return audit.Denial{
		Time:   epoch.Add(at),
		Owner:  landlock.Owner{Namespace: "default", Pod: pod, PodUID: "uid-" + pod, Container: "app", Profile: "demo"},
		Binary: "/bin/busybox",
		Access: "fs.read_file",
		Target: target,
	}
}

func quietGate() *eventGate {
	return newEventGate(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func TestEventGateDedup(t *testing.T) {
	g := quietGate()
	for _, tc := range []struct {
		at     time.Duration
		target string
		want   bool
	}{
		{0, "/etc/passwd", true},
		{time.Second, "/etc/passwd", false},
		{time.Second, "/etc/shadow", true},
		{dedupWindow, "/etc/passwd", false},
		{dedupWindow + time.Second, "/etc/passwd", true},
	} {
		if got := g.admit(denial("web", tc.at, tc.target)); got != tc.want {
			t.Errorf("%v %s: admitted %v, want %v", tc.at, tc.target, got, tc.want)
		}
	}
}

// One container denied everything at once gets its burst of Events, and
// leaves the node's budget to the others.
func TestEventGateRates(t *testing.T) {
	g := quietGate()
	admitted := func(pod string, at time.Duration, n int) int {
		count := 0
		for i := range n {
			if g.admit(denial(pod, at, fmt.Sprintf("/%s/%d/%d", pod, at, i))) {
				count++
			}
		}
		return count
	}
	if got := admitted("noisy", 0, 1000); got != containerEventBurst {
		t.Errorf("noisy container: %d Events, want its burst of %d", got, containerEventBurst)
	}
	if got := admitted("quiet", 0, 3); got != 3 {
		t.Errorf("quiet container after the noisy one: %d Events, want 3", got)
	}
	if got := admitted("noisy", containerEventEvery, 100); got != 1 {
		t.Errorf("noisy container %v later: %d Events, want 1", containerEventEvery, got)
	}
	// A denial refused for the rate is reported when it comes again.
	admitted("noisy", 2*containerEventEvery, 100)
	d := denial("noisy", 2*containerEventEvery, "/again")
	if g.admit(d) {
		t.Fatal("admitted past the container's rate")
	}
	d.Time = d.Time.Add(containerEventEvery)
	if !g.admit(d) {
		t.Error("a denial refused for the rate was not reported later")
	}
	// Many containers at once: the node's burst.
	total := 0
	for i := range 10 {
		total += admitted(fmt.Sprintf("many-%d", i), time.Hour, 5)
	}
	if total != globalEventBurst {
		t.Errorf("10 containers at once: %d Events, want the node's burst of %d", total, globalEventBurst)
	}
}

func TestEventGateMemory(t *testing.T) {
	g := quietGate()
	for i := range 3 * maxTrackedContainers {
		g.admit(denial(fmt.Sprintf("pod-%d", i), time.Duration(i)*time.Hour, "/x"))
	}
	if len(g.containers) > maxTrackedContainers {
		t.Errorf("%d containers tracked, bound %d", len(g.containers), maxTrackedContainers)
	}
	// The least recently seen container goes first.
	if _, ok := g.containers[containerKey{"default", "pod-0", "uid-pod-0", "app"}]; ok {
		t.Error("the oldest container is still tracked")
	}
	g = quietGate()
	for i := range 100 * maxDedupPerContainer {
		// One distinct denial every 2 s for 5.7 days.
		g.admit(denial("web", time.Duration(i)*2*time.Second, fmt.Sprintf("/%d", i)))
	}
	for _, c := range g.containers {
		if len(c.seen) > maxDedupPerContainer {
			t.Errorf("%d denials remembered, bound %d", len(c.seen), maxDedupPerContainer)
		}
	}
}

func TestLabelBudget(t *testing.T) {
	b := newLabelBudget()
	app := landlock.Owner{Namespace: "default", Container: "app", Profile: "demo"}
	seen := map[string]bool{}
	for i := range 3 * maxSeriesPerContainer {
		seen[strings.Join(b.values(app, fmt.Sprintf("/tmp/bin-%d", i), "fs.read_file"), " ")] = true
	}
	if len(seen) != maxSeriesPerContainer+1 || !seen["default demo app other other"] {
		t.Errorf("%d series for one container, want %d and the other one", len(seen), maxSeriesPerContainer+1)
	}
	// A binary counted before the bound keeps its label.
	if got := strings.Join(b.values(app, "/tmp/bin-0", "fs.read_file"), " "); got != "default demo app /tmp/bin-0 fs.read_file" {
		t.Errorf("labels %q", got)
	}
	b = newLabelBudget()
	sets := map[string]bool{}
	for i := range 2 * maxContainerLabelSets {
		o := landlock.Owner{Namespace: "default", Container: fmt.Sprintf("c%d", i), Profile: "demo"}
		v := b.values(o, "/bin/sh", "fs.read_file")
		sets[strings.Join(v[:3], " ")] = true
	}
	if len(sets) != maxContainerLabelSets+1 || !sets["other other other"] {
		t.Errorf("%d label sets, want %d and the other one", len(sets), maxContainerLabelSets+1)
	}
}

func TestEventMessage(t *testing.T) {
	d := denial("web", 0, "/etc/passwd")
	if got, want := eventMessage("app", d, "profile demo"), "container app: /bin/busybox was denied fs.read_file on /etc/passwd (profile demo)"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	d.Binary = "/" + strings.Repeat("é", 3000)
	d.Target = "/" + strings.Repeat("x", 5000)
	msg := eventMessage("app", d, "profile demo")
	if len(msg) > maxMessageLength || !utf8.ValidString(msg) || !strings.HasSuffix(msg, "(profile demo)") {
		t.Errorf("message of %d bytes (bound %d), valid UTF-8 %v: %.80q...", len(msg), maxMessageLength, utf8.ValidString(msg), msg)
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"0123456789abc", 10, "0123456…"},
		{"ééééé", 8, "éé…"},
	} {
		if got := truncate(tc.s, tc.n); got != tc.want || len(got) > tc.n {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
