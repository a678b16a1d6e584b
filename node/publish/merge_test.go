package publish

import (
	"reflect"
	"testing"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

func TestMergeSeccomp(t *testing.T) {
	one := uint64(1)
	conditional := v1alpha1.SyscallRule{Names: []string{"clone"}, Action: v1alpha1.ActionAllow,
		Args: []v1alpha1.ArgCondition{{Index: 0, Value: one, Op: "SCMP_CMP_EQ"}}}
	tests := []struct {
		name              string
		published, record v1alpha1.SeccompProfileSpec
		want              v1alpha1.SeccompProfileSpec
	}{{
		name:   "new",
		record: v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionErrno, Syscalls: []v1alpha1.SyscallRule{{Names: []string{"read", "openat"}, Action: v1alpha1.ActionAllow}, conditional}},
		want:   v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionErrno, Syscalls: []v1alpha1.SyscallRule{{Names: []string{"openat", "read"}, Action: v1alpha1.ActionAllow}, conditional}},
	}, {
		name:      "union, conditional rules once and never widened",
		published: v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionErrno, Syscalls: []v1alpha1.SyscallRule{{Names: []string{"openat", "read"}, Action: v1alpha1.ActionAllow}, conditional}},
		record:    v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionErrno, Syscalls: []v1alpha1.SyscallRule{{Names: []string{"poll", "read"}, Action: v1alpha1.ActionAllow}, conditional}},
		want:      v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionErrno, Syscalls: []v1alpha1.SyscallRule{{Names: []string{"openat", "poll", "read"}, Action: v1alpha1.ActionAllow}, conditional}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.published
			mergeSeccomp(&got, tt.record)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestUnionRules(t *testing.T) {
	tests := []struct {
		name string
		a, b v1alpha1.AccessRules
		want v1alpha1.AccessRules
	}{
		{"paths", v1alpha1.AccessRules{ReadOnly: []string{"/etc/b", "/etc/a"}}, v1alpha1.AccessRules{ReadOnly: []string{"/etc/a"}, ReadWrite: []string{"/tmp"}},
			v1alpha1.AccessRules{ReadOnly: []string{"/etc/a", "/etc/b"}, ReadWrite: []string{"/tmp"}}},
		{"network from one side", v1alpha1.AccessRules{}, v1alpha1.AccessRules{Network: &v1alpha1.NetworkRules{ConnectTCP: []int32{443}}},
			v1alpha1.AccessRules{Network: &v1alpha1.NetworkRules{ConnectTCP: []int32{443}}}},
		{"ports", v1alpha1.AccessRules{Network: &v1alpha1.NetworkRules{ConnectTCP: []int32{443}, BindTCP: []int32{8080}}}, v1alpha1.AccessRules{Network: &v1alpha1.NetworkRules{ConnectTCP: []int32{80, 443}}},
			v1alpha1.AccessRules{Network: &v1alpha1.NetworkRules{ConnectTCP: []int32{80, 443}, BindTCP: []int32{8080}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unionRules(tt.a, tt.b); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
