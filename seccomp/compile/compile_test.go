//go:build cgo && linux

package compile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp"
	"github.com/kubewarden/podlock/seccomp/bpfsim"
	"github.com/kubewarden/podlock/seccomp/builtin"
	"github.com/kubewarden/podlock/seccomp/oci"
	"github.com/kubewarden/podlock/seccomp/profile"
)

func uintp(v uint) *uint { return &v }

// Return values of a filter.
const (
	retAllow       = unix.SECCOMP_RET_ALLOW
	retLog         = unix.SECCOMP_RET_LOG
	retKillProcess = unix.SECCOMP_RET_KILL_PROCESS
	retKillThread  = unix.SECCOMP_RET_KILL_THREAD
	retTrap        = unix.SECCOMP_RET_TRAP
)

func retErrno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

// call is a system call as one architecture makes it.
type call struct {
	arch string // "x86_64" (or the native one when empty), "x86", "x32", "aarch64"
	name string
	args [6]uint64
}

// simulate runs the filter on c. The system call numbers come from
// libseccomp, which the filter was generated with.
func simulate(t *testing.T, p seccomp.Program, c call) uint32 {
	t.Helper()
	arch := c.arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	a, err := libseccomp.GetArchFromString(arch)
	if err != nil {
		t.Fatal(err)
	}
	var audit uint32
	switch a {
	case libseccomp.ArchAMD64, libseccomp.ArchX32:
		audit = bpfsim.AuditArchX86_64
	case libseccomp.ArchX86:
		audit = bpfsim.AuditArchI386
	case libseccomp.ArchARM64:
		audit = bpfsim.AuditArchAArch64
	default:
		t.Fatalf("no audit architecture for %s in this test", arch)
	}
	nr, err := libseccomp.GetSyscallFromNameByArch(c.name, a)
	if err != nil || nr < 0 {
		nativeArch, _ := libseccomp.GetNativeArch()
		if fallback, ok := newSyscalls[c.name]; ok && (a == nativeArch || a == libseccomp.ArchX86) {
			nr = libseccomp.ScmpSyscall(fallback) // same number on x86 and x86_64
		} else {
			t.Fatalf("system call %s does not exist on %s", c.name, arch)
		}
	}
	ret, err := bpfsim.Run(p.Filter, bpfsim.Call{Nr: int32(nr), Arch: audit, Args: c.args})
	if err != nil {
		t.Fatal(err)
	}
	return ret
}

type expect struct {
	call
	ret uint32
}

func on(arch, name string, ret uint32, args ...uint64) expect {
	e := expect{call: call{arch: arch, name: name}, ret: ret}
	copy(e.args[:], args)
	return e
}

func native(name string, ret uint32, args ...uint64) expect { return on("", name, ret, args...) }

var execveAllowed = v1alpha1.SyscallRule{Names: []string{"execve"}, Action: v1alpha1.ActionAllow}

func rulesAllowing(rules ...v1alpha1.SyscallRule) *v1alpha1.SeccompProfileSpec {
	return &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow, Syscalls: rules}
}

func condRule(name string, action v1alpha1.Action, errno *uint, args ...v1alpha1.ArgCondition) v1alpha1.SyscallRule {
	return v1alpha1.SyscallRule{Names: []string{name}, Action: action, ErrnoRet: errno, Args: args}
}

