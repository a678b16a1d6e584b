package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// crun is a drop-in for runc behind podlock-runtime: per-binary rules
// (which need its createContainer hook) and container-wide rules hold.
func TestCrun(t *testing.T) {
	testenv.Require(t, testenv.Program("crun"))
	records := t.TempDir()
	e := newEnv(t, "PODLOCK_RUNTIME=crun", "PODLOCK_RECORD_DIR="+records)
	e.profile("demo", testenv.QuickstartProfile)
	e.profile("wide", wideProfile)
	e.profile("learned", recordProfile)
	// crun 1.8 refuses a hybrid cgroup layout whose cgroup2 hierarchy has
	// a controller, as this machine's has (hugetlb). Each command runs in
	// a private mount namespace without that hierarchy, so crun sees plain
	// cgroup v1; the host's mounts are not touched.
	wrapper := filepath.Join(t.TempDir(), "podlock-runtime-v1")
	script := "#!/bin/sh\nexec unshare --mount --propagation private /bin/sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec \"$0\" \"$@\"' " + e.rt.Binary + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e.rt.Binary = wrapper

	b := testenv.NewBundle(t, "sh", "-c", testenv.QuickstartScript).Annotate("default", "app", "demo")
	b.Write(t)
	res := e.rt.Run(b, "crun-quickstart")
	if res.Err != nil {
		t.Fatalf("run: %v\nstderr: %s\nlog: %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{"podlock-test", "copied motd to /tmp", "done"})
	wantLines(t, "stderr", res.Stderr, []string{
		"sh: /opt/bin/id: Permission denied",
		"cp: can't create '/motd': Permission denied",
		"cp: can't open '/etc/passwd': Permission denied",
	})

	w := testenv.NewBundle(t, "sleep", "300").Annotate("default", "app", "wide")
	w.Write(t)
	if res := e.rt.Command("run", "--detach", "--bundle", w.Dir, "crun-wide"); res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	defer e.rt.Command("delete", "--force", "crun-wide")
	res = e.rt.Command("exec", "crun-wide", "sh", "-c", "cat /etc/hostname; cat /etc/group")
	wantLines(t, "stdout", res.Stdout, []string{"podlock-test"})
	wantLines(t, "stderr", res.Stderr, []string{"cat: can't open '/etc/group': Permission denied"})

	// Learning mode: crun, like runc, hands the filter's notifications to
	// the agent at listenerPath.
	l := testenv.NewBundle(t, "sh", "-c", "cat /etc/motd").Annotate("default", "app", "learned")
	l.Write(t)
	if res := e.rt.Run(l, "crun-record"); res.Err != nil || res.Stdout != "welcome to podlock\n" {
		t.Fatalf("run: %v %q %s %q", res.Err, res.Stdout, res.Stderr, e.rt.LogErrors(t))
	}
	if recorded := testenv.WaitForRecording(t, records, "default", "learned"); !strings.Contains(string(recorded), "- /etc/motd\n") {
		t.Errorf("crun's container: /etc/motd not recorded:\n%s", recorded)
	}
}
