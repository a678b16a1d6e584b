package publish

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/runtime/record"
)

var epoch = time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)

func fakeClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := crd.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	// The plain tracker: the fake's default, field-managed one cannot
	// handle the uint64 arguments of seccomp rules.
	tracker := k8stesting.NewObjectTracker(scheme, serializer.NewCodecFactory(scheme).UniversalDecoder())
	return fake.NewClientBuilder().WithScheme(scheme).WithObjectTracker(tracker).WithObjects(objs...).
		WithStatusSubresource(&crd.LandlockProfile{}, &crd.SeccompProfile{}).Build()
}

// recordOn writes what the recorder of one node writes for a run of
// container web in pod that read path and made syscall, and returns the
// node's record directory.
func recordOn(t *testing.T, dir, pod, path, syscall string) {
	t.Helper()
	rec := record.NewRecording()
	rec.Path([]string{"/bin/app"}, path, record.Read)
	rec.Syscall(syscall)
	out := record.Output{File: filepath.Join(dir, "team-a", "learned.yaml"), Namespace: "team-a", Profile: "learned",
		Container: "web", Pod: pod, Now: func() time.Time { return epoch }}
	if err := os.MkdirAll(filepath.Dir(out.File), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := out.Save(rec); err != nil {
		t.Fatal(err)
	}
}

func publisher(c client.Client, node, dir string) *Publisher {
	return &Publisher{Client: c, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Node: node, Dir: dir, Every: time.Second}
}

func evidenceOf(t *testing.T, c client.Client, obj client.Object, status *crd.ProfileStatus) map[string]string {
	t.Helper()
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range status.Recording.Rules {
		got[r.Kind+" "+r.Value] = fmt.Sprintf("count=%d pods=%v nodes=%v", r.Count, r.Pods, r.Nodes)
	}
	return got
}

// Two nodes' recordings of one profile merge into one object; publishing a
// node's file again changes no count.
func TestPublishMerges(t *testing.T) {
	c := fakeClient(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	recordOn(t, dirA, "web-1", "/etc/a", "openat")
	recordOn(t, dirB, "web-2", "/etc/a", "openat")
	recordOn(t, dirB, "web-3", "/etc/b", "poll")
	a, b := publisher(c, "node-a", dirA), publisher(c, "node-b", dirB)
	for _, p := range []*Publisher{a, b, a, b} {
		if err := p.PublishChanged(t.Context()); err != nil {
			t.Fatal(err)
		}
		p.published = nil // publish again, unchanged
	}

	ll := &crd.LandlockProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "learned-recorded"}}
	got := evidenceOf(t, c, ll, &ll.Status)
	want := map[string]string{
		"path /etc/a": "count=2 pods=[web-1 web-2] nodes=[node-a node-b]",
		"path /etc/b": "count=1 pods=[web-3] nodes=[node-b]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LandlockProfile evidence:\n got %v\nwant %v", got, want)
	}
	if ll.Spec.Mode != v1alpha1.ModeEnforce || ll.Labels[LabelRecordedFrom] != "learned" ||
		ll.Spec.SeccompByContainer["web"] != "learned-recorded-web" || ll.Status.Recording.Source != "learned" ||
		!reflect.DeepEqual(ll.Status.Recording.Nodes, []string{"node-a", "node-b"}) {
		t.Errorf("LandlockProfile: %+v %+v", ll.ObjectMeta, ll.Spec)
	}
	if paths := ll.Spec.ProfilesByContainer["web"]["/bin/app"].ReadOnly; !reflect.DeepEqual(paths, []string{"/etc/a", "/etc/b"}) {
		t.Errorf("readOnly %v", paths)
	}

	sp := &crd.SeccompProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "learned-recorded-web"}}
	got = evidenceOf(t, c, sp, &sp.Status)
	if got["syscall openat"] != "count=2 pods=[web-1 web-2] nodes=[node-a node-b]" || got["syscall poll"] != "count=1 pods=[web-3] nodes=[node-b]" {
		t.Errorf("SeccompProfile evidence: %v", got)
	}
	names := sp.Spec.Syscalls[0].Names
	for _, n := range []string{"openat", "poll", "execve"} {
		if !slicesContains(names, n) {
			t.Errorf("SeccompProfile allows %v, not %s", names, n)
		}
	}
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Writers racing on the same objects lose nothing: every node's rule and
// count is there in the end.
func TestPublishConcurrent(t *testing.T) {
	c := fakeClient(t)
	const nodes = 6
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	for i := range nodes {
		dir := t.TempDir()
		recordOn(t, dir, fmt.Sprintf("web-%d", i), fmt.Sprintf("/data/%d/file", i), "openat")
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- publisher(c, fmt.Sprintf("node-%d", i), dir).PublishChanged(t.Context())
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ll := &crd.LandlockProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "learned-recorded"}}
	got := evidenceOf(t, c, ll, &ll.Status)
	if len(got) != nodes || len(ll.Status.Recording.Nodes) != nodes {
		t.Errorf("after %d concurrent writers: %v, nodes %v", nodes, got, ll.Status.Recording.Nodes)
	}
	sp := &crd.SeccompProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "learned-recorded-web"}}
	if got := evidenceOf(t, c, sp, &sp.Status); !strings.HasPrefix(got["syscall openat"], fmt.Sprintf("count=%d ", nodes)) {
		t.Errorf("openat: %v", got["syscall openat"])
	}
}

// A profile of the recorded name that a user wrote is left alone.
func TestPublishLeavesUserProfiles(t *testing.T) {
	user := &crd.LandlockProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "learned-recorded"},
		Spec: v1alpha1.LandlockProfileSpec{Mode: v1alpha1.ModeEnforce}}
	c := fakeClient(t, user)
	dir := t.TempDir()
	recordOn(t, dir, "web-1", "/etc/a", "openat")
	err := publisher(c, "node-a", dir).PublishChanged(t.Context())
	if err == nil || !strings.Contains(err.Error(), "is not labelled podlock.kubewarden.io/recorded-from=learned") {
		t.Fatalf("PublishChanged() = %v", err)
	}
	got := &crd.LandlockProfile{}
	if err := c.Get(t.Context(), types.NamespacedName{Namespace: "team-a", Name: "learned-recorded"}, got); err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.ProfilesByContainer) > 0 || got.Annotations[CountsAnnotation] != "" {
		t.Errorf("the user's profile was changed: %+v", got)
	}
}
