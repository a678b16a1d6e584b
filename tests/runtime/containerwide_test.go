package runtime_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// A container confined as a whole: its entrypoint, every process that
// starts, and processes started later with exec (kubectl exec) are bound
// by the same rules, on top of the per-binary rules of /bin/cat.
const wideProfile = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: wide
spec:
  containerWide:
    app:
      readExec: [/bin]
      readWrite: [/tmp]
      readOnly: [/etc/hostname, /etc/passwd]
  profilesByContainer:
    app:
      /bin/cat:
        readOnly: [/etc/hostname]
`

func TestContainerWide(t *testing.T) {
	e := newEnv(t)
	e.profile("wide", wideProfile)
	const script = `
cat /etc/hostname
/bin/cat /etc/hostname
head -1 /etc/passwd
/bin/cat /etc/passwd
/opt/bin/id
echo x > /tmp/ok && echo wrote /tmp/ok
echo x > /root/nope
exit 0
`
	b := testenv.NewBundle(t, "sh", "-c", script).Annotate("default", "app", "wide")
	b.Write(t)
	res := e.rt.Run(b, "wide")
	if res.Err != nil {
		t.Fatalf("run: %v\nstderr: %s\nlog: %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{
		"podlock-test",
		"podlock-test",
		"root:x:0:0:root:/root:/bin/sh",
		"wrote /tmp/ok",
	})
	wantLines(t, "stderr", res.Stderr, []string{
		"cat: can't open '/etc/passwd': Permission denied",
		"sh: /opt/bin/id: Permission denied",
		"sh: can't create /root/nope: Permission denied",
	})
}

// runc exec, which is how containerd runs kubectl exec, starts the process
// confined too: through config.json-less --process files and through
// command-line arguments alike.
func TestContainerWideExec(t *testing.T) {
	e := newEnv(t)
	e.profile("wide", wideProfile)
	b := testenv.NewBundle(t, "sleep", "300").Annotate("default", "app", "wide")
	b.Write(t)
	const id = "wide-exec"
	if res := e.rt.Command("run", "--detach", "--bundle", b.Dir, id); res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	t.Run("command line", func(t *testing.T) {
		res := e.rt.Command("exec", id, "sh", "-c", "cat /etc/hostname; cat /etc/group; /opt/bin/id; grep NoNewPrivs /proc/self/status")
		wantLines(t, "stdout", res.Stdout, []string{"podlock-test"})
		wantLines(t, "stderr", res.Stderr, []string{
			"cat: can't open '/etc/group': Permission denied",
			"sh: /opt/bin/id: Permission denied",
			"grep: /proc/self/status: Permission denied",
		})
	})
	t.Run("process file", func(t *testing.T) {
		proc := writeProcess(t, `{"args":["sh","-c","cat /etc/hostname; cat /etc/group"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0}}`)
		res := e.rt.Command("exec", "--process", proc, id)
		wantLines(t, "stdout", res.Stdout, []string{"podlock-test"})
		wantLines(t, "stderr", res.Stderr, []string{"cat: can't open '/etc/group': Permission denied"})
	})
}

func writeProcess(t *testing.T, process string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(file, []byte(process), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}
