package runtime_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kubewarden/podlock/seccomp/builtin"
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
// annotation podlock.kubewarden.io/seccomp applies to every container,
// except those whose LandlockProfile binds their own.
func TestSeccompAnnotation(t *testing.T) {
	e := newEnv(t)
	e.profile("seccomp", denyMkdir)
	e.profile("bind", bindSeccomp("audit"))
	testenv.LockAudit(t) // the audit profile floods the audit daemon, if a test runs one
	for _, tc := range []struct {
		name, profile string
		wantStderr    []string
	}{
		{"annotation only", "", []string{"mkdir: can't create directory '/tmp/x': Operation not permitted"}},
		{"the LandlockProfile's binding wins", "demo", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testenv.NewBundle(t, "sh", "-c", "mkdir /tmp/x; exit 0").Annotate("default", "app", tc.profile)
			b.Spec.Annotations["podlock.kubewarden.io/seccomp"] = "no-mkdir"
			b.Write(t)
			res := e.rt.Run(b, "seccomp-annotation")
			if res.Err != nil {
				t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
			}
			wantLines(t, "stderr", res.Stderr, tc.wantStderr)
		})
	}
}
