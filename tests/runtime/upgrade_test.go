package runtime_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// upgradeProfile confines container app as a whole and lists /bin/sh, the
// quickstart's way.
const upgradeProfile = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  containerWide:
    app:
      readExec: [/bin]
      readWrite: [/tmp]
      readOnly: [/etc/hostname, /etc/motd]
  profilesByContainer:
    app:
      /bin/sh:
        readExec: [/bin/echo, /bin/cat, /bin/cp, /bin/sleep]
        readWrite: [/tmp]
        readOnly: [/etc/hostname, /etc/motd]
`

// podlock-node setup installs the binaries on the node: it leaves an
// unchanged binary alone, and replaces a changed one by rename. Running
// containers keep the helper they were started with, unlinked on the
// host; their exec sessions and listed binaries keep working, and stay
// confined.
func TestHelperUpgradeUnderRunningContainer(t *testing.T) {
	bin := testenv.Binaries(t)
	work := t.TempDir()
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	hostBin := filepath.Join(work, "usr-local-bin")
	ca := filepath.Join(work, "ca.crt")
	if err := os.WriteFile(ca, []byte("not used by setup\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	setup := func(source string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "podlock-node"), "setup", "--host-root=/", "--bin-dir="+hostBin,
			"--source-dir="+source, "--config-dir="+filepath.Join(work, "etc-podlock"), "--api-server=https://127.0.0.1:1",
			"--ca-file="+ca, "--cache-dir="+filepath.Join(work, "cache"), "--record-dir="+filepath.Join(work, "records"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("podlock-node setup: %v\n%s", err, out)
		}
	}
	names := []string{"podlock-runtime", "podlock-runtime-confine", "podlock-helper", "podlock-interpose"}
	inodes := func() map[string]uint64 {
		t.Helper()
		out := map[string]uint64{}
		for _, name := range names {
			fi, err := os.Stat(filepath.Join(hostBin, name))
			if err != nil {
				t.Fatal(err)
			}
			out[name] = fi.Sys().(*syscall.Stat_t).Ino
		}
		return out
	}

	setup(bin)
	installed := inodes()
	setup(bin)
	for name, ino := range inodes() {
		if ino != installed[name] {
			t.Errorf("setup rewrote the unchanged %s", name)
		}
	}

	e := newEnv(t, "PODLOCK_HELPER="+filepath.Join(hostBin, "podlock-helper"))
	e.profile("demo", upgradeProfile)
	b := testenv.NewBundle(t, "sleep", "300").Annotate("default", "app", "demo")
	b.Write(t)
	const id = "upgrade"
	if res := e.rt.Command("run", "--detach", "--bundle", b.Dir, id); res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}

	// Another build of the helper: the same code, another build ID.
	upgrade := filepath.Join(work, "upgrade")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=podlock-upgrade-test", "-o", filepath.Join(upgrade, "podlock-helper"), "./cmd/podlock-helper")
	build.Dir = testenv.ModuleRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, name := range []string{"podlock-runtime", "podlock-runtime-confine", "podlock-interpose"} {
		data, err := os.ReadFile(filepath.Join(bin, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(upgrade, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := os.ReadFile(filepath.Join(hostBin, "podlock-helper"))
	setup(upgrade)
	current, _ := os.ReadFile(filepath.Join(hostBin, "podlock-helper"))
	if bytes.Equal(old, current) {
		t.Fatal("the upgrade did not change the helper's bytes")
	}
	for name, ino := range inodes() {
		if changed := ino != installed[name]; changed != (name == "podlock-helper") {
			t.Errorf("%s: inode changed %v, want it changed only for the helper", name, changed)
		}
	}

	// The container's mounts of the helper now hold an unlinked file.
	runc := &testenv.Runtime{Binary: "runc", Root: e.rt.Root, Log: filepath.Join(work, "runc.log")}
	mounts := runc.Command("exec", id, "/bin/busybox", "cat", "/proc/self/mountinfo").Stdout
	if !strings.Contains(mounts, "podlock-helper//deleted /.podlock/helper ") || !strings.Contains(mounts, "podlock-helper//deleted /bin/sh ") {
		t.Fatalf("the helper's mounts do not show the old helper deleted:\n%s", mounts)
	}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"exec session", []string{"cat", "/etc/hostname", "/etc/passwd"}},
		{"listed binary in an exec session", []string{"/bin/sh", "-c", "cat /etc/hostname /etc/passwd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.rt.Command(append([]string{"exec", id}, tc.args...)...)
			wantLines(t, "stdout", res.Stdout, []string{"podlock-test"})
			wantLines(t, "stderr", res.Stderr, []string{"cat: can't open '/etc/passwd': Permission denied"})
		})
	}
}
