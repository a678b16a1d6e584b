package runtime_test

import (
	"testing"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// The quickstart of the seed's product on busybox, line for line.
func TestQuickstart(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", testenv.QuickstartProfile)
	b := testenv.NewBundle(t, "sh", "-c", testenv.QuickstartScript).Annotate("default", "app", "demo")
	b.Write(t)

	res := e.rt.Run(b, "quickstart")
	if res.Err != nil {
		t.Fatalf("run: %v\nstderr: %s\nlog: %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{
		"podlock-test",
		"copied motd to /tmp",
		"done",
	})
	wantLines(t, "stderr", res.Stderr, []string{
		"sh: /opt/bin/id: Permission denied",
		"cp: can't create '/motd': Permission denied",
		"cp: can't open '/etc/passwd': Permission denied",
	})
}

// Without the profile annotation the same script runs unconfined.
func TestQuickstartUnconfinedWithoutAnnotation(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", testenv.QuickstartProfile)
	b := testenv.NewBundle(t, "sh", "-c", testenv.QuickstartScript).Annotate("default", "app", "")
	b.Write(t)

	res := e.rt.Run(b, "unconfined")
	if res.Err != nil {
		t.Fatalf("run: %v\nstderr: %s", res.Err, res.Stderr)
	}
	wantLines(t, "stdout", res.Stdout, []string{
		"podlock-test",
		"uid=0(root) gid=0(root)",
		"copied motd to /tmp",
		"done",
	})
	wantLines(t, "stderr", res.Stderr, nil)
}

// A create retried on the same bundle, as after a failed runc create,
// confines the original config.json again instead of the rewritten one.
func TestCreateTwiceOnOneBundle(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", testenv.QuickstartProfile)
	b := testenv.NewBundle(t, "sh", "-c", testenv.QuickstartScript).Annotate("default", "app", "demo")
	b.Write(t)
	var configs [2]string
	for i := range configs {
		res := e.rt.Run(b, "twice")
		wantLines(t, "stderr", res.Stderr, []string{
			"sh: /opt/bin/id: Permission denied",
			"cp: can't create '/motd': Permission denied",
			"cp: can't open '/etc/passwd': Permission denied",
		})
		configs[i] = string(b.Config(t))
	}
	if configs[0] != configs[1] {
		t.Errorf("the second create changed config.json again:\n%s\n%s", configs[0], configs[1])
	}
}
