package runtime_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"sigs.k8s.io/yaml"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/builtin"
	"github.com/kubewarden/podlock/seccomp/helpercalls"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// bindSeccomp is a LandlockProfile that only binds a seccomp profile to
// container app.
func bindSeccomp(seccomp string) string {
	return `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  seccompByContainer:
    app: ` + seccomp + "\n"
}

const denyMkdir = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: SeccompProfile
metadata:
  name: no-mkdir
spec:
  defaultAction: SCMP_ACT_ALLOW
  syscalls:
  - names: [mkdir, mkdirat]
    action: SCMP_ACT_ERRNO
`

func TestSeccomp(t *testing.T) {
	for _, tc := range []struct {
		name       string
		manifests  map[string]string
		script     string
		wantStdout []string
		wantStderr []string
		audits     bool // logs every system call
	}{
		{
			name:       "deny mkdir with EPERM",
			manifests:  map[string]string{"bind": bindSeccomp("no-mkdir"), "seccomp": denyMkdir},
			script:     "mkdir /tmp/x; echo x > /tmp/file && cat /tmp/file; rmdir /tmp",
			wantStdout: []string{"x"},
			wantStderr: []string{
				"mkdir: can't create directory '/tmp/x': Operation not permitted",
				"rmdir: '/tmp': Directory not empty",
			},
		},
		{
			name: "errnoRet",
			manifests: map[string]string{"bind": bindSeccomp("no-space"), "seccomp": `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: SeccompProfile
metadata:
  name: no-space
spec:
  defaultAction: SCMP_ACT_ALLOW
  syscalls:
  - names: [mkdir, mkdirat]
    action: SCMP_ACT_ERRNO
    errnoRet: 28
`},
			script:     "mkdir /tmp/x",
			wantStderr: []string{"mkdir: can't create directory '/tmp/x': No space left on device"},
		},
		{
			name:       "children and grandchildren inherit the filter",
			manifests:  map[string]string{"bind": bindSeccomp("no-mkdir"), "seccomp": denyMkdir},
			script:     "sh -c 'sh -c \"mkdir /tmp/deep\"'; grep Seccomp_filters /proc/self/status",
			wantStdout: []string{"Seccomp_filters:\t1"},
			wantStderr: []string{"mkdir: can't create directory '/tmp/deep': Operation not permitted"},
		},
		{
			name:       "audit built-in logs and allows",
			audits:     true,
			manifests:  map[string]string{"bind": bindSeccomp("audit")},
			script:     "mkdir /tmp/x && echo made; grep Seccomp: /proc/self/status",
			wantStdout: []string{"made", "Seccomp:\t2"},
		},
		{
			name: "extends a built-in profile",
			manifests: map[string]string{"bind": bindSeccomp("strict"), "seccomp": `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: SeccompProfile
metadata:
  name: strict
spec:
  baseProfileName: runtime-default
  syscalls:
  - names: [mkdirat, mkdir]
    action: SCMP_ACT_ERRNO
