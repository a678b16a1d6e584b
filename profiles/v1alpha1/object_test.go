package v1alpha1

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeLandlockProfile(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    LandlockProfile
		wantErr string
	}{
		{
			name: "full object from the API server",
			json: `{
				"apiVersion": "podlock.kubewarden.io/v1alpha1", "kind": "LandlockProfile",
				"metadata": {"name": "strict", "namespace": "team-a", "uid": "1234",
					"resourceVersion": "42", "generation": 3, "labels": {"a": "b"},
					"managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
				"spec": {
					"profilesByContainer": {"app": {"/bin/sh": {"readOnly": ["/etc"], "readWrite": ["/tmp"]}}},
					"containerWide": {"app": {"readExec": ["/usr"], "readWriteExec": ["/var"]}},
					"seccompByContainer": {"app": "runtime-default"},
					"bestEffort": true
				},
				"status": {"conditions": [{"type": "Ready", "status": "True"}], "observedGeneration": 3}
			}`,
			want: LandlockProfile{
				TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: KindLandlockProfile},
				Metadata: ObjectMeta{Name: "strict", Namespace: "team-a", UID: "1234"},
				Spec: LandlockProfileSpec{
					ProfilesByContainer: map[string]BinaryRules{"app": {"/bin/sh": {ReadOnly: []string{"/etc"}, ReadWrite: []string{"/tmp"}}}},
					ContainerWide:       map[string]AccessRules{"app": {ReadExec: []string{"/usr"}, ReadWriteExec: []string{"/var"}}},
					SeccompByContainer:  map[string]ProfileName{"app": "runtime-default"},
					BestEffort:          true,
				},
			},
		},
		{
			name: "unknown top-level field",
			json: `{"apiVersion": "podlock.kubewarden.io/v1alpha1", "kind": "LandlockProfile", "metadata": {"name": "p"}, "spec": {}, "extra": 1}`,
			want: LandlockProfile{TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: KindLandlockProfile}, Metadata: ObjectMeta{Name: "p"}},
		},
		{
			name:    "unknown spec field",
			json:    `{"metadata": {"name": "p"}, "spec": {"bestEffort": true, "containerwides": {}}}`,
			wantErr: `unknown field "spec.containerwides"`,
		},
		{
			name:    "misspelt access rule",
			json:    `{"metadata": {"name": "p"}, "spec": {"containerWide": {"app": {"readOnly": ["/"], "readwrit": ["/tmp"]}}}}`,
			wantErr: `unknown field "spec.containerWide.app.readwrit"`,
		},
		{
			name:    "no spec",
			json:    `{"metadata": {"name": "p"}, "status": {}}`,
			wantErr: "no spec",
		},
		{
			name:    "spec of the wrong type",
			json:    `{"metadata": {"name": "p"}, "spec": []}`,
			wantErr: "json: cannot unmarshal array",
		},
		{
			name:    "rule of the wrong type",
			json:    `{"metadata": {"name": "p"}, "spec": {"containerWide": {"app": {"readOnly": "/etc"}}}}`,
			wantErr: "cannot unmarshal string",
		},
		{
			name:    "malformed JSON",
			json:    `{"metadata": `,
			wantErr: "unexpected end of JSON input",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got LandlockProfile
			err := Decode([]byte(tt.json), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode() error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode() = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeNoSpecIsInvalid(t *testing.T) {
	var p LandlockProfile
	if err := Decode([]byte(`{"metadata": {"name": "p"}}`), &p); !errors.Is(err, ErrInvalid) {
		t.Errorf("Decode() = %v, want ErrInvalid", err)
	}
}

func TestDecodeSeccompProfile(t *testing.T) {
	errno := uint(1)
	tests := []struct {
		name    string
		json    string
		want    SeccompProfileSpec
		wantErr string
	}{
		{
			name: "full",
			json: `{"metadata": {"name": "s", "annotations": {"x": "y"}}, "spec": {
				"baseProfileName": "runtime-default", "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
				"architectures": ["SCMP_ARCH_X86_64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
				"syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1,
					"args": [{"index": 0, "value": 18446744073709551615, "valueTwo": 18446744073709551614, "op": "SCMP_CMP_MASKED_EQ"}]}]
			}, "status": {"anything": true}}`,
			want: SeccompProfileSpec{
				BaseProfileName: "runtime-default",
				DefaultAction:   ActionErrno,
				DefaultErrnoRet: &errno,
				Architectures:   []Arch{"SCMP_ARCH_X86_64"},
				Flags:           []Flag{"SECCOMP_FILTER_FLAG_LOG"},
				Syscalls: []SyscallRule{{
					Names: []string{"personality"}, Action: ActionAllow, ErrnoRet: &errno,
					Args: []ArgCondition{{Index: 0, Value: 18446744073709551615, ValueTwo: 18446744073709551614, Op: OpMaskedEqual}},
				}},
			},
		},
		{
			name:    "unknown field in a rule",
			json:    `{"metadata": {"name": "s"}, "spec": {"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "comment": "x"}]}}`,
			wantErr: `unknown field "spec.syscalls[0].comment"`,
		},
		{
			name:    "unknown field in an argument",
			json:    `{"metadata": {"name": "s"}, "spec": {"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ", "valuetwo2": 1}]}]}}`,
			wantErr: `unknown field "spec.syscalls[0].args[0].valuetwo2"`,
		},
		{
			name:    "negative value",
			json:    `{"metadata": {"name": "s"}, "spec": {"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}}`,
			wantErr: "cannot unmarshal number -1",
		},
		{
			name:    "value beyond 64 bits",
			json:    `{"metadata": {"name": "s"}, "spec": {"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 18446744073709551616, "op": "SCMP_CMP_EQ"}]}]}}`,
			wantErr: "cannot unmarshal number 18446744073709551616",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got SeccompProfile
			err := Decode([]byte(tt.json), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode() error = %v", err)
			}
			if !reflect.DeepEqual(got.Spec, tt.want) {
				t.Errorf("Decode() spec = %+v\nwant %+v", got.Spec, tt.want)
			}
		})
	}
}
