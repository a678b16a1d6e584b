package runtime_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// The annotation podlock-controller sets on every pod of a namespace
// labelled podlock.kubewarden.io/landlock-profile.
const namespaceProfileKey = "podlock.kubewarden.io/namespace-profile"

// baseProfile is a namespace's LandlockProfile: every container it does not
// name runs with /bin executable, /tmp writable and two files of /etc
// readable; container listed has per-binary rules instead.
const baseProfile = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: base
spec:
  containerWide:
    "*":
      readExec: [/bin]
      readWrite: [/tmp]
      readOnly: [/etc/hostname, /etc/passwd]
  profilesByContainer:
    listed:
      /bin/cat:
        readOnly: [/etc/hostname]
`

// looseProfile is a pod's LandlockProfile that allows everything to
// container app, as a whole.
const looseProfile = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: loose
spec:
  containerWide:
    app:
      readWriteExec: [/]
`

// nsBundle is a container of namespace default named container, bound to
// the namespace's LandlockProfile nsProfile and, when profile is not
// empty, to the pod's own.
func nsBundle(t *testing.T, container, nsProfile, profile string, args ...string) *testenv.Bundle {
	t.Helper()
	b := testenv.NewBundle(t, args...).Annotate("default", container, profile)
	b.Spec.Annotations[namespaceProfileKey] = nsProfile
	b.Write(t)
	return b
}

