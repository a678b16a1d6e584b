package runtime_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// Containers that ask for no profile, or that their profile does not name,
// are handed to runc with config.json byte for byte as it was, and behave
// exactly as under runc.
func TestUntouchedContainers(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", testenv.QuickstartProfile)
	runc := testenv.NewRuntime(t, "runc")
	for _, tc := range []struct {
		name     string
		annotate func(*testenv.Bundle)
	}{
		{"not annotated", func(b *testenv.Bundle) {}},
		{"kubernetes container without profile", func(b *testenv.Bundle) { b.Annotate("default", "app", "") }},
		{"container not named in profile", func(b *testenv.Bundle) { b.Annotate("default", "sidecar", "demo") }},
		{"sandbox", func(b *testenv.Bundle) {
			b.Annotate("default", "app", "demo")
			b.Spec.Annotations["io.kubernetes.cri.container-type"] = "sandbox"
		}},
		{"CRI-O sandbox", func(b *testenv.Bundle) {
			b.Spec.Annotations = map[string]string{
				"io.kubernetes.cri-o.ContainerType": "sandbox",
				"io.kubernetes.pod.namespace":       "default",
				"podlock.kubewarden.io/profile":     "demo",
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const script = "cat /etc/passwd | wc -l; /opt/bin/id -u; echo x > /motd && echo wrote"
			b := testenv.NewBundle(t, "sh", "-c", script)
			tc.annotate(b)
			before := b.Write(t)
			res := e.rt.Run(b, "untouched")
			if after := b.Config(t); !bytes.Equal(before, after) {
				t.Errorf("config.json changed:\n%s", after)
			}
			want := runc.Run(b, "reference")
			if res.Err != nil || want.Err != nil {
				t.Fatalf("podlock: %v %s; runc: %v %s", res.Err, res.Stderr, want.Err, want.Stderr)
			}
			if res.Stdout != want.Stdout || res.Stderr != want.Stderr {
				t.Errorf("podlock printed %q %q, runc %q %q", res.Stdout, res.Stderr, want.Stdout, want.Stderr)
			}
			wantLines(t, "stdout", res.Stdout, []string{"2", "0", "wrote"})
		})
	}
}

// Every verb but create, run and exec is runc's own, and the container
// lifecycle through podlock-runtime is runc's.
func TestPassthroughVerbs(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", testenv.QuickstartProfile)
	b := testenv.NewBundle(t, "sleep", "300").Annotate("default", "app", "demo")
	b.Write(t)
	const id = "verbs"
	rt := e.rt

	mustOK := func(verb string, res testenv.Result) testenv.Result {
		t.Helper()
		if res.Err != nil {
			t.Fatalf("%s: %v\nstdout: %s\nstderr: %s\nlog: %q", verb, res.Err, res.Stdout, res.Stderr, rt.LogErrors(t))
		}
		return res
	}
	status := func() string {
		t.Helper()
		var state struct {
			Status string `json:"status"`
		}
		res := mustOK("state", rt.Command("state", id))
		if err := json.Unmarshal([]byte(res.Stdout), &state); err != nil {
			t.Fatalf("state: %v: %s", err, res.Stdout)
		}
		return state.Status
	}

	features := mustOK("features", rt.Command("features"))
	if !strings.Contains(features.Stdout, `"ociVersionMin"`) {
		t.Errorf("features: %s", features.Stdout)
	}
	// --version is runc's alone; podlock's is under podlock's command.
	if version := mustOK("--version", rt.Command("--version")); !strings.HasPrefix(version.Stdout, "runc version") {
		t.Errorf("--version: %s", version.Stdout)
	}
	if version := mustOK("podlock version", rt.Command("podlock", "version")); !strings.HasPrefix(version.Stdout, "podlock-runtime version") {
		t.Errorf("podlock version: %s", version.Stdout)
	}

	mustOK("create", rt.Command("create", "--bundle", b.Dir, id))
	if s := status(); s != "created" {
		t.Fatalf("after create: %s", s)
	}
	mustOK("start", rt.Command("start", id))
	if s := status(); s != "running" {
		t.Fatalf("after start: %s", s)
	}
	if ps := mustOK("ps", rt.Command("ps", id)); !strings.Contains(ps.Stdout, "sleep") {
		t.Errorf("ps: %s", ps.Stdout)
	}
	if ls := mustOK("list", rt.Command("list")); !strings.Contains(ls.Stdout, id) {
		t.Errorf("list: %s", ls.Stdout)
	}
	// Not confined as a whole: exec runs plain runc's way.
	if out := mustOK("exec", rt.Command("exec", id, "cat", "/etc/passwd")); !strings.HasPrefix(out.Stdout, "root:") {
		t.Errorf("exec: %s", out.Stdout)
	}
	mustOK("pause", rt.Command("pause", id))
	if s := status(); s != "paused" {
		t.Fatalf("after pause: %s", s)
	}
	mustOK("resume", rt.Command("resume", id))
	mustOK("kill", rt.Command("kill", id, "KILL"))
	deadline := time.Now().Add(5 * time.Second)
	for status() != "stopped" {
		if time.Now().After(deadline) {
			t.Fatal("container did not stop after kill")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mustOK("delete", rt.Command("delete", id))
	if res := rt.Command("state", id); res.Err == nil {
		t.Errorf("state after delete succeeded: %s", res.Stdout)
	}
}

// podlock-runtime check reports what a confined container needs from the
// node, and that this one has it.
func TestCheck(t *testing.T) {
	e := newEnv(t, "PODLOCK_RECORD_DIR=/var/tmp/podlock-records")
	cmd := exec.Command(e.rt.Binary, "check")
	cmd.Env = append(os.Environ(), e.rt.Env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	for _, want := range []string{"real runtime:", "helper:", "profiles:        from " + e.profiles, "recordings:      /var/tmp/podlock-records", "Landlock ABI:", "ok"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check says:\n%s\nwant a line with %q", out, want)
		}
	}
}
