package helpercalls

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp"
	"github.com/kubewarden/podlock/seccomp/builtin"
	"github.com/kubewarden/podlock/seccomp/compile"
)

func mustCompile(t *testing.T, s *v1alpha1.SeccompProfileSpec) seccomp.Program {
	t.Helper()
	p, err := compile.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func builtinProfile(t *testing.T, name string) *v1alpha1.SeccompProfileSpec {
	t.Helper()
	s, ok := builtin.Get(name)
	if !ok {
		t.Fatalf("no built-in profile %s", name)
	}
	return s
}

func names() []string {
	var names []string
	for _, c := range Calls() {
		names = append(names, c.Name)
	}
	return names
}

func TestRefused(t *testing.T) {
	allow := func(names ...string) v1alpha1.SyscallRule {
		return v1alpha1.SyscallRule{Names: names, Action: v1alpha1.ActionAllow}
	}
	for _, tc := range []struct {
		name string
		spec *v1alpha1.SeccompProfileSpec
		want []string
	}{
		{"runtime-default, unchanged", builtinProfile(t, builtin.RuntimeDefault), nil},
		{"audit logs and allows", builtinProfile(t, builtin.Audit), nil},
		{"the helper's own rules", &v1alpha1.SeccompProfileSpec{Syscalls: Rules()}, nil},
		{"mmap denied", &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow, Syscalls: []v1alpha1.SyscallRule{
			{Names: []string{"mmap"}, Action: v1alpha1.ActionErrno},
		}}, []string{"mmap with args[2]=0x0", "mmap with args[2]=0x3"}},
		{"killed, trapped and traced calls are refused", &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow, Syscalls: []v1alpha1.SyscallRule{
			{Names: []string{"landlock_create_ruleset"}, Action: v1alpha1.ActionKillProcess},
			{Names: []string{"sched_yield"}, Action: v1alpha1.ActionTrap},
			{Names: []string{"pread64"}, Action: v1alpha1.ActionTrace},
		}}, []string{"landlock_create_ruleset", "pread64", "sched_yield"}},
		{"clone allowed for fork only", &v1alpha1.SeccompProfileSpec{Syscalls: []v1alpha1.SyscallRule{
			allow(slices.DeleteFunc(names(), func(n string) bool { return n == "clone" })...),
			{Names: []string{"clone"}, Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{{Index: 0, Value: uint64(unix.SIGCHLD), Op: v1alpha1.OpEqualTo}}},
		}}, []string{"clone with args[0]=0xd0f00"}},
		{"an allow list without Landlock", &v1alpha1.SeccompProfileSpec{Syscalls: []v1alpha1.SyscallRule{
			allow(slices.DeleteFunc(names(), func(n string) bool { return strings.HasPrefix(n, "landlock_") })...),
		}}, []string{"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Refused(mustCompile(t, tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("refused %q, want %q", got, tc.want)
			}
		})
	}
}

// The rules allow the helper's calls with its arguments only: a profile
// made of them refuses clone with other flags, and a namespace in
// particular.
func TestRulesAllowNoMore(t *testing.T) {
	p := mustCompile(t, &v1alpha1.SeccompProfileSpec{Syscalls: Rules()})
	cloneArg := 0
	for _, c := range Calls() {
		if c.Name == "clone" {
			cloneArg = int(c.Arg)
		}
	}
	for _, tc := range []struct {
		name string
		arg  int
		val  uint64
		want uint32
	}{
		{"clone", cloneArg, threadClone, unix.SECCOMP_RET_ALLOW},
		{"clone", cloneArg, threadClone | unix.CLONE_NEWUSER, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{"clone", cloneArg, uint64(unix.SIGCHLD), unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{"openat", 2, unix.O_RDONLY | unix.O_CLOEXEC, unix.SECCOMP_RET_ALLOW},
		{"openat", 2, unix.O_WRONLY | unix.O_CREAT, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{"mmap", 2, unix.PROT_READ | unix.PROT_EXEC, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{"prctl", 0, unix.PR_SET_DUMPABLE, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{"unshare", 0, unix.CLONE_NEWUSER, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
	} {
		var args [6]uint64
		args[tc.arg] = tc.val
		got, err := compile.Decide(p, tc.name, args)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s with args[%d]=%#x: got %#x, want %#x", tc.name, tc.arg, tc.val, got, tc.want)
		}
	}
}

func TestCalls(t *testing.T) {
	names := names()
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("calls not sorted by name, or repeated: %q", names)
	}
	for _, want := range []string{"clone", "execve", "landlock_restrict_self", "mmap", "write"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s missing from %q", want, names)
		}
	}
}
