package rules

import (
	"reflect"
	"testing"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

func TestLandlock(t *testing.T) {
	spec := &v1alpha1.LandlockProfileSpec{
		ProfilesByContainer: map[string]v1alpha1.BinaryRules{"app": {"/bin/sh": {
			ReadExec: []string{"/bin"}, ReadOnly: []string{"/etc"},
			Network: &v1alpha1.NetworkRules{BindTCP: []int32{8080, 80}, ConnectTCP: []int32{443}},
		}}},
		ContainerWide: map[string]v1alpha1.AccessRules{
			"*":   {ReadWriteExec: []string{"/"}, Scope: &v1alpha1.ScopeRules{Signal: true, AbstractUnixSocket: true}},
			"app": {ReadWrite: []string{"/tmp"}},
		},
	}
	want := []Rule{
		{Container: "*", Kind: KindPath, Value: "/", Access: "readWriteExec"},
		{Container: "*", Kind: KindScope, Value: "abstractUnixSocket"},
		{Container: "*", Kind: KindScope, Value: "signal"},
		{Container: "app", Kind: KindPath, Value: "/tmp", Access: "readWrite"},
		{Container: "app", Binary: "/bin/sh", Kind: KindBindTCP, Value: "80"},
		{Container: "app", Binary: "/bin/sh", Kind: KindBindTCP, Value: "8080"},
		{Container: "app", Binary: "/bin/sh", Kind: KindConnectTCP, Value: "443"},
		{Container: "app", Binary: "/bin/sh", Kind: KindPath, Value: "/bin", Access: "readExec"},
		{Container: "app", Binary: "/bin/sh", Kind: KindPath, Value: "/etc", Access: "readOnly"},
	}
	if got := Landlock(spec); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got := Landlock(&v1alpha1.LandlockProfileSpec{Mode: v1alpha1.ModeRecord}); len(got) != 0 {
		t.Errorf("a profile in mode Record has rules: %+v", got)
	}
}

func TestSeccomp(t *testing.T) {
	spec := &v1alpha1.SeccompProfileSpec{
		DefaultAction: v1alpha1.ActionErrno,
		Syscalls: []v1alpha1.SyscallRule{
			{Names: []string{"write", "read"}, Action: v1alpha1.ActionAllow},
			{Names: []string{"read"}, Action: v1alpha1.ActionAllow},
			{Names: []string{"mkdir"}, Action: v1alpha1.ActionErrno},
			{Names: []string{"personality"}, Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{{Index: 0, Value: 0, Op: v1alpha1.OpEqualTo}}},
			{Names: []string{"kill"}, Action: v1alpha1.ActionLog, Args: []v1alpha1.ArgCondition{{Index: 1, Value: 9, Op: v1alpha1.OpEqualTo}}},
		},
	}
	want := []Rule{
		{Container: "app", Kind: KindSyscall, Value: "kill", Access: "SCMP_ACT_LOG if args"},
		{Container: "app", Kind: KindSyscall, Value: "mkdir", Access: "SCMP_ACT_ERRNO"},
		{Container: "app", Kind: KindSyscall, Value: "personality", Access: "SCMP_ACT_ALLOW if args"},
		{Container: "app", Kind: KindSyscall, Value: "read"},
		{Container: "app", Kind: KindSyscall, Value: "write"},
	}
	if got := Seccomp("app", spec); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestDiff(t *testing.T) {
	path := func(value, access string) Rule {
		return Rule{Container: "app", Binary: "/bin/sh", Kind: KindPath, Value: value, Access: access}
	}
	tmp := crd.RuleEvidence{Container: "app", Binary: "/bin/sh", Kind: KindPath, Value: "/tmp", Access: "readWrite", Count: 3}
	bin := crd.RuleEvidence{Container: "app", Binary: "/bin/sh", Kind: KindPath, Value: "/bin", Access: "readExec", Count: 9}
	// Evidence of a rule that the recorded spec lacks is not shown.
	stale := crd.RuleEvidence{Container: "app", Kind: KindSyscall, Value: "ptrace", Count: 1}

	for _, tt := range []struct {
		name              string
		current, recorded []Rule
		want              []Line
	}{
		{name: "both empty"},
		{
			name:     "added, removed and the same, in order",
			current:  []Rule{path("/bin", "readExec"), path("/etc", "readOnly")},
			recorded: []Rule{path("/bin", "readExec"), path("/tmp", "readWrite")},
			want: []Line{
				{Change: Same, Rule: path("/bin", "readExec"), Evidence: &bin},
				{Change: Removed, Rule: path("/etc", "readOnly")},
				{Change: Added, Rule: path("/tmp", "readWrite"), Evidence: &tmp},
			},
		},
		{
			name:     "another access is another rule",
			current:  []Rule{path("/tmp", "readOnly")},
			recorded: []Rule{path("/tmp", "readWrite")},
			want: []Line{
				{Change: Removed, Rule: path("/tmp", "readOnly")},
				{Change: Added, Rule: path("/tmp", "readWrite"), Evidence: &tmp},
			},
		},
		{
			name:     "nothing recorded yet",
			current:  []Rule{path("/etc", "readOnly")},
			recorded: nil,
			want:     []Line{{Change: Removed, Rule: path("/etc", "readOnly")}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.current, tt.recorded, []crd.RuleEvidence{tmp, bin, stale})
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
