package plugin

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

func TestInterspersed(t *testing.T) {
	app := newApp(nil, nil, nil)
	for _, tt := range []struct {
		args, want []string
	}{
		{[]string{"k"}, []string{"k"}},
		{[]string{"k", "--help"}, []string{"k", "--help"}},
		{
			[]string{"k", "promote", "web", "-n", "shop", "--yes", "--kubeconfig", "f"},
			[]string{"k", "promote", "-n", "shop", "--yes", "--kubeconfig", "f", "web"},
		},
		{
			[]string{"k", "promote", "web", "--namespace=shop", "-o", "json"},
			[]string{"k", "promote", "--namespace=shop", "-o", "json", "web"},
		},
		{
			[]string{"k", "convert", "landlockconfig", "export", "-", "--container", "app"},
			[]string{"k", "convert", "landlockconfig", "export", "--container", "app", "-"},
		},
		{
			[]string{"k", "record", "web", "--", "--stop"},
			[]string{"k", "record", "web", "--", "--stop"},
		},
		{[]string{"k", "nope", "x", "-n", "y"}, []string{"k", "nope", "x", "-n", "y"}},
	} {
		if got := interspersed(app, tt.args); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("interspersed(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestProfilesInMessage(t *testing.T) {
	for msg, want := range map[string][]string{
		"container app: /bin/sh was denied fs.write_file on /etc (profile web)":                         {"web"},
		"container app: /bin/sh was denied fs.write_file on /etc (namespace profile base, profile web)": {"base", "web"},
		"container app: /bin/sh was denied fs.write_file on /etc (SeccompProfile strict)":               nil,
		"container app: /bin/sh was denied fs.write_file on /a (b)":                                     nil,
		"no profile": nil,
	} {
		if got := profilesInMessage(msg); !reflect.DeepEqual(got, want) {
			t.Errorf("profilesInMessage(%q) = %q, want %q", msg, got, want)
		}
	}
	if got := containerOf("spec.containers{app}"); got != "app" {
		t.Errorf("containerOf: %q", got)
	}
	if got := containerOf("spec.initContainers{x}"); got != "" {
		t.Errorf("containerOf an init container: %q", got)
	}
}

func TestByProfile(t *testing.T) {
	at := func(min int) metav1.Time { return metav1.NewTime(time.Date(2026, 12, 1, 10, min, 0, 0, time.UTC)) }
	denials := []denial{ // latest first, as denials returns them
		{Namespace: "shop", Profiles: []string{"base", "web"}, Count: 2, LastSeen: at(30), Message: "third"},
		{Namespace: "shop", Profiles: []string{"web"}, Count: 1, LastSeen: at(20), Message: "second"},
		{Namespace: "shop", Profiles: []string{"api"}, Count: 5, LastSeen: at(10), Message: "first"},
	}
	want := []profileDenials{
		{Namespace: "shop", Profile: "base", Count: 2, LastSeen: at(30), Latest: "third"},
		{Namespace: "shop", Profile: "web", Count: 3, LastSeen: at(30), Latest: "third"},
		{Namespace: "shop", Profile: "api", Count: 5, LastSeen: at(10), Latest: "first"},
	}
	if got := byProfile(denials); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got := ofProfile(denials, "shop", "web"); len(got) != 2 {
		t.Errorf("ofProfile: %+v", got)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	spec := v1alpha1.LandlockProfileSpec{
		BestEffort:         true,
		ContainerWide:      map[string]v1alpha1.AccessRules{"app": {ReadOnly: []string{"/"}}},
		SeccompByContainer: map[string]v1alpha1.ProfileName{"app": "strict"},
	}
	p := &crd.LandlockProfile{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"keep": "me"}}, Spec: *spec.DeepCopy()}
	if err := startRecording(p); err != nil {
		t.Fatal(err)
	}
	if want := (v1alpha1.LandlockProfileSpec{Mode: v1alpha1.ModeRecord, BestEffort: true}); !reflect.DeepEqual(p.Spec, want) {
		t.Errorf("recording: %+v", p.Spec)
	}
	if err := startRecording(p); err == nil || !strings.Contains(err.Error(), "in mode Record already") {
		t.Errorf("recording twice: %v", err)
	}
	if err := stopRecording(p); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Spec, spec) || !reflect.DeepEqual(p.Annotations, map[string]string{"keep": "me"}) {
		t.Errorf("after stop: %+v %v", p.Spec, p.Annotations)
	}
	if err := stopRecording(p); err == nil || !strings.Contains(err.Error(), "in mode Enforce, not Record") {
		t.Errorf("stopping twice: %v", err)
	}

	// A profile switched to Record by hand has nothing kept aside.
	p = &crd.LandlockProfile{Spec: v1alpha1.LandlockProfileSpec{Mode: v1alpha1.ModeRecord}}
	if err := stopRecording(p); err != nil || p.Spec.Mode != v1alpha1.ModeEnforce {
		t.Errorf("stop without kept rules: %v %+v", err, p.Spec)
	}
	for _, kept := range []string{"{", `{"mode":"Record"}`} {
		p = &crd.LandlockProfile{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{rulesBeforeRecordAnnotation: kept}},
			Spec:       v1alpha1.LandlockProfileSpec{Mode: v1alpha1.ModeRecord},
		}
		if err := stopRecording(p); err == nil || !strings.Contains(err.Error(), "fix or remove it") {
			t.Errorf("kept %q: %v", kept, err)
		}
	}
}