func TestCompileSemantics(t *testing.T) {
	deny42 := func(args ...v1alpha1.ArgCondition) *v1alpha1.SeccompProfileSpec {
		return rulesAllowing(condRule("read", v1alpha1.ActionErrno, uintp(42), args...))
	}
	arg := func(i uint, op v1alpha1.Operator, v, v2 uint64) v1alpha1.ArgCondition {
		return v1alpha1.ArgCondition{Index: i, Op: op, Value: v, ValueTwo: v2}
	}
	e42 := retErrno(42)
	tests := []struct {
		name   string
		spec   *v1alpha1.SeccompProfileSpec
		expect []expect
	}{
		{"defaults: SCMP_ACT_ERRNO with EPERM", &v1alpha1.SeccompProfileSpec{Syscalls: []v1alpha1.SyscallRule{execveAllowed}},
			[]expect{native("read", retErrno(unix.EPERM)), native("execve", retAllow)}},
		{"defaultErrnoRet", &v1alpha1.SeccompProfileSpec{DefaultErrnoRet: uintp(38), Syscalls: []v1alpha1.SyscallRule{execveAllowed}},
			[]expect{native("read", retErrno(unix.ENOSYS))}},
		{"errnoRet per rule", rulesAllowing(
			condRule("mkdirat", v1alpha1.ActionErrno, nil),
			condRule("mknodat", v1alpha1.ActionErrno, uintp(42)),
		), []expect{native("mkdirat", retErrno(unix.EPERM)), native("mknodat", e42), native("read", retAllow)}},
		{"actions", &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionLog, Syscalls: []v1alpha1.SyscallRule{
			condRule("read", v1alpha1.ActionKillProcess, nil),
			condRule("write", v1alpha1.ActionKillThread, nil),
			condRule("close", v1alpha1.ActionKill, nil),
			condRule("mkdirat", v1alpha1.ActionTrap, nil),
			condRule("rmdir", v1alpha1.ActionTrace, uintp(7)),
			condRule("getpid", v1alpha1.ActionAllow, nil),
		}}, []expect{
			native("read", retKillProcess), native("write", retKillThread), native("close", retKillThread),
			native("mkdirat", retTrap), native("rmdir", unix.SECCOMP_RET_TRACE|7), native("getpid", retAllow), native("execve", retLog),
		}},

		{"SCMP_CMP_EQ, 64 bits", deny42(arg(0, v1alpha1.OpEqualTo, 1<<32|5, 0)),
			[]expect{native("read", e42, 1<<32|5), native("read", retAllow, 5), native("read", retAllow, 1<<32)}},
		{"SCMP_CMP_NE", deny42(arg(0, v1alpha1.OpNotEqual, 5, 0)),
			[]expect{native("read", retAllow, 5), native("read", e42, 6), native("read", e42, 1<<32|5)}},
		{"SCMP_CMP_LT", deny42(arg(1, v1alpha1.OpLessThan, 10, 0)),
			[]expect{native("read", e42, 0, 9), native("read", retAllow, 0, 10), native("read", retAllow, 0, 1<<40)}},
		{"SCMP_CMP_LE", deny42(arg(2, v1alpha1.OpLessEqual, 10, 0)),
			[]expect{native("read", e42, 0, 0, 10), native("read", retAllow, 0, 0, 11)}},
		{"SCMP_CMP_GT", deny42(arg(3, v1alpha1.OpGreaterThan, 10, 0)),
			[]expect{native("read", retAllow, 0, 0, 0, 10), native("read", e42, 0, 0, 0, 11), native("read", e42, 0, 0, 0, 1<<33)}},
		{"SCMP_CMP_GE", deny42(arg(4, v1alpha1.OpGreaterEqual, 10, 0)),
			[]expect{native("read", retAllow, 0, 0, 0, 0, 9), native("read", e42, 0, 0, 0, 0, 10)}},
		{"SCMP_CMP_MASKED_EQ: (arg & value) == valueTwo", deny42(arg(5, v1alpha1.OpMaskedEqual, 0xf0, 0x30)),
			[]expect{native("read", e42, 0, 0, 0, 0, 0, 0x3f), native("read", retAllow, 0, 0, 0, 0, 0, 0x4f), native("read", retAllow, 0, 0, 0, 0, 0, 0x03)}},
		{"conditions on distinct arguments: all must match", deny42(arg(0, v1alpha1.OpEqualTo, 1, 0), arg(2, v1alpha1.OpEqualTo, 3, 0)),
			[]expect{native("read", e42, 1, 0, 3), native("read", retAllow, 1, 0, 4), native("read", retAllow, 2, 0, 3)}},
		{"conditions on one argument: any may match", deny42(arg(0, v1alpha1.OpEqualTo, 1, 0), arg(0, v1alpha1.OpEqualTo, 2, 0)),
			[]expect{native("read", e42, 1), native("read", e42, 2), native("read", retAllow, 3)}},
		{"several rules for one system call", rulesAllowing(
			condRule("read", v1alpha1.ActionErrno, uintp(42), arg(0, v1alpha1.OpEqualTo, 1, 0)),
			condRule("read", v1alpha1.ActionErrno, uintp(43), arg(0, v1alpha1.OpEqualTo, 2, 0)),
		), []expect{native("read", e42, 1), native("read", retErrno(43), 2), native("read", retAllow, 3)}},
		{"a later rule overrides", rulesAllowing(
			condRule("read", v1alpha1.ActionErrno, uintp(42)),
			condRule("read", v1alpha1.ActionErrno, uintp(43)),
			condRule("write", v1alpha1.ActionErrno, uintp(42)),
			condRule("write", v1alpha1.ActionAllow, nil),
		), []expect{native("read", retErrno(43)), native("write", retAllow)}},
		{"flags", &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow, Flags: []v1alpha1.Flag{profile.FlagLog, profile.FlagSpecAllow}},
			[]expect{native("read", retAllow)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			wantFlags, _ := profile.Flags(tt.spec)
			if p.Flags != wantFlags {
				t.Errorf("flags %#x, want %#x", p.Flags, wantFlags)
			}
			for _, e := range tt.expect {
				if got := simulate(t, p, e.call); got != e.ret {
					t.Errorf("%s%v on %q: filter returns %#x, want %#x", e.name, e.args, e.arch, got, e.ret)
				}
			}
		})
	}
}

