package record

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/kubewarden/podlock/runtime/record/evidence"
)

// Each run of a container counts once for each rule it needed, however
// often its recording is saved; a directory that replaces its files keeps
// their evidence; other containers' evidence is left alone.
func TestEvidence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "learned.yaml")
	epoch := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	at := epoch
	out := func(container, pod string) Output {
		return Output{File: file, Namespace: "team-a", Profile: "learned", Container: container, Pod: pod, Network: true,
			Now: func() time.Time { return at }}
	}
	save := func(o Output, rec *Recording) {
		t.Helper()
		if err := o.Save(rec); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Minute)
	}

	first := NewRecording()
	first.Path([]string{"/bin/app"}, "/etc/a", Read)
	first.Connect([]string{"/bin/app"}, 443)
	first.Syscall("openat")
	save(out("web", "web-1"), first)
	save(out("web", "web-1"), first) // saved again by the same run
	first.Path([]string{"/bin/app"}, "/etc/b", Read)
	save(out("web", "web-1"), first)

	second := NewRecording()
	second.Path([]string{"/bin/app"}, "/etc/a", Read)
	second.Syscall("openat")
	save(out("web", "web-2"), second)

	sidecar := NewRecording()
	sidecar.Syscall("poll")
	save(out("sidecar", "web-2"), sidecar)

	ev, err := evidence.Read(evidence.FileOf(file))
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		count       int64
		pods        []string
		first, last time.Duration
	}
	got := map[string]seen{}
	for _, e := range ev.Rules {
		got[e.Container+" "+e.Binary+" "+e.Kind+" "+e.Value+" "+e.Access] = seen{e.Count, e.Pods, e.FirstSeen.Sub(epoch), e.LastSeen.Sub(epoch)}
	}
	want := map[string]seen{
		"web /bin/app path /etc/a readOnly": {2, []string{"web-1", "web-2"}, 0, 3 * time.Minute},
		"web /bin/app path /etc/b readOnly": {1, []string{"web-1"}, 2 * time.Minute, 2 * time.Minute},
		"web /bin/app connectTCP 443 ":      {1, []string{"web-1"}, 0, 2 * time.Minute},
		"web  syscall openat ":              {2, []string{"web-1", "web-2"}, 0, 3 * time.Minute},
		"sidecar  syscall poll ":            {1, []string{"web-2"}, 4 * time.Minute, 4 * time.Minute},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("evidence:\n got %v\nwant %v", got, want)
	}

	// Two more files make /etc a directory rule: it starts from the
	// evidence of the files it replaces, and counts this run.
	third := NewRecording()
	third.Path([]string{"/bin/app"}, "/etc/c", Read)
	third.Path([]string{"/bin/app"}, "/etc/d", Read)
	save(out("web", "web-3"), third)
	ev, err = evidence.Read(evidence.FileOf(file))
	if err != nil {
		t.Fatal(err)
	}
	var dir *evidence.Rule
	for i, e := range ev.Rules {
		if e.Kind == evidence.KindPath && e.Value == "/etc" {
			dir = &ev.Rules[i]
		}
		if e.Kind == evidence.KindPath && e.Value == "/etc/a" {
			t.Errorf("/etc/a kept its own evidence beside /etc's")
		}
	}
	if dir == nil || dir.Count != 3 || !reflect.DeepEqual(dir.Pods, []string{"web-1", "web-2", "web-3"}) || !dir.FirstSeen.Equal(epoch) {
		t.Errorf("/etc: %+v", dir)
	}
}
