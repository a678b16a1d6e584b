package runtime_test

import (
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// Per-binary semantics beyond the quickstart: a listed regular file keeps
// working through its preserved original, only the listed name of a
// multi-call binary is restricted, a listed binary started by a restricted
// one narrows further, and unlisted binaries run free.
func TestListedBinaries(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  profilesByContainer:
    app:
      /opt/bin/id:
        readOnly: [/etc/passwd, /etc/group]
      /bin/head:
        readOnly: [/etc/hostname]
      /bin/sh:
        readExec: [/bin, /opt/bin]
        readOnly: [/etc]
`)
	const script = `
/opt/bin/id -un
/bin/head -1 /etc/hostname
/bin/head -1 /etc/motd
/bin/tail -1 /etc/motd
/opt/bin/id > /tmp/out
exit 0
`
	// runc finds the entrypoint "sh" by PATH: /bin/sh, a listed name.
	b := testenv.NewBundle(t, "sh", "-c", script).Annotate("default", "app", "demo")
	b.Write(t)
	res := e.rt.Run(b, "binaries")
	if res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{
		"root",
		"podlock-test",
		"welcome to podlock",
	})
	wantLines(t, "stderr", res.Stderr, []string{
		"head: /etc/motd: Permission denied",
		"sh: can't create /tmp/out: Permission denied",
	})

	// Started as /bin/busybox rather than /bin/sh, the same shell is
	// unlisted and free: the listed name is restricted, not every name of
	// the multi-call binary. /bin/head's rules still apply when it is
	// started by that name.
	b2 := testenv.NewBundle(t, "/bin/busybox", "sh", "-c", "echo x > /tmp/free && cat /tmp/free; head -1 /etc/motd; /bin/head -1 /etc/motd; exit 0").Annotate("default", "app", "demo")
	b2.Write(t)
	res = e.rt.Run(b2, "unlisted-entrypoint")
	if res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{"x", "welcome to podlock"})
	wantLines(t, "stderr", res.Stderr, []string{"head: /etc/motd: Permission denied"})
}

// A dynamically linked binary is restricted without listing its ELF
// interpreter and libraries.
func TestDynamicBinary(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  profilesByContainer:
    app:
      /usr/bin/ls-host:
        readOnly: [/etc]
`)
	b := testenv.NewBundle(t, "sh", "-c", "/usr/bin/ls-host /etc/hostname; /usr/bin/ls-host /tmp; exit 0").Annotate("default", "app", "demo")
	copyDynamic(t, "/bin/ls", filepath.Join(b.Dir, "rootfs"), "/usr/bin/ls-host")
	b.Write(t)
	res := e.rt.Run(b, "dynamic")
	if res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{"/etc/hostname"})
	wantLines(t, "stderr", res.Stderr, []string{"/usr/bin/ls-host: cannot open directory '/tmp': Permission denied"})
}

// copyDynamic copies a host binary into rootfs as name, with its ELF
// interpreter and the shared libraries it needs at their host paths.
func copyDynamic(t *testing.T, binary, rootfs, name string) {
	t.Helper()
	copyInto := func(from, to string) {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(rootfs, to)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyInto(binary, name)
	copied := map[string]bool{}
	var walk func(file string)
	walk = func(file string) {
		f, err := elf.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				data, _ := io.ReadAll(p.Open())
				interp := strings.TrimRight(string(data), "\x00")
				real, err := filepath.EvalSymlinks(interp)
				if err != nil {
					t.Fatal(err)
				}
				copyInto(real, interp)
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			t.Fatal(err)
		}
		for _, lib := range libs {
			for _, dir := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"} {
				path := filepath.Join(dir, lib)
				real, err := filepath.EvalSymlinks(path)
				if err != nil || copied[path] {
					continue
				}
				copied[path] = true
				copyInto(real, path)
				walk(real)
				break
			}
		}
	}
	walk(binary)
}