// amd64Only fails, rather than skips, on the x86_64 machines podlock is
// tested on; elsewhere the architecture tests do not apply.
func amd64Only(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("architecture-specific system call numbers are written for amd64")
	}
}

func TestCompileArchitectures(t *testing.T) {
	amd64Only(t)
	newKnown := func(name string) bool {
		nr, err := libseccomp.GetSyscallFromName(name)
		return err == nil && nr >= 0
	}
	statmountX86 := retErrno(unix.EPERM) // compiled by number for x86_64 only
	if newKnown("statmount") {
		statmountX86 = retAllow
	}
	x86only := []v1alpha1.Arch{"SCMP_ARCH_X86_64"}
	tests := []struct {
		name   string
		arches []v1alpha1.Arch
		names  []string
		expect []expect
	}{
		{"default architectures: native and compat", nil, []string{"execve", "personality"}, []expect{
			on("x86_64", "execve", retAllow), on("x86", "execve", retAllow), on("x32", "execve", retAllow),
			on("x86_64", "personality", retAllow), on("x86", "personality", retAllow),
			on("x86_64", "read", retErrno(unix.EPERM)), on("x86", "read", retErrno(unix.EPERM)),
			on("aarch64", "execve", retKillProcess),
		}},
		{"listed architectures only", x86only, []string{"execve"}, []expect{
			on("x86_64", "execve", retAllow), on("x86", "execve", retKillProcess), on("x32", "execve", retKillProcess),
		}},
		{"names of some architectures only", nil, []string{"execve", "chown32", "arch_prctl", "recv"}, []expect{
			on("x86", "chown32", retAllow), on("x86_64", "chown", retErrno(unix.EPERM)), on("x86", "chown", retErrno(unix.EPERM)),
			on("x86_64", "arch_prctl", retAllow),
		}},
		{"system calls newer than libseccomp", nil, []string{"execve", "statmount", "mseal"}, []expect{
			on("x86_64", "statmount", retAllow), on("x86_64", "mseal", retAllow), on("x86", "statmount", statmountX86),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(&v1alpha1.SeccompProfileSpec{Architectures: tt.arches, Syscalls: []v1alpha1.SyscallRule{
				{Names: tt.names, Action: v1alpha1.ActionAllow},
			}})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range tt.expect {
				if got := simulate(t, p, e.call); got != e.ret {
					t.Errorf("%s on %s: filter returns %#x, want %#x", e.name, e.arch, got, e.ret)
				}
			}
		})
	}
}