`},
			script:     "mkdir /tmp/x; unshare -U true; echo alive",
			wantStdout: []string{"alive"},
			wantStderr: []string{
				"mkdir: can't create directory '/tmp/x': Operation not permitted",
				"unshare: unshare(0x10000000): Operation not permitted",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.audits {
				// Floods the audit daemon, if a test runs one.
				testenv.LockAudit(t)
			}
			e := newEnv(t)
			for name, m := range tc.manifests {
				e.profile(name, m)
			}
			b := testenv.NewBundle(t, "sh", "-c", tc.script+"; exit 0").Annotate("default", "app", "demo")
			b.Write(t)
			res := e.rt.Run(b, "seccomp")
			if res.Err != nil {
				t.Fatalf("run: %v\nstderr: %s\nlog: %q", res.Err, res.Stderr, e.rt.LogErrors(t))
			}
			wantLines(t, "stdout", res.Stdout, tc.wantStdout)
			wantLines(t, "stderr", res.Stderr, tc.wantStderr)
		})
	}
}

// Profiles of the Kubernetes seccomp tutorial load as they are, from the
// node's seccomp directory.
func TestSeccompTutorialProfiles(t *testing.T) {
	tutorial := filepath.Join(testenv.ModuleRoot(), "seccomp", "oci", "testdata")
	install := func(e *env, name string) {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(tutorial, name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(e.profiles, "seccomp")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("violation.json is refused at create, naming the profile", func(t *testing.T) {
		e := newEnv(t)
		install(e, "violation")
		e.profile("bind", bindSeccomp("violation"))
		b := testenv.NewBundle(t, "sh", "-c", "echo UNCONFINED").Annotate("default", "app", "demo")
		before := b.Write(t)
		res := e.rt.Command("create", "--bundle", b.Dir, "violation")
		if res.Err == nil {
			t.Fatal("create succeeded")
		}
		errs := e.rt.LogErrors(t)
		want := "seccomp profile violation: profile forbids execve"
		if len(errs) == 0 || !strings.Contains(errs[len(errs)-1], want) || !strings.Contains(errs[len(errs)-1], "spec.seccompByContainer[app]") {
			t.Errorf("log errors %q, want %q", errs, want)
		}
		if string(before) != string(b.Config(t)) {
			t.Error("config.json changed")
		}
	})
	t.Run("audit.json runs the container unharmed", func(t *testing.T) {
		testenv.LockAudit(t) // floods the audit daemon, if a test runs one
		e := newEnv(t)
		install(e, "audit")
		e.profile("bind", bindSeccomp("audit-json"))
		if err := os.Rename(filepath.Join(e.profiles, "seccomp", "audit.json"), filepath.Join(e.profiles, "seccomp", "audit-json.json")); err != nil {
			t.Fatal(err)
		}
		b := testenv.NewBundle(t, "sh", "-c", "mkdir /tmp/a && cat /etc/hostname").Annotate("default", "app", "demo")
		b.Write(t)
		res := e.rt.Run(b, "audit")
		if res.Err != nil {
			t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
		}
		wantLines(t, "stdout", res.Stdout, []string{"podlock-test"})
	})
	t.Run("fine-grained allow list for a busybox script", func(t *testing.T) {
		e := newEnv(t)
		e.profile("bind", bindSeccomp("busybox"))
		e.profile("busybox", busyboxAllowList)
		b := testenv.NewBundle(t, "sh", "-c", "echo hello; cat /etc/hostname; mkdir /tmp/x; ls -d /tmp").Annotate("default", "app", "demo")
		b.Write(t)
		res := e.rt.Run(b, "finegrained")
		wantLines(t, "stdout", res.Stdout, []string{"hello", "podlock-test", "/tmp"})
		wantLines(t, "stderr", res.Stderr, []string{"mkdir: can't create directory '/tmp/x': Operation not permitted"})
	})
}

// busyboxAllowList allows what busybox's sh, echo, cat and ls need, in the
// style of the tutorial's fine-grained.json, and nothing else (mkdir in
// particular).
const busyboxAllowList = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: SeccompProfile
metadata:
  name: busybox
spec:
  defaultAction: SCMP_ACT_ERRNO
  architectures: [SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32]
  syscalls:
  - action: SCMP_ACT_ALLOW
    names: [execve, brk, arch_prctl, set_tid_address, set_robust_list, rseq, prlimit64,
      mmap, munmap, mprotect, madvise, getpid, getppid, gettid, getuid, geteuid, getgid, getegid,
      rt_sigaction, rt_sigprocmask, rt_sigreturn, sigaltstack, read, write, writev, open, openat,
      close, fstat, newfstatat, stat, lstat, statx, lseek, ioctl, fcntl, dup, dup2, dup3, pipe,
      pipe2, wait4, fork, vfork, clone, exit, exit_group, uname, getcwd, chdir, readlink,
      readlinkat, access, faccessat, faccessat2, getdents64, poll, ppoll, setpgid, getpgid,
      getpgrp, futex, sched_yield, sched_getaffinity, tgkill, kill, nanosleep, clock_gettime,
      clock_nanosleep, sysinfo, getrandom, umask, time, gettimeofday]
`

