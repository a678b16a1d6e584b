package profile

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp"
	"github.com/kubewarden/podlock/seccomp/builtin"
)

func uintp(v uint) *uint { return &v }

var allowExecve = v1alpha1.SyscallRule{Names: []string{"execve"}, Action: v1alpha1.ActionAllow}

// withExecve returns a profile that passes the execve check, plus rules.
func withExecve(rules ...v1alpha1.SyscallRule) *v1alpha1.SeccompProfileSpec {
	return &v1alpha1.SeccompProfileSpec{Syscalls: append([]v1alpha1.SyscallRule{allowExecve}, rules...)}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		spec *v1alpha1.SeccompProfileSpec
		want []string // substrings of the error; none: valid
	}{
		{name: "empty default allows nothing, execve included", spec: &v1alpha1.SeccompProfileSpec{},
			want: []string{"profile forbids execve: the container could not start its entrypoint"}},
		{name: "log default", spec: &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionLog}},
		{name: "allow default", spec: &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow}},
		{name: "execve allowed", spec: withExecve()},
		{name: "execve logged", spec: &v1alpha1.SeccompProfileSpec{Syscalls: []v1alpha1.SyscallRule{{Names: []string{"execve"}, Action: v1alpha1.ActionLog}}}},
		{name: "execve allowed with conditions only", spec: &v1alpha1.SeccompProfileSpec{Syscalls: []v1alpha1.SyscallRule{
			{Names: []string{"execve"}, Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{{Index: 2, Value: 0, Op: v1alpha1.OpNotEqual}}},
		}}, want: []string{"profile forbids execve", "execve's action is SCMP_ACT_ERRNO"}},
		{name: "execve denied by a later rule", spec: withExecve(v1alpha1.SyscallRule{Names: []string{"execve"}, Action: v1alpha1.ActionKillProcess}),
			want: []string{"profile forbids execve", "SCMP_ACT_KILL_PROCESS"}},
		{name: "execve traced", spec: &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionTrace},
			want: []string{"profile forbids execve"}},
		{name: "every action and operator", spec: withExecve(
			v1alpha1.SyscallRule{Names: []string{"a"}, Action: v1alpha1.ActionKillProcess},
			v1alpha1.SyscallRule{Names: []string{"b"}, Action: v1alpha1.ActionKillThread},
			v1alpha1.SyscallRule{Names: []string{"c"}, Action: v1alpha1.ActionKill},
			v1alpha1.SyscallRule{Names: []string{"d"}, Action: v1alpha1.ActionTrap},
			v1alpha1.SyscallRule{Names: []string{"e"}, Action: v1alpha1.ActionTrace, ErrnoRet: uintp(7)},
			v1alpha1.SyscallRule{Names: []string{"f"}, Action: v1alpha1.ActionLog},
			v1alpha1.SyscallRule{Names: []string{"g"}, Action: v1alpha1.ActionErrno, ErrnoRet: uintp(4095)},
			v1alpha1.SyscallRule{Names: []string{"h"}, Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{
				{Index: 0, Op: v1alpha1.OpNotEqual}, {Index: 1, Op: v1alpha1.OpLessThan}, {Index: 2, Op: v1alpha1.OpLessEqual},
				{Index: 3, Op: v1alpha1.OpEqualTo}, {Index: 4, Op: v1alpha1.OpGreaterEqual}, {Index: 5, Op: v1alpha1.OpGreaterThan},
			}},
			v1alpha1.SyscallRule{Names: []string{"i"}, Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{{Index: 5, Value: 1, ValueTwo: 1, Op: v1alpha1.OpMaskedEqual}}},
		)},
		{name: "flags", spec: &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow, Flags: []v1alpha1.Flag{FlagLog, FlagSpecAllow}}},
		{name: "architectures", spec: &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow, Architectures: []v1alpha1.Arch{"SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64", "SCMP_ARCH_RISCV64"}}},

		{name: "unknown default action", spec: &v1alpha1.SeccompProfileSpec{DefaultAction: "SCMP_ACT_MAYBE"},
			want: []string{`spec.defaultAction: unknown action "SCMP_ACT_MAYBE"`}},
		{name: "unknown rule action", spec: withExecve(v1alpha1.SyscallRule{Names: []string{"read"}, Action: "ALLOW"}),
			want: []string{`spec.syscalls[1].action: unknown action "ALLOW"`}},
		{name: "empty rule action", spec: withExecve(v1alpha1.SyscallRule{Names: []string{"read"}}),
			want: []string{"spec.syscalls[1].action: no action"}},
		{name: "notify", spec: withExecve(v1alpha1.SyscallRule{Names: []string{"read"}, Action: ActionNotify}),
			want: []string{"spec.syscalls[1].action: action SCMP_ACT_NOTIFY is not supported"}},
		{name: "errnoRet with allow", spec: withExecve(v1alpha1.SyscallRule{Names: []string{"read"}, Action: v1alpha1.ActionAllow, ErrnoRet: uintp(1)}),
			want: []string{"spec.syscalls[1].errnoRet: errnoRet is only allowed with SCMP_ACT_ERRNO"}},
		{name: "defaultErrnoRet with log", spec: &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionLog, DefaultErrnoRet: uintp(1)},
			want: []string{"spec.defaultErrnoRet: errnoRet is only allowed with SCMP_ACT_ERRNO"}},
		{name: "errno too large", spec: withExecve(v1alpha1.SyscallRule{Names: []string{"read"}, Action: v1alpha1.ActionErrno, ErrnoRet: uintp(4096)}),
			want: []string{"spec.syscalls[1].errnoRet: errno 4096 is larger than the largest errno, 4095"}},
		{name: "trace message too large", spec: withExecve(v1alpha1.SyscallRule{Names: []string{"read"}, Action: v1alpha1.ActionTrace, ErrnoRet: uintp(1 << 15)}),
			want: []string{"spec.syscalls[1].errnoRet: trace message 32768 is larger than 32767"}},
		{name: "argument index", spec: withExecve(v1alpha1.SyscallRule{Names: []string{"read"}, Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{{Index: 6, Op: v1alpha1.OpEqualTo}}}),
			want: []string{"spec.syscalls[1].args[0].index: argument index 6 is out of range"}},
		{name: "unknown operator", spec: withExecve(v1alpha1.SyscallRule{Names: []string{"read"}, Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{{Index: 0, Op: "SCMP_CMP_ABOUT"}}}),
			want: []string{`spec.syscalls[1].args[0].op: unknown operator "SCMP_CMP_ABOUT"`}},
		{name: "no names", spec: withExecve(v1alpha1.SyscallRule{Action: v1alpha1.ActionAllow}),
			want: []string{"spec.syscalls[1].names: lists no system call"}},
		{name: "bad name", spec: withExecve(v1alpha1.SyscallRule{Names: []string{"read", "Write"}, Action: v1alpha1.ActionAllow}),
			want: []string{`spec.syscalls[1].names[1]: "Write" is not a system call name`}},
		{name: "unknown architecture", spec: &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow, Architectures: []v1alpha1.Arch{"SCMP_ARCH_X86_64", "x86_64"}},
			want: []string{`spec.architectures[1]: unknown architecture "x86_64"`}},
		{name: "unknown flag", spec: &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow, Flags: []v1alpha1.Flag{"SECCOMP_FILTER_FLAG_FAST"}},
			want: []string{`spec.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_FAST"`}},
		{name: "tsync", spec: &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow, Flags: []v1alpha1.Flag{FlagLog, FlagTSync}},
			want: []string{"spec.flags[1]: flag SECCOMP_FILTER_FLAG_TSYNC is not supported"}},
		{name: "listener flag", spec: &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow, Flags: []v1alpha1.Flag{"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"}},
			want: []string{"spec.flags[0]: flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported"}},
		{name: "unresolved base", spec: &v1alpha1.SeccompProfileSpec{BaseProfileName: "runtime-default", DefaultAction: v1alpha1.ActionAllow},
			want: []string{`spec.baseProfileName: base profile "runtime-default" is not resolved`}},
		{name: "conditions after an unconditional rule", spec: withExecve(
			v1alpha1.SyscallRule{Names: []string{"mkdirat"}, Action: v1alpha1.ActionAllow},
			v1alpha1.SyscallRule{Names: []string{"mkdirat"}, Action: v1alpha1.ActionErrno, Args: []v1alpha1.ArgCondition{{Index: 2, Value: 0o777, Op: v1alpha1.OpEqualTo}}},
		), want: []string{"spec.syscalls[2]: the rule for mkdirat with argument conditions (action SCMP_ACT_ERRNO) cannot refine the earlier rule spec.syscalls[1]"}},
		{name: "all errors at once", spec: &v1alpha1.SeccompProfileSpec{DefaultAction: "X", Flags: []v1alpha1.Flag{FlagTSync}, Syscalls: []v1alpha1.SyscallRule{{Action: "Y"}}},
			want: []string{"spec.defaultAction", "spec.flags[0]", "spec.syscalls[0].names", "spec.syscalls[0].action"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.spec)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("valid, want an error")
			}
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, v1alpha1.ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid and v1alpha1.ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestRules(t *testing.T) {
	eq := func(i uint, v uint64) v1alpha1.ArgCondition {
		return v1alpha1.ArgCondition{Index: i, Value: v, Op: v1alpha1.OpEqualTo}
	}
	tests := []struct {
		name string
		spec *v1alpha1.SeccompProfileSpec
		want []Rule
	}{
		{
			name: "one rule per name, conditions on distinct arguments kept together",
			spec: &v1alpha1.SeccompProfileSpec{Syscalls: []v1alpha1.SyscallRule{
				{Names: []string{"read", "write"}, Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{eq(0, 1), eq(2, 3)}},
			}},
			want: []Rule{
				{Syscall: "read", Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{eq(0, 1), eq(2, 3)}, Field: "spec.syscalls[0]"},
				{Syscall: "write", Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{eq(0, 1), eq(2, 3)}, Field: "spec.syscalls[0]"},
			},
		},
		{
			name: "conditions on the same argument become alternatives",
			spec: &v1alpha1.SeccompProfileSpec{Syscalls: []v1alpha1.SyscallRule{
				{Names: []string{"personality"}, Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{eq(0, 0), eq(0, 8), eq(1, 2)}},
			}},
			want: []Rule{
				{Syscall: "personality", Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{eq(0, 0)}, Field: "spec.syscalls[0]"},
				{Syscall: "personality", Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{eq(0, 8)}, Field: "spec.syscalls[0]"},
				{Syscall: "personality", Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{eq(1, 2)}, Field: "spec.syscalls[0]"},
			},
		},
		{
			name: "a later unconditional rule overrides, and the default is dropped",
			spec: &v1alpha1.SeccompProfileSpec{Syscalls: []v1alpha1.SyscallRule{
				{Names: []string{"clone"}, Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{eq(0, 0)}},
				{Names: []string{"mkdirat", "read"}, Action: v1alpha1.ActionAllow},
				{Names: []string{"clone"}, Action: v1alpha1.ActionLog},
				{Names: []string{"mkdirat"}, Action: v1alpha1.ActionErrno, ErrnoRet: uintp(1)},
				{Names: []string{"read"}, Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{eq(0, 0)}},
			}},
			want: []Rule{
				{Syscall: "clone", Action: v1alpha1.ActionLog, Field: "spec.syscalls[2]"},
				{Syscall: "read", Action: v1alpha1.ActionAllow, Field: "spec.syscalls[1]"},
			},
		},
		{
			name: "kill is kill thread",
			spec: &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionKillThread, Syscalls: []v1alpha1.SyscallRule{
				{Names: []string{"read"}, Action: v1alpha1.ActionKill},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Rules(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	got, err := Flags(&v1alpha1.SeccompProfileSpec{Flags: []v1alpha1.Flag{FlagLog, FlagSpecAllow}})
	if err != nil || got != seccomp.FlagLog|seccomp.FlagSpecAllow {
		t.Fatalf("Flags = %#x, %v", got, err)
	}
	if _, err := Flags(&v1alpha1.SeccompProfileSpec{Flags: []v1alpha1.Flag{FlagTSync}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("TSYNC: error %v, want ErrInvalid", err)
	}
}

func TestResolve(t *testing.T) {
	namespace := map[string]*v1alpha1.SeccompProfileSpec{
		"deny-mkdir": {
			BaseProfileName: builtin.RuntimeDefault,
			Flags:           []v1alpha1.Flag{FlagLog},
			Syscalls:        []v1alpha1.SyscallRule{{Names: []string{"mkdirat"}, Action: v1alpha1.ActionErrno, ErrnoRet: uintp(42)}},
		},
		"strict": {
			BaseProfileName: "deny-mkdir",
			DefaultAction:   v1alpha1.ActionKillProcess,
			Architectures:   []v1alpha1.Arch{"SCMP_ARCH_X86_64"},
			Syscalls:        []v1alpha1.SyscallRule{{Names: []string{"rmdir"}, Action: v1alpha1.ActionLog}},
		},
		"errno-only":    {BaseProfileName: builtin.RuntimeDefault, DefaultErrnoRet: uintp(38)},
		"own":           {DefaultAction: v1alpha1.ActionAllow},
		"loop-a":        {BaseProfileName: "loop-b"},
		"loop-b":        {BaseProfileName: "loop-c"},
		"loop-c":        {BaseProfileName: "loop-b"},
		"missing-base":  {BaseProfileName: "gone"},
		"bad-base":      {BaseProfileName: "../etc"},
		"shadows-audit": {DefaultAction: v1alpha1.ActionErrno},
	}
	lookup := func(name string) (*v1alpha1.SeccompProfileSpec, error) {
		if s, ok := namespace[name]; ok {
			return s, nil
		}
		return nil, fmt.Errorf("SeccompProfile %s: %w", name, ErrNotFound)
	}
	rd, _ := builtin.Get(builtin.RuntimeDefault)

	t.Run("built-in", func(t *testing.T) {
		got, err := Resolve(builtin.RuntimeDefault, nil)
		if err != nil || !reflect.DeepEqual(got, rd) {
			t.Fatalf("got %v, %v", got, err)
		}
	})
	t.Run("built-in shadows the namespace", func(t *testing.T) {
		namespace["audit"] = namespace["shadows-audit"]
		defer delete(namespace, "audit")
		got, err := Resolve(builtin.Audit, lookup)
		if err != nil || got.DefaultAction != v1alpha1.ActionLog {
			t.Fatalf("got %v, %v", got, err)
		}
	})
	t.Run("namespace profile without base", func(t *testing.T) {
		got, err := Resolve("own", lookup)
		if err != nil || !reflect.DeepEqual(got, namespace["own"]) || got == namespace["own"] {
			t.Fatalf("got %v, %v: want a copy of the profile", got, err)
		}
	})
	t.Run("chain", func(t *testing.T) {
		got, err := Resolve("strict", lookup)
		if err != nil {
			t.Fatal(err)
		}
		n := len(rd.Syscalls)
		if got.BaseProfileName != "" || got.DefaultAction != v1alpha1.ActionKillProcess || got.DefaultErrnoRet != nil ||
			!reflect.DeepEqual(got.Architectures, []v1alpha1.Arch{"SCMP_ARCH_X86_64"}) ||
			!reflect.DeepEqual(got.Flags, []v1alpha1.Flag{FlagLog}) ||
			len(got.Syscalls) != n+2 || !reflect.DeepEqual(got.Syscalls[:n], rd.Syscalls) ||
			got.Syscalls[n].Names[0] != "mkdirat" || got.Syscalls[n+1].Names[0] != "rmdir" {
			t.Fatalf("merged profile: %+v", got)
		}
		// The merge must not write through to what lookup returned.
		got.Syscalls[n].Names[0], *got.Syscalls[n].ErrnoRet = "changed", 1
		if namespace["deny-mkdir"].Syscalls[0].Names[0] != "mkdirat" || *namespace["deny-mkdir"].Syscalls[0].ErrnoRet != 42 {
			t.Fatal("Resolve returned memory shared with the lookup result")
		}
		if err := Validate(got); err != nil {
			t.Fatalf("merged profile: %v", err)
		}
	})
	t.Run("defaultErrnoRet alone", func(t *testing.T) {
		got, err := Resolve("errno-only", lookup)
		if err != nil || got.DefaultAction != v1alpha1.ActionErrno || got.DefaultErrnoRet == nil || *got.DefaultErrnoRet != 38 {
			t.Fatalf("got %+v, %v", got, err)
		}
	})

	errorTests := []struct {
		name, profile string
		lookup        Lookup
		is            error
		want          string
	}{
		{"cycle", "loop-a", lookup, ErrInvalid, "seccomp profile loop-a: base profiles form a cycle: loop-b -> loop-c -> loop-b"},
		{"self", "self", func(string) (*v1alpha1.SeccompProfileSpec, error) {
			return &v1alpha1.SeccompProfileSpec{BaseProfileName: "self"}, nil
		}, ErrInvalid, "cycle: self -> self"},
		{"missing base", "missing-base", lookup, ErrNotFound, "seccomp profile missing-base: base profile gone (missing-base -> gone): SeccompProfile gone: seccomp profile not found"},
		{"missing profile", "nothing", lookup, ErrNotFound, "seccomp profile nothing: SeccompProfile nothing"},
		{"invalid base name", "bad-base", lookup, v1alpha1.ErrInvalid, "base profile ../etc (bad-base -> ../etc)"},
		{"no lookup", "own", nil, ErrNotFound, "not a built-in profile (audit, runtime-default)"},
		{"nil spec", "own", func(string) (*v1alpha1.SeccompProfileSpec, error) { return nil, nil }, ErrNotFound, "seccomp profile own: seccomp profile not found"},
	}
	for _, tt := range errorTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resolve(tt.profile, tt.lookup)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v: want %v mentioning %q", err, tt.is, tt.want)
			}
		})
	}
	if _, ok := builtin.Get(builtin.RuntimeDefault); !ok || !reflect.DeepEqual(rd, mustGet(t)) {
		t.Fatal("Resolve modified a built-in profile")
	}
}

func mustGet(t *testing.T) *v1alpha1.SeccompProfileSpec {
	s, ok := builtin.Get(builtin.RuntimeDefault)
	if !ok {
		t.Fatal("no runtime-default")
	}
	return s
}

func TestBuiltinsAreValid(t *testing.T) {
	for _, n := range builtin.Names() {
		s, _ := builtin.Get(n)
		if err := Validate(s); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

func TestDefaultArchitectures(t *testing.T) {
	a := DefaultArchitectures()
	if len(a) == 0 || a[0] != NativeArch() {
		t.Fatalf("DefaultArchitectures() = %v, NativeArch() = %v", a, NativeArch())
	}
	for _, x := range a {
		if !KnownArch(x) {
			t.Errorf("unknown default architecture %s", x)
		}
	}
}