func TestCompileBaseProfiles(t *testing.T) {
	namespace := map[string]*v1alpha1.SeccompProfileSpec{
		"no-mkdir": {BaseProfileName: builtin.RuntimeDefault, Syscalls: []v1alpha1.SyscallRule{
			condRule("mkdirat", v1alpha1.ActionErrno, uintp(42)),
			condRule("unshare", v1alpha1.ActionAllow, nil),
		}},
		"logged": {BaseProfileName: "no-mkdir", DefaultAction: v1alpha1.ActionLog},
	}
	lookup := func(name string) (*v1alpha1.SeccompProfileSpec, error) {
		if s, ok := namespace[name]; ok {
			return s, nil
		}
		return nil, profile.ErrNotFound
	}
	newuser, sigchld := uint64(unix.CLONE_NEWUSER), uint64(unix.SIGCHLD)
	tests := []struct {
		name   string
		expect []expect
	}{
		{builtin.RuntimeDefault, []expect{
			native("mkdirat", retAllow), native("landlock_restrict_self", retAllow), native("execve", retAllow),
			native("clone", retAllow, sigchld), native("clone", retErrno(unix.EPERM), newuser|sigchld),
			native("clone3", retErrno(unix.ENOSYS)), native("unshare", retErrno(unix.EPERM)), native("mount", retErrno(unix.EPERM)),
			native("personality", retAllow, 8), native("personality", retErrno(unix.EPERM), 0x400000),
		}},
		{builtin.Audit, []expect{native("mount", retLog), native("execve", retLog)}},
		{"no-mkdir", []expect{
			native("mkdirat", retErrno(42)), native("unshare", retAllow), native("mount", retErrno(unix.EPERM)), native("read", retAllow),
		}},
		{"logged", []expect{native("mkdirat", retErrno(42)), native("mount", retLog), native("read", retAllow)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := profile.Resolve(tt.name, lookup)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Compile(s)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d instructions", len(p.Filter)/seccomp.InstructionSize)
			for _, e := range tt.expect {
				if got := simulate(t, p, e.call); got != e.ret {
					t.Errorf("%s%v: filter returns %#x, want %#x", e.name, e.args[:1], got, e.ret)
				}
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	other := v1alpha1.Arch("SCMP_ARCH_AARCH64")
	if runtime.GOARCH == "arm64" {
		other = "SCMP_ARCH_X86_64"
	}
	tests := []struct {
		name string
		spec *v1alpha1.SeccompProfileSpec
		want []string
	}{
		{"unknown system call", rulesAllowing(v1alpha1.SyscallRule{Names: []string{"read", "mkdri", "wirte"}, Action: v1alpha1.ActionErrno}),
			[]string{`spec.syscalls[0].names[1]: unknown system call "mkdri"`, `spec.syscalls[0].names[2]: unknown system call "wirte"`, "knows it on no architecture"}},
		{"unknown system call in a rule that changes nothing", rulesAllowing(v1alpha1.SyscallRule{Names: []string{"mkdri"}, Action: v1alpha1.ActionAllow}),
			[]string{`spec.syscalls[0].names[0]: unknown system call "mkdri"`}},
		{"native architecture missing", &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow, Architectures: []v1alpha1.Arch{other}},
			[]string{"spec.architectures: the native architecture " + string(profile.NativeArch()) + " is not listed"}},
		{"profile error", &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow, Flags: []v1alpha1.Flag{profile.FlagTSync}},
			[]string{"spec.flags[0]: flag SECCOMP_FILTER_FLAG_TSYNC is not supported"}},
		{"execve", &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionErrno},
			[]string{"profile forbids execve: the container could not start its entrypoint"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for fn, f := range map[string]func(*v1alpha1.SeccompProfileSpec) error{
				"Compile":  func(s *v1alpha1.SeccompProfileSpec) error { _, err := Compile(s); return err },
				"Validate": Validate,
			} {
				err := f(tt.spec)
				if !errors.Is(err, profile.ErrInvalid) || !errors.Is(err, v1alpha1.ErrInvalid) {
					t.Fatalf("%s: error %v, want ErrInvalid", fn, err)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q does not mention %q", fn, err, w)
					}
				}
			}
		})
	}
}

// The profiles of the Kubernetes seccomp tutorial: audit and fine-grained
// compile, violation is refused because the helper could not execute the
// container's program.
func TestCompileTutorialProfiles(t *testing.T) {
	load := func(name string) *v1alpha1.SeccompProfileSpec {
		data, err := os.ReadFile(filepath.Join("..", "oci", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		s, err := oci.Import(data)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	p, err := Compile(load("audit.json"))
	if err != nil || simulate(t, p, call{name: "mount"}) != retLog {
		t.Fatalf("audit.json: %v", err)
	}
	_, err = Compile(load("violation.json"))
	if !errors.Is(err, profile.ErrInvalid) || !strings.Contains(err.Error(), "profile forbids execve: the container could not start its entrypoint") {
		t.Fatalf("violation.json: error %v, want the execve refusal", err)
	}
	amd64Only(t) // fine-grained.json lists x86 architectures only
	p, err = Compile(load("fine-grained.json"))
	if err != nil {
		t.Fatalf("fine-grained.json: %v", err)
	}
	for _, e := range []expect{
		on("x86_64", "execve", retAllow), on("x86_64", "accept4", retAllow), on("x32", "read", retAllow), on("x86", "read", retAllow),
		on("x86_64", "mkdir", retErrno(unix.EPERM)), on("x86_64", "prlimit64", retErrno(unix.EPERM)),
	} {
		if got := simulate(t, p, e.call); got != e.ret {
			t.Errorf("fine-grained.json: %s on %s returns %#x, want %#x", e.name, e.arch, got, e.ret)
		}
	}
}

func ExampleCompile() {
	spec, err := profile.Resolve(builtin.RuntimeDefault, nil)
	if err != nil {
		panic(err)
	}
	p, err := Compile(spec)
	if err != nil {
		panic(err)
	}
	data, err := p.MarshalBinary() // what podlock-runtime writes for the helper
	if err != nil {
		panic(err)
	}
	fmt.Println(len(data) > 16)
	// Output: true
}