// A container that runc already filters (the kubelet's RuntimeDefault in
// linux.seccomp) gets podlock's filter stacked on top: both hold.
func TestSeccompStacksOnRuntimeDefault(t *testing.T) {
	e := newEnv(t)
	e.profile("bind", bindSeccomp("no-mkdir"))
	e.profile("seccomp", denyMkdir)
	b := testenv.NewBundle(t, "sh", "-c", "grep Seccomp_filters /proc/self/status; mkdir /tmp/x; unshare -U true; echo alive").Annotate("default", "app", "demo")
	b.Spec.Linux.Seccomp = runtimeDefaultForRunc(t)
	b.Write(t)
	res := e.rt.Run(b, "stacked")
	if res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{"Seccomp_filters:\t2", "alive"})
	wantLines(t, "stderr", res.Stderr, []string{
		"mkdir: can't create directory '/tmp/x': Operation not permitted",
		"unshare: unshare(0x10000000): Operation not permitted",
	})
}

// runtimeDefaultForRunc is podlock's runtime-default profile as runc's own
// linux.seccomp: the formats are the same JSON.
func runtimeDefaultForRunc(t testing.TB) *specs.LinuxSeccomp {
	t.Helper()
	spec, ok := builtin.Get(builtin.RuntimeDefault)
	if !ok {
		t.Fatal("no runtime-default")
	}
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.LinuxSeccomp
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Architectures) == 0 {
		s.Architectures = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	}
	return &s
}

// Landlock and seccomp in one container, and in its exec sessions.
func TestLandlockAndSeccomp(t *testing.T) {
	e := newEnv(t)
	e.profile("seccomp", denyMkdir)
	e.profile("both", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  containerWide:
    app:
      readExec: [/bin]
      readWrite: [/tmp]
  seccompByContainer:
    app: no-mkdir
`)
	b := testenv.NewBundle(t, "sleep", "300").Annotate("default", "app", "demo")
	b.Write(t)
	const id = "both"
	if res := e.rt.Command("run", "--detach", "--bundle", b.Dir, id); res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	res := e.rt.Command("exec", id, "sh", "-c", "mkdir /tmp/x; echo ok > /tmp/y && cat /tmp/y; cat /etc/hostname; exit 0")
	wantLines(t, "stdout", res.Stdout, []string{"ok"})
	wantLines(t, "stderr", res.Stderr, []string{
		"mkdir: can't create directory '/tmp/x': Operation not permitted",
		"cat: can't open '/etc/hostname': Permission denied",
	})
}

// The namespace-wide seccomp profile that the controller sets as the pod
// annotation podlock.kubewarden.io/seccomp is the administrator's: it
// applies to every container, entrypoint and exec sessions, and the
// profile a LandlockProfile binds to a container stacks on it rather than
// replacing it.
func TestSeccompAnnotation(t *testing.T) {
	e := newEnv(t)
	e.profile("seccomp", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: SeccompProfile
metadata:
  name: no-space
spec:
  defaultAction: SCMP_ACT_ALLOW
  syscalls:
  - names: [mkdir, mkdirat]
    action: SCMP_ACT_ERRNO
    errnoRet: 28
`)
	e.profile("bind", bindSeccomp("audit"))
	e.profile("same", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: same
spec:
  seccompByContainer:
    app: no-space
`)
	e.profile("no-mkdir", denyMkdir)
	e.profile("eperm", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: eperm
spec:
  seccompByContainer:
    app: no-mkdir
`)
	testenv.LockAudit(t) // the audit profile floods the audit daemon, if a test runs one
	const script = "mkdir /tmp/x; grep Seccomp_filters /proc/self/status; exit 0"
	const noSpace = "mkdir: can't create directory '/tmp/x': No space left on device"
	for _, tc := range []struct {
		name, profile string
		filters       string
	}{
		{"annotation only", "", "1"},
		{"a LandlockProfile's seccompByContainer stacks on it", "demo", "2"},
		{"the same profile twice is one filter", "same", "1"},
		// Both filters fail mkdir: the namespace's, loaded last, gives
		// the errno.
		{"the namespace's errno wins", "eperm", "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testenv.NewBundle(t, "sh", "-c", script).Annotate("default", "app", tc.profile)
			b.Spec.Annotations["podlock.kubewarden.io/seccomp"] = "no-space"
			b.Write(t)
			res := e.rt.Run(b, "seccomp-annotation")
			if res.Err != nil {
				t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
			}
			wantLines(t, "stdout", res.Stdout, []string{"Seccomp_filters:\t" + tc.filters})
			wantLines(t, "stderr", res.Stderr, []string{noSpace})
		})
	}
	t.Run("exec sessions", func(t *testing.T) {
		b := testenv.NewBundle(t, "sleep", "300").Annotate("default", "app", "demo")
		b.Spec.Annotations["podlock.kubewarden.io/seccomp"] = "no-space"
		b.Write(t)
		const id = "seccomp-annotation-exec"
		if res := e.rt.Command("run", "--detach", "--bundle", b.Dir, id); res.Err != nil {
			t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
		}
		res := e.rt.Command("exec", id, "sh", "-c", script)
		wantLines(t, "stdout", res.Stdout, []string{"Seccomp_filters:\t2"})
		wantLines(t, "stderr", res.Stderr, []string{noSpace})
	})
}