// A profile written between the review and the promotion makes the first
// write conflict: promote retries on the new version, keeping what the
// other writer changed.
func TestPromoteRetriesOnConflict(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := crd.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	profile := &crd.LandlockProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec:       v1alpha1.LandlockProfileSpec{Mode: v1alpha1.ModeRecord},
	}
	recorded := &crd.LandlockProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-recorded", Labels: map[string]string{recordedFromLabel: "web"}},
		Spec: v1alpha1.LandlockProfileSpec{
			Mode:               v1alpha1.ModeEnforce,
			ContainerWide:      map[string]v1alpha1.AccessRules{"app": {ReadWrite: []string{"/tmp"}}},
			SeccompByContainer: map[string]v1alpha1.ProfileName{"app": "web-recorded-app", "side": "runtime-default"},
		},
	}
	seccomp := &crd.SeccompProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-recorded-app", Labels: map[string]string{recordedFromLabel: "web"}},
		Spec:       v1alpha1.SeccompProfileSpec{Syscalls: []v1alpha1.SyscallRule{{Names: []string{"read"}, Action: v1alpha1.ActionAllow}}},
	}
	cl := fake.NewClientBuilder().WithScheme(scheme).WithObjects(profile, recorded, seccomp).Build()
	s := &session{client: cl, namespace: "shop"}
	ctx := context.Background()

	r := &review{profile: &crd.LandlockProfile{}, recorded: recorded, seccomp: map[string]*crd.SeccompProfile{seccomp.Name: seccomp}}
	if err := cl.Get(ctx, client.ObjectKeyFromObject(profile), r.profile); err != nil {
		t.Fatal(err)
	}
	other := r.profile.DeepCopy()
	other.Labels = map[string]string{"reviewed-by": "alice"}
	if err := cl.Update(ctx, other); err != nil {
		t.Fatal(err)
	}

	var conflicts []string
	got, err := s.promote(ctx, r, func(what string) { conflicts = append(conflicts, what) })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(conflicts, []string{"LandlockProfile shop/web"}) {
		t.Errorf("conflicts: %q", conflicts)
	}
	want := v1alpha1.LandlockProfileSpec{
		Mode:               v1alpha1.ModeEnforce,
		ContainerWide:      map[string]v1alpha1.AccessRules{"app": {ReadWrite: []string{"/tmp"}}},
		SeccompByContainer: map[string]v1alpha1.ProfileName{"app": "web-app", "side": "runtime-default"},
	}
	stored := &crd.LandlockProfile{}
	if err := cl.Get(ctx, client.ObjectKeyFromObject(profile), stored); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stored.Spec, want) || stored.Labels["reviewed-by"] != "alice" || !reflect.DeepEqual(got.Spec, want) {
		t.Errorf("stored %+v (labels %v)\nwant %+v", stored.Spec, stored.Labels, want)
	}
	copied := &crd.SeccompProfile{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web-app"}, copied); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(copied.Spec, seccomp.Spec) || !reflect.DeepEqual(copied.Labels, map[string]string{promotedFromLabel: "web"}) {
		t.Errorf("copied SeccompProfile: %+v", copied)
	}
}
