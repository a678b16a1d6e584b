package crd_test

import (
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

func TestScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := crd.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []runtime.Object{&crd.LandlockProfile{}, &crd.LandlockProfileList{}, &crd.SeccompProfile{}, &crd.SeccompProfileList{}} {
		gvks, _, err := s.ObjectKinds(obj)
		if err != nil || len(gvks) != 1 || gvks[0].GroupVersion() != crd.GroupVersion {
			t.Errorf("%T: %v %v", obj, gvks, err)
		}
	}
	if crd.GroupVersion.String() != v1alpha1.APIVersion {
		t.Errorf("GroupVersion %s, want %s", crd.GroupVersion, v1alpha1.APIVersion)
	}
}

// An object of this package and the plain types of package v1alpha1, which
// podlock-runtime decodes, read the same JSON.
func TestSameJSONAsRuntimeTypes(t *testing.T) {
	errno := uint(28)
	in := &crd.SeccompProfile{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindSeccompProfile},
		ObjectMeta: metav1.ObjectMeta{Name: "no-mkdir", Namespace: "default", UID: "1234"},
		Spec: v1alpha1.SeccompProfileSpec{
			DefaultAction: v1alpha1.ActionAllow,
			Syscalls:      []v1alpha1.SyscallRule{{Names: []string{"mkdir"}, Action: v1alpha1.ActionErrno, ErrnoRet: &errno}},
		},
		Status: crd.ProfileStatus{PodsInUse: 2},
	}
	copied := in.DeepCopyObject().(*crd.SeccompProfile)
	*in.Spec.Syscalls[0].ErrnoRet = 1 // the copy must not share it
	data, err := json.Marshal(copied)
	if err != nil {
		t.Fatal(err)
	}
	var out v1alpha1.SeccompProfile
	if err := v1alpha1.Decode(data, &out); err != nil {
		t.Fatalf("v1alpha1.Decode: %v\n%s", err, data)
	}
	spec := out.Spec
	if out.Kind != v1alpha1.KindSeccompProfile || out.Metadata.Name != "no-mkdir" || out.Metadata.UID != "1234" ||
		spec.DefaultAction != v1alpha1.ActionAllow || len(spec.Syscalls) != 1 || *spec.Syscalls[0].ErrnoRet != 28 {
		t.Errorf("decoded %+v %+v from %s", out, spec, data)
	}

	ll := &crd.LandlockProfile{Spec: v1alpha1.LandlockProfileSpec{
		ProfilesByContainer: map[string]v1alpha1.BinaryRules{"app": {"/bin/sh": {ReadOnly: []string{"/etc"}}}},
	}}
	cp := ll.DeepCopy()
	ll.Spec.ProfilesByContainer["app"]["/bin/sh"].ReadOnly[0] = "/changed"
	if got := cp.Spec.ProfilesByContainer["app"]["/bin/sh"].ReadOnly[0]; got != "/etc" {
		t.Errorf("DeepCopy shares the rules: %s", got)
	}
}