// The namespace's LandlockProfile confines a container of a pod that has
// no profile of its own: its entrypoint, what that starts, and exec
// sessions, with the "*" rules for a container the profile does not name.
func TestNamespaceProfile(t *testing.T) {
	e := newEnv(t)
	e.profile("base", baseProfile)
	const script = `
cat /etc/hostname
head -1 /etc/passwd
cat /etc/group
/opt/bin/id
echo x > /tmp/ok && echo wrote /tmp/ok
echo x > /root/nope
exit 0
`
	res := e.rt.Run(nsBundle(t, "app", "base", "", "sh", "-c", script), "ns-alone")
	if res.Err != nil {
		t.Fatalf("run: %v\nstderr: %s\nlog: %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{"podlock-test", "root:x:0:0:root:/root:/bin/sh", "wrote /tmp/ok"})
	wantLines(t, "stderr", res.Stderr, []string{
		"cat: can't open '/etc/group': Permission denied",
		"sh: /opt/bin/id: Permission denied",
		"sh: can't create /root/nope: Permission denied",
	})

	t.Run("exec sessions", func(t *testing.T) {
		b := nsBundle(t, "app", "base", "", "sleep", "300")
		const id = "ns-alone-exec"
		if res := e.rt.Command("run", "--detach", "--bundle", b.Dir, id); res.Err != nil {
			t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
		}
		t.Cleanup(func() { e.rt.Command("delete", "--force", id) })
		res := e.rt.Command("exec", id, "sh", "-c", "cat /etc/hostname; cat /etc/group")
		wantLines(t, "stdout", res.Stdout, []string{"podlock-test"})
		wantLines(t, "stderr", res.Stderr, []string{"cat: can't open '/etc/group': Permission denied"})
	})

	// Without a "*" entry, the namespace's profile confines only the
	// containers it names: the others are handed to runc untouched.
	t.Run("a container the profile does not name", func(t *testing.T) {
		e.profile("named", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: named
spec:
  containerWide:
    web:
      readOnly: [/etc]
`)
		b := nsBundle(t, "app", "named", "", "sh", "-c", "cat /etc/group | head -1; exit 0")
		before := b.Config(t)
		res := e.rt.Run(b, "ns-unnamed")
		if res.Err != nil {
			t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
		}
		wantLines(t, "stdout", res.Stdout, []string{"root:x:0:"})
		if !bytes.Equal(before, b.Config(t)) {
			t.Errorf("config.json changed for a container no profile names")
		}
	})
}

// A pod's own LandlockProfile stacks on its namespace's: a looser one lifts
// none of the namespace's denials, in the entrypoint and in exec sessions,
// and a stricter one narrows further.
func TestNamespaceProfileStacksWithThePods(t *testing.T) {
	e := newEnv(t)
	e.profile("base", baseProfile)
	e.profile("loose", looseProfile)
	e.profile("strict", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: strict
spec:
  containerWide:
    app:
      readExec: [/bin]
      readOnly: [/etc/hostname]
`)
	const script = "cat /etc/hostname; head -1 /etc/passwd; cat /etc/group; echo x > /tmp/x && echo wrote; exit 0"
	for _, tc := range []struct {
		name           string
		profile        string
		stdout, stderr []string
	}{
		{"a looser profile lifts nothing", "loose",
			[]string{"podlock-test", "root:x:0:0:root:/root:/bin/sh", "wrote"},
			[]string{"cat: can't open '/etc/group': Permission denied"}},
		{"a stricter profile narrows", "strict",
			[]string{"podlock-test"},
			[]string{"head: /etc/passwd: Permission denied", "cat: can't open '/etc/group': Permission denied", "sh: can't create /tmp/x: Permission denied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.rt.Run(nsBundle(t, "app", "base", tc.profile, "sh", "-c", script), "ns-stack")
			if res.Err != nil {
				t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
			}
			wantLines(t, "stdout", res.Stdout, tc.stdout)
			wantLines(t, "stderr", res.Stderr, tc.stderr)
		})
	}
	t.Run("exec sessions under a looser profile", func(t *testing.T) {
		b := nsBundle(t, "app", "base", "loose", "sleep", "300")
		const id = "ns-stack-exec"
		if res := e.rt.Command("run", "--detach", "--bundle", b.Dir, id); res.Err != nil {
			t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
		}
		t.Cleanup(func() { e.rt.Command("delete", "--force", id) })
		res := e.rt.Command("exec", id, "sh", "-c", "cat /etc/group; grep -c . /proc/self/status")
		wantLines(t, "stdout", res.Stdout, nil)
		wantLines(t, "stderr", res.Stderr, []string{
			"cat: can't open '/etc/group': Permission denied",
			"grep: /proc/self/status: Permission denied",
		})
	})
}

// Per-binary rules and container-wide rules of the two profiles stack too:
// the pod's rules for a binary hold under the namespace's container-wide
// rules, and the namespace's rules for a binary under the pod's
// container-wide ones.
func TestNamespaceProfilePerBinary(t *testing.T) {
	e := newEnv(t)
	e.profile("base", baseProfile)
	e.profile("cat", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: cat
spec:
  profilesByContainer:
    app:
      /bin/cat:
        readOnly: [/etc/hostname]
`)
	e.profile("wide", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: wide
spec:
  containerWide:
    listed:
      readExec: [/bin]
      readOnly: [/etc]
`)
	// busybox's sh runs "head" as an applet, without execve: only
	// /bin/cat, started by its path, gets its own rules.
	const script = "/bin/cat /etc/hostname; /bin/cat /etc/passwd; head -1 /etc/passwd; head -1 /etc/group; exit 0"
	for _, tc := range []struct {
		name, container, profile string
		stdout, stderr           []string
	}{
		// The namespace's "*" rules let app read /etc/passwd, the pod's
		// rules for /bin/cat do not; /etc/group is the namespace's denial.
		{"the pod's binary under the namespace's container-wide rules", "app", "cat",
			[]string{"podlock-test", "root:x:0:0:root:/root:/bin/sh"},
			[]string{"cat: can't open '/etc/passwd': Permission denied", "head: /etc/group: Permission denied"}},
		// The pod's container-wide rules let listed read /etc, the
		// namespace's rules for /bin/cat do not.
		{"the namespace's binary under the pod's container-wide rules", "listed", "wide",
			[]string{"podlock-test", "root:x:0:0:root:/root:/bin/sh", "root:x:0:"},
			[]string{"cat: can't open '/etc/passwd': Permission denied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.rt.Run(nsBundle(t, tc.container, "base", tc.profile, "sh", "-c", script), "ns-binaries")
			if res.Err != nil {
				t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
			}
			wantLines(t, "stdout", res.Stdout, tc.stdout)
			wantLines(t, "stderr", res.Stderr, tc.stderr)
		})
	}
}

// A binary that the pod's profile lists is kept under /.podlock/orig for
// the helper to run; that must not make it executable where the
// namespace's rules deny executing it. /opt/bin/id is a regular file: the
// namespace's "*" rules let only /bin execute.
func TestNamespaceProfileOriginals(t *testing.T) {
	e := newEnv(t)
	e.profile("base", baseProfile)
	e.profile("base-opt", strings.Replace(strings.Replace(baseProfile, "name: base", "name: base-opt", 1), "readExec: [/bin]", "readExec: [/bin, /opt/bin]", 1))
	e.profile("id", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: id
spec:
  profilesByContainer:
    app:
      /opt/bin/id:
        readOnly: [/etc/passwd, /etc/group]
`)
	const script = "/opt/bin/id -un; /.podlock/orig/0 -un; ls /.podlock; exit 0"
	for _, tc := range []struct {
		name, nsProfile string
		stdout, stderr  []string
	}{
		{"denied by the namespace", "base", nil, []string{
			"podlock-helper: executing /.podlock/orig/0: permission denied",
			"sh: /.podlock/orig/0: Permission denied",
			"ls: can't open '/.podlock': Permission denied",
		}},
		// Executed as /.podlock/orig/0, busybox looks for an applet "0":
		// the kernel let it run.
		{"allowed by the namespace, under the pod's rules", "base-opt", []string{"root"}, []string{
			"0: applet not found",
			"ls: can't open '/.podlock': Permission denied",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.rt.Run(nsBundle(t, "app", tc.nsProfile, "id", "sh", "-c", script), "ns-originals")
			if res.Err != nil {
				t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
			}
			wantLines(t, "stdout", res.Stdout, tc.stdout)
			wantLines(t, "stderr", res.Stderr, tc.stderr)
		})
	}
}

// The SeccompProfiles of the pod's LandlockProfile, of the namespace's
// LandlockProfile and of the namespace's own label all stack: each holds,
// and the namespace's are loaded last.
func TestNamespaceProfileSeccomp(t *testing.T) {
	e := newEnv(t)
	deny := func(name, calls string, errno int) string {
		return fmt.Sprintf(`
apiVersion: podlock.kubewarden.io/v1alpha1
kind: SeccompProfile
metadata:
  name: %s
spec:
  defaultAction: SCMP_ACT_ALLOW
  syscalls:
  - names: [%s]
    action: SCMP_ACT_ERRNO
    errnoRet: %d
`, name, calls, errno)
	}
	e.profile("no-mkdir", deny("no-mkdir", "mkdirat, mkdir", 28))         // ENOSPC
	e.profile("no-rmdir", deny("no-rmdir", "rmdir, unlinkat", 30))        // EROFS
	e.profile("no-symlink", deny("no-symlink", "symlinkat, symlink", 13)) // EACCES
	e.profile("base", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: base
spec:
  seccompByContainer:
    app: no-rmdir
`)
	e.profile("pod", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: pod
spec:
  seccompByContainer:
    app: no-mkdir
`)
	b := testenv.NewBundle(t, "sh", "-c", "mkdir /tmp/d; rmdir /tmp; ln -s x /tmp/l; grep Seccomp_filters /proc/self/status; exit 0").Annotate("default", "app", "pod")
	b.Spec.Annotations[namespaceProfileKey] = "base"
	b.Spec.Annotations["podlock.kubewarden.io/seccomp"] = "no-symlink"
	b.Write(t)
	res := e.rt.Run(b, "ns-seccomp")
	if res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{"Seccomp_filters:\t3"})
	wantLines(t, "stderr", res.Stderr, []string{
		"mkdir: can't create directory '/tmp/d': No space left on device",
		"rmdir: '/tmp': Read-only file system",
		"ln: /tmp/l: Permission denied",
	})
}

// What the namespace binds cannot be lifted by recording: a pod profile in
// mode Record, which runs containers unconfined, is refused under a
// namespace's LandlockProfile, and so is a namespace's profile in mode
// Record; a missing namespace profile stops create. Nothing runs, and
// config.json stays as it was.
func TestNamespaceProfileRefusals(t *testing.T) {
	e := newEnv(t)
	e.profile("base", baseProfile)
	e.profile("learn", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: learn
spec:
  mode: Record
`)
	for _, tc := range []struct {
		name, nsProfile, profile, want string
	}{
		{"pod profile in mode Record", "base", "learn",
			`container "app" of pod default/test-pod: LandlockProfile learn is in mode Record, which would run the container without LandlockProfile base that its namespace binds to every pod (annotation podlock.kubewarden.io/namespace-profile); the container is not started: record in a namespace without the label podlock.kubewarden.io/landlock-profile`},
		{"namespace profile in mode Record", "learn", "",
			`container "app" of pod default/test-pod: LandlockProfile learn, which its namespace binds to every pod (annotation podlock.kubewarden.io/namespace-profile), is in mode Record, which would run every container of the namespace unconfined; the container is not started`},
		{"namespace profile missing", "gone", "",
			`container "app" of pod default/test-pod is bound by its namespace (annotation podlock.kubewarden.io/namespace-profile) to LandlockProfile "gone", which does not exist in namespace default; create the profile or remove the namespace's podlock.kubewarden.io/landlock-profile label, then recreate the pod`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := nsBundle(t, "app", tc.nsProfile, tc.profile, "sh", "-c", "echo UNCONFINED")
			before := b.Config(t)
			res := e.rt.Run(b, "ns-refused")
			if res.Err == nil || strings.Contains(res.Stdout, "UNCONFINED") {
				t.Fatalf("the container ran: %v %q", res.Err, res.Stdout)
			}
			if errs := e.rt.LogErrors(t); len(errs) == 0 || !strings.HasPrefix(errs[len(errs)-1], tc.want) {
				t.Errorf("log errors %q, want the last to start with %q", errs, tc.want)
			}
			if !bytes.Equal(before, b.Config(t)) {
				t.Errorf("config.json changed")
			}
		})
	}
}
