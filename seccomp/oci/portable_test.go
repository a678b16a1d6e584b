package oci

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/profile"
)

// The tutorial's profiles carry nothing that depends on the node: they
// convert to exactly what the node-local import reads from them.
func TestPortableTutorialProfiles(t *testing.T) {
	for _, file := range []string{"audit.json", "fine-grained.json"} {
		t.Run(file, func(t *testing.T) {
			got, err := Portable(read(t, file))
			if err != nil {
				t.Fatal(err)
			}
			want, err := importFor(read(t, file), amd64Host)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestPortableKeepsMeaning(t *testing.T) {
	got, err := Portable([]byte(`{
		"comment": "a profile with the moby spellings that mean the same everywhere",
		"defaultAction": "SCMP_ACT_ERRNO",
		"defaultErrnoRet": 1,
		"architectures": ["SCMP_ARCH_X86_64"],
		"syscalls": [
			{"names": ["execve", "read"], "action": "SCMP_ACT_ALLOW", "comment": "left out", "includes": {}, "excludes": {}},
			{"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 28},
			{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
		]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	one, enospc := uint(1), uint(28)
	want := &v1alpha1.SeccompProfileSpec{
		DefaultAction:   v1alpha1.ActionErrno,
		DefaultErrnoRet: &one,
		Architectures:   []v1alpha1.Arch{"SCMP_ARCH_X86_64"},
		Syscalls: []v1alpha1.SyscallRule{
			{Names: []string{"execve", "read"}, Action: v1alpha1.ActionAllow},
			{Names: []string{"mkdir"}, Action: v1alpha1.ActionErrno, ErrnoRet: &enospc},
			{Names: []string{"personality"}, Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{{Index: 0, Value: 8, Op: v1alpha1.OpEqualTo}}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// What would change meaning on its way to the API server is refused, with
// the reason and the way out.
func TestPortableRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		json string
		want []string
	}{
		{"moby's extensions", string(read(t, "moby-style.json")), []string{
			"archMap chooses the architectures by the node's own",
			"listenerPath and listenerMetadata name a seccomp agent",
			"syscalls[2].includes, syscalls[3].includes, syscalls[4].includes, syscalls[5].includes, syscalls[6].includes, syscalls[7].excludes, syscalls[8].excludes, syscalls[9].excludes: conditions on the node's architecture",
			"or put the file unchanged in the nodes' profilesDir/seccomp/",
		}},
		{"excludes", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}}]}`,
			[]string{"syscalls[0].excludes"}},
		{"unknown field", `{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrno": 1}`, []string{`unknown field "defaultErrno"`}},
		{"other capitals", `{"DefaultAction": "SCMP_ACT_ALLOW"}`, []string{`unknown field "DefaultAction"`}},
		{"unknown argument field", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "valuetwo": 2, "op": "SCMP_CMP_EQ"}]}]}`,
			[]string{`unknown field "syscalls[0].args[0].valuetwo"`}},
		{"repeated field", `{"defaultAction": "SCMP_ACT_ALLOW", "defaultAction": "SCMP_ACT_ERRNO"}`, []string{`duplicate field "defaultAction"`}},
		{"violation.json forbids execve", string(read(t, "violation.json")), []string{"profile forbids execve"}},
		{"unknown action", `{"defaultAction": "SCMP_ACT_NOTIFY"}`, []string{"spec.defaultAction"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Portable([]byte(tt.json))
			if !errors.Is(err, profile.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %v\nwant it to mention %q", err, w)
				}
			}
		})
	}
}
