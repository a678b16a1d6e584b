package controller

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

func pod(name string, phase corev1.PodPhase, labels, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name), Labels: labels, Annotations: annotations},
		Status: corev1.PodStatus{Phase: phase}}
}

func llp(name string, seccomp map[string]v1alpha1.ProfileName) *crd.LandlockProfile {
	return &crd.LandlockProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: v1alpha1.LandlockProfileSpec{SeccompByContainer: seccomp}}
}

func sp(name, base string) *crd.SeccompProfile {
	return &crd.SeccompProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: v1alpha1.SeccompProfileSpec{BaseProfileName: base}}
}

func profileLabel(n string) map[string]string { return map[string]string{v1alpha1.ProfileKey: n} }

func newClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := crd.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&crd.LandlockProfile{}, &crd.SeccompProfile{}).
		WithIndex(&corev1.Pod{}, IndexPodLandlock, podLandlock).
		WithIndex(&corev1.Pod{}, IndexPodSeccomp, podSeccomp).
		WithIndex(&crd.LandlockProfile{}, IndexLandlockSeccomp, landlockSeccomp).
		WithIndex(&crd.SeccompProfile{}, IndexSeccompBase, seccompBase).
		Build()
}

// The namespace of the tests: pods p1 (profile web), p2 (profile web,
// seccomp annotation ns-wide), p3 (profile batch, succeeded), p4
// (annotation runtime-default), p6 (the namespace's LandlockProfile
// base-ns only), p7 (web both by label and as the namespace's); web binds
// strict (based on base) and the built-in audit; batch binds other;
// base-ns binds ns-filter; derived is based on strict and bound by
// nobody; runtime-default is an object shadowed by the built-in.
func fixture() []client.Object {
	return []client.Object{
		pod("p1", corev1.PodRunning, profileLabel("web"), nil),
		pod("p2", corev1.PodPending, profileLabel("web"), map[string]string{v1alpha1.SeccompKey: "ns-wide"}),
		pod("p3", corev1.PodSucceeded, profileLabel("batch"), nil),
		pod("p4", corev1.PodRunning, nil, map[string]string{v1alpha1.SeccompKey: "runtime-default"}),
		pod("p5", corev1.PodRunning, nil, map[string]string{v1alpha1.SeccompKey: "derived"}),
		pod("p6", corev1.PodRunning, nil, map[string]string{v1alpha1.NamespaceProfileKey: "base-ns"}),
		pod("p7", corev1.PodRunning, profileLabel("web"), map[string]string{v1alpha1.NamespaceProfileKey: "web"}),
		llp("base-ns", map[string]v1alpha1.ProfileName{"app": "ns-filter"}),
		sp("ns-filter", ""),
		llp("web", map[string]v1alpha1.ProfileName{"app": "strict", "log": "audit"}),
		llp("batch", map[string]v1alpha1.ProfileName{"app": "other"}),
		llp("unused", nil),
		sp("strict", "base"),
		sp("base", "runtime-default"),
		sp("derived", "strict"),
		sp("other", ""),
		sp("ns-wide", ""),
		sp("runtime-default", ""),
	}
}

func TestUsage(t *testing.T) {
	c := newClient(t, fixture()...)
	for _, tc := range []struct {
		kind, name string
		want       int
	}{
		{"llp", "web", 3},     // p1, p2, p7 (once)
		{"llp", "base-ns", 1}, // p6, through its namespace's annotation
		{"llp", "batch", 0},   // its only pod terminated
		{"llp", "unused", 0},
		{"sp", "strict", 4},    // p1, p2, p7 through web; p5 through derived
		{"sp", "base", 4},      // base of strict
		{"sp", "ns-filter", 1}, // p6 through base-ns
		{"sp", "derived", 1},   // p5
		{"sp", "other", 0},     // batch's pod terminated
		{"sp", "ns-wide", 1},   // p2's annotation
		{"sp", "runtime-default", 0},
	} {
		var obj client.Object = &crd.SeccompProfile{}
		if tc.kind == "llp" {
			obj = &crd.LandlockProfile{}
		}
		obj.SetNamespace("ns")
		obj.SetName(tc.name)
		for name, inv := range map[string]inventory{
			"cache": cachedInventory{c},
			"live":  &liveInventory{reader: c, namespace: "ns"},
		} {
			got, err := usage(context.Background(), inv, obj)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%s %s (%s): %d pods, want %d", tc.kind, tc.name, name, got, tc.want)
			}
		}
	}
}

