package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// A confined process that may write /tmp replaces /tmp/x, which the rules
// let every process of the container read and execute, by a symlink to /,
// and /tmp/d, the directory of two files the rules let it read, too.
// Rule paths are opened at every start of the helper: the next exec
// session must not get the rule on /, nor on the files beneath it that
// the two rules name through /tmp/d (the helper walks /tmp/d once for
// both): it leaves the three paths out and says so.
func TestRulePathReplacedBySymlink(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  containerWide:
    app:
      readExec: [/bin, /tmp/x]
      readWrite: [/tmp]
      readOnly: [/tmp/d/etc/passwd, /tmp/d/etc/group]
`)
	const script = `
rmdir /tmp/x && ln -s / /tmp/x && rm -r /tmp/d && ln -s / /tmp/d && touch /tmp/ready
sleep 300
`
	b := testenv.NewBundle(t, "sh", "-c", script).Annotate("default", "app", "demo")
	mkdir(t, b, "tmp/x")
	mkdir(t, b, "tmp/d/etc")
	b.Write(t)
	const id = "rulepath"
	if res := e.rt.Command("run", "--detach", "--bundle", b.Dir, id); res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	waitForFile(t, e.rt, id, "/tmp/ready")
	res := e.rt.Command("exec", id, "sh", "-c", "readlink /tmp/x; cat /etc/passwd; cat /tmp/x/etc/passwd; cat /tmp/d/etc/passwd; cat /tmp/d/etc/group; exit 0")
	if strings.Contains(res.Stdout, "root:x:0") {
		t.Fatalf("the exec session read /etc/passwd or /etc/group through the replaced /tmp/x or /tmp/d")
	}
	wantLines(t, "stdout", res.Stdout, []string{"/"})
	wantLines(t, "stderr", res.Stderr, []string{
		"podlock-helper: rule path /tmp/d/etc/passwd left out: it goes through a symlink that leads out of its directory",
		"podlock-helper: rule path /tmp/d/etc/group left out: it goes through a symlink that leads out of its directory",
		"podlock-helper: rule path /tmp/x left out: it goes through a symlink that leads out of its directory",
		"cat: can't open '/etc/passwd': Permission denied",
		"cat: can't open '/tmp/x/etc/passwd': Permission denied",
		"cat: can't open '/tmp/d/etc/passwd': Permission denied",
		"cat: can't open '/tmp/d/etc/group': Permission denied",
	})
}

// Kubernetes builds configMap, secret and projected volumes out of
// symlinks that stay inside the volume (key -> ..data/key, ..data ->
// ..<timestamp>): a rule on one key of such a volume still grants it.
func TestRulePathInConfigMapVolume(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  containerWide:
    app:
      readExec: [/bin]
      readOnly: [/etc/config/key]
`)
	volume := t.TempDir()
	if err := os.Chmod(volume, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(volume, "..2026_01_01"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(volume, "..2026_01_01", "key"), []byte("value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"..data": "..2026_01_01", "key": "..data/key"} {
		if err := os.Symlink(target, filepath.Join(volume, link)); err != nil {
			t.Fatal(err)
		}
	}
	b := testenv.NewBundle(t, "sh", "-c", "cat /etc/config/key; cat /etc/passwd; exit 0").Annotate("default", "app", "demo")
	addMount(b, "/etc/config", volume)
	b.Write(t)
	res := e.rt.Run(b, "configmap")
	if res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{"value"})
	wantLines(t, "stderr", res.Stderr, []string{"cat: can't open '/etc/passwd': Permission denied"})
}