// The helper starts listed binaries under the container's filter, but its
// own system calls never widen the filter: runtime-default's argument
// condition on clone's flags still refuses a user namespace to every
// process of the container, whether or not the profile lists binaries.
func TestSeccompListedBinariesKeepArgumentRules(t *testing.T) {
	userns := testenv.TestProgram(t, "userns-clone")
	for _, tc := range []struct {
		name, binaries string
	}{
		{"with a listed binary", `
  profilesByContainer:
    app:
      /bin/cat:
        readOnly: [/etc/hostname]`},
		{"without listed binaries", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.profile("demo", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  seccompByContainer:
    app: runtime-default`+tc.binaries+"\n")
			// The listed binary still starts, under the helper, and is
			// confined.
			b := testenv.NewBundle(t, "/bin/busybox", "sh", "-c", "/opt/bin/userns-clone; /bin/cat /etc/hostname; exit 0").Annotate("default", "app", "demo")
			install(t, userns, filepath.Join(b.Dir, "rootfs", "opt", "bin", "userns-clone"))
			b.Write(t)
			res := e.rt.Run(b, "userns")
			if res.Err != nil {
				t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
			}
			wantLines(t, "stdout", res.Stdout, []string{"EPERM", "podlock-test"})
			wantLines(t, "stderr", res.Stderr, nil)
		})
	}
}

// A filter under which the helper could not start the listed binaries is
// refused at create, naming the calls, rather than failing each binary
// later: podlock adds no allows for the helper.
func TestSeccompRefusesFiltersThatStopTheHelper(t *testing.T) {
	const listsCat = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  profilesByContainer:
    app:
      /bin/cat:
        readOnly: [/etc/hostname]
`
	for _, tc := range []struct {
		name      string
		manifests map[string]string
		// annotation is the namespace's SeccompProfile, if any.
		annotation string
		want       string
	}{
		{
			name: "the LandlockProfile's profile denies mmap",
			manifests: map[string]string{"demo": listsCat + "  seccompByContainer:\n    app: no-mmap\n", "seccomp": `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: SeccompProfile
metadata:
  name: no-mmap
spec:
  baseProfileName: runtime-default
  syscalls:
  - names: [mmap]
    action: SCMP_ACT_ERRNO
`},
			want: `spec.seccompByContainer[app]: seccomp profile no-mmap refuses system calls that podlock-helper makes to start the container's listed binaries: mmap with args[2]=0x0, mmap with args[2]=0x3; allow them in the SeccompProfile (profiles/README.md lists them under SeccompProfile), or list no binaries for the container`,
		},
		{
			name: "the namespace's profile denies Landlock",
			manifests: map[string]string{"demo": listsCat, "seccomp": `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: SeccompProfile
metadata:
  name: no-landlock
spec:
  defaultAction: SCMP_ACT_ALLOW
  syscalls:
  - names: [landlock_create_ruleset, landlock_add_rule, landlock_restrict_self]
    action: SCMP_ACT_KILL_PROCESS
`},
			annotation: "no-landlock",
			want:       `annotation podlock.kubewarden.io/seccomp: seccomp profile no-landlock refuses system calls that podlock-helper makes to start the container's listed binaries: landlock_add_rule, landlock_create_ruleset, landlock_restrict_self;`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			for name, m := range tc.manifests {
				e.profile(name, m)
			}
			b := testenv.NewBundle(t, "sh", "-c", "echo UNCONFINED").Annotate("default", "app", "demo")
			if tc.annotation != "" {
				b.Spec.Annotations["podlock.kubewarden.io/seccomp"] = tc.annotation
			}
			before := b.Write(t)
			res := e.rt.Command("create", "--bundle", b.Dir, "helper-refused")
			if res.Err == nil {
				t.Fatal("create succeeded")
			}
			errs := e.rt.LogErrors(t)
			if len(errs) == 0 || !strings.Contains(errs[len(errs)-1], tc.want) {
				t.Errorf("log errors %q, want %q", errs, tc.want)
			}
			if string(before) != string(b.Config(t)) {
				t.Error("config.json changed")
			}
		})
	}
}

// The system calls the helper is known to make are all it makes: under a
// filter that allows those (seccomp/helpercalls, with their arguments) and
// kills on anything else, a listed binary starts, again and again. The
// binary is a Go program built like the helper, so its own start needs no
// more; it adds getppid.
func TestSeccompHelperCallsAreComplete(t *testing.T) {
	e := newEnv(t)
	rules := append(helpercalls.Rules(), v1alpha1.SyscallRule{Names: []string{"getppid"}, Action: v1alpha1.ActionAllow})
	manifest, err := yaml.Marshal(v1alpha1.SeccompProfile{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindSeccompProfile},
		Metadata: v1alpha1.ObjectMeta{Name: "helper-only"},
		Spec:     v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionKillProcess, Syscalls: rules},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.profile("seccomp", string(manifest))
	e.profile("demo", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  profilesByContainer:
    app:
      /opt/bin/syscall-loop:
        readOnly: [/etc/hostname]
  seccompByContainer:
    app: helper-only
`)
	loop := testenv.TestProgram(t, "syscall-loop")
	for i := range 10 {
		b := testenv.NewBundle(t, "/opt/bin/syscall-loop", "1").Annotate("default", "app", "demo")
		install(t, loop, filepath.Join(b.Dir, "rootfs", "opt", "bin", "syscall-loop"))
		b.Write(t)
		res := e.rt.Run(b, "helper-calls")
		if res.Err != nil || len(testenv.Lines(res.Stdout)) != 1 {
			t.Fatalf("run %d: %v, stdout %q, stderr %q, log %q: the helper (or the Go runtime's start) made a system call that seccomp/helpercalls does not list; find it with strace -f",
				i, res.Err, res.Stdout, res.Stderr, e.rt.LogErrors(t))
		}
	}
}