func TestReconcile(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, fixture()...)
	r := &Reconciler{Client: c, Live: c}
	get := func(obj client.Object, name string) client.Object {
		t.Helper()
		if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: name}, obj); err != nil {
			t.Fatal(err)
		}
		return obj
	}
	reconcileAll := func() {
		t.Helper()
		for _, n := range []string{"web", "batch", "unused"} {
			if _, err := r.Reconcile(ctx, &crd.LandlockProfile{}, types.NamespacedName{Namespace: "ns", Name: n}); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range []string{"strict", "base", "derived", "other", "ns-wide", "runtime-default"} {
			if _, err := r.Reconcile(ctx, &crd.SeccompProfile{}, types.NamespacedName{Namespace: "ns", Name: n}); err != nil {
				t.Fatal(err)
			}
		}
	}
	reconcileAll()
	web := get(&crd.LandlockProfile{}, "web").(*crd.LandlockProfile)
	if !controllerutil.ContainsFinalizer(web, Finalizer) || web.Status.PodsInUse != 3 {
		t.Fatalf("web: finalizers %v, podsInUse %d; want %s and 3", web.Finalizers, web.Status.PodsInUse, Finalizer)
	}
	if base := get(&crd.SeccompProfile{}, "base").(*crd.SeccompProfile); !controllerutil.ContainsFinalizer(base, Finalizer) || base.Status.PodsInUse != 4 {
		t.Fatalf("base: finalizers %v, podsInUse %d; want %s and 4", base.Finalizers, base.Status.PodsInUse, Finalizer)
	}
	for _, n := range []string{"other", "runtime-default"} {
		if s := get(&crd.SeccompProfile{}, n); len(s.GetFinalizers()) != 0 {
			t.Fatalf("%s: finalizers %v on an unused profile", n, s.GetFinalizers())
		}
	}

	// Another controller's finalizer is kept when ours goes.
	web.Finalizers = append(web.Finalizers, "example.com/keep")
	if err := c.Update(ctx, web); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"p1", "p2", "p7"} {
		if err := c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: p}}); err != nil {
			t.Fatal(err)
		}
	}
	reconcileAll()
	web = get(&crd.LandlockProfile{}, "web").(*crd.LandlockProfile)
	if len(web.Finalizers) != 1 || web.Finalizers[0] != "example.com/keep" || web.Status.PodsInUse != 0 {
		t.Fatalf("web after its pods went: finalizers %v, podsInUse %d; want only example.com/keep and 0", web.Finalizers, web.Status.PodsInUse)
	}
	if s := get(&crd.SeccompProfile{}, "strict").(*crd.SeccompProfile); s.Status.PodsInUse != 1 {
		t.Fatalf("strict: podsInUse %d, want 1 (p5 through derived)", s.Status.PodsInUse)
	}
}

// A profile's status is written at most once per StatusInterval; its
// finalizer never waits.
func TestStatusInterval(t *testing.T) {
	ctx := context.Background()
	c := newClient(t, fixture()...)
	r := &Reconciler{Client: c, Live: c, StatusInterval: time.Hour}
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	web := func() *crd.LandlockProfile {
		t.Helper()
		var p crd.LandlockProfile
		if err := c.Get(ctx, key, &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	deletePods := func(names ...string) {
		t.Helper()
		for _, p := range names {
			if err := c.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: p}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if after, err := r.Reconcile(ctx, &crd.LandlockProfile{}, key); err != nil || after != 0 {
		t.Fatalf("first reconcile: %v, %v; want the status written at once", after, err)
	}
	if p := web(); p.Status.PodsInUse != 3 || !controllerutil.ContainsFinalizer(p, Finalizer) {
		t.Fatalf("web: podsInUse %d, finalizers %v; want 3 and %s", p.Status.PodsInUse, p.Finalizers, Finalizer)
	}

	deletePods("p1")
	after, err := r.Reconcile(ctx, &crd.LandlockProfile{}, key)
	if err != nil || after <= 0 || after > time.Hour {
		t.Fatalf("reconcile within the interval: %v, %v; want a requeue within the hour", after, err)
	}
	if p := web(); p.Status.PodsInUse != 3 {
		t.Fatalf("web: podsInUse %d written within the interval", p.Status.PodsInUse)
	}

	deletePods("p2", "p7")
	if _, err := r.Reconcile(ctx, &crd.LandlockProfile{}, key); err != nil {
		t.Fatal(err)
	}
	if p := web(); controllerutil.ContainsFinalizer(p, Finalizer) {
		t.Fatalf("web: finalizer kept on an unused profile while its status waits: %v", p.Finalizers)
	}
}

// TestStripPod checks that the cache keeps what the indexes read.
func TestStripPod(t *testing.T) {
	now := metav1.NewTime(time.Now())
	p := pod("p", corev1.PodRunning, map[string]string{v1alpha1.ProfileKey: "web", "app": "x"},
		map[string]string{v1alpha1.SeccompKey: "s", v1alpha1.NamespaceProfileKey: "base", "other": "y"})
	p.DeletionTimestamp = &now
	p.Spec.Containers = []corev1.Container{{Name: "app", Image: "busybox"}}
	out, err := StripPod(p)
	if err != nil {
		t.Fatal(err)
	}
	s := out.(*corev1.Pod)
	if len(s.Spec.Containers) != 0 || s.Labels["app"] != "" || s.Annotations["other"] != "" {
		t.Fatalf("kept too much: %+v", s)
	}
	if !slices.Equal(podLandlock(s), []string{"web", "base"}) || podSeccomp(s)[0] != "s" || s.DeletionTimestamp == nil || s.UID != "p" {
		t.Fatalf("lost what the indexes need: %+v", s)
	}
}

func TestPodChanged(t *testing.T) {
	base := pod("p", corev1.PodRunning, profileLabel("web"), nil)
	now := metav1.Now()
	for _, c := range []struct {
		name   string
		change func(*corev1.Pod)
		want   bool
	}{
		{"nothing podlock reads", func(p *corev1.Pod) { p.ResourceVersion = "2" }, false},
		{"phase", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }, true},
		{"deletion", func(p *corev1.Pod) { p.DeletionTimestamp = &now }, true},
		{"label", func(p *corev1.Pod) { p.Labels = nil }, true},
		{"annotation", func(p *corev1.Pod) { p.Annotations = map[string]string{v1alpha1.SeccompKey: "x"} }, true},
	} {
		n := base.DeepCopy()
		c.change(n)
		if got := podChanged.Update(event.UpdateEvent{ObjectOld: base, ObjectNew: n}); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
