package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// testStore is the cluster of the unit tests: namespace "team" with
// LandlockProfile "demo" (binding SeccompProfile "strict", based on
// "base", to container app and the built-in runtime-default to sidecar),
// "orphan" (binding the missing "gone"), "dying" (being deleted); namespace
// "unbound" binding the missing "nowhere" to its pods, with LandlockProfile
// "own" binding runtime-default to container app; namespace "locked"
// binding LandlockProfile "base" (every container confined, app filtered
// by SeccompProfile "strict") to its pods, with "web", "learn" (mode
// Record) and "filtered" (binding the missing "gone"); namespaces
// "lockless", "ns-learn" and "ns-orphan" binding the missing "nowhere",
// the LandlockProfile "learn" in mode Record, and "orphan" which binds
// the missing "gone"; and the runtime classes of the runtime-class
// policy's examples.
func testStore() *MemStore {
	now := metav1.Now()
	llp := func(name string, seccomp map[string]v1alpha1.ProfileName) *crd.LandlockProfile {
		return &crd.LandlockProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name},
			Spec: v1alpha1.LandlockProfileSpec{SeccompByContainer: seccomp}}
	}
	sp := func(name, base string) *crd.SeccompProfile {
		return &crd.SeccompProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name},
			Spec: v1alpha1.SeccompProfileSpec{BaseProfileName: base}}
	}
	dying := llp("dying", nil)
	dying.DeletionTimestamp = &now
	return &MemStore{
		Namespaces: map[string]map[string]string{
			"team":      {},
			"hardened":  {DefaultSeccompLabel: DefaultSeccompEnabled},
			"bound":     {NamespaceSeccompLabel: "strict"},
			"unbound":   {NamespaceSeccompLabel: "nowhere"},
			"selected":  {"tier": "prod"},
			"locked":    {NamespaceLandlockLabel: "base"},
			"lockless":  {NamespaceLandlockLabel: "nowhere"},
			"ns-learn":  {NamespaceLandlockLabel: "learn"},
			"ns-orphan": {NamespaceLandlockLabel: "orphan"},
		},
		Landlock: map[string]*crd.LandlockProfile{
			"team/demo":   llp("demo", map[string]v1alpha1.ProfileName{"app": "strict", "sidecar": "runtime-default"}),
			"team/orphan": llp("orphan", map[string]v1alpha1.ProfileName{"a": "gone", "b": "gone"}),
			"team/based":  llp("based", map[string]v1alpha1.ProfileName{"app": "loop1"}),
			"team/child":  llp("child", map[string]v1alpha1.ProfileName{"app": "child"}),
			"team/dying":  dying,
			"team/learn":  {ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "learn"}, Spec: v1alpha1.LandlockProfileSpec{Mode: v1alpha1.ModeRecord}},
			"bound/learn": {ObjectMeta: metav1.ObjectMeta{Namespace: "bound", Name: "learn"}, Spec: v1alpha1.LandlockProfileSpec{Mode: v1alpha1.ModeRecord}},
			"unbound/own": {ObjectMeta: metav1.ObjectMeta{Namespace: "unbound", Name: "own"},
				Spec: v1alpha1.LandlockProfileSpec{SeccompByContainer: map[string]v1alpha1.ProfileName{"app": "runtime-default"}}},
			"locked/base": {ObjectMeta: metav1.ObjectMeta{Namespace: "locked", Name: "base"},
				Spec: v1alpha1.LandlockProfileSpec{
					ContainerWide:      map[string]v1alpha1.AccessRules{v1alpha1.AllContainers: {ReadOnly: []string{"/etc"}}},
					SeccompByContainer: map[string]v1alpha1.ProfileName{"app": "strict"},
				}},
			"locked/web": {ObjectMeta: metav1.ObjectMeta{Namespace: "locked", Name: "web"},
				Spec: v1alpha1.LandlockProfileSpec{ContainerWide: map[string]v1alpha1.AccessRules{"app": {ReadOnly: []string{"/"}}}}},
			"locked/learn":    {ObjectMeta: metav1.ObjectMeta{Namespace: "locked", Name: "learn"}, Spec: v1alpha1.LandlockProfileSpec{Mode: v1alpha1.ModeRecord}},
			"locked/filtered": {ObjectMeta: metav1.ObjectMeta{Namespace: "locked", Name: "filtered"}, Spec: v1alpha1.LandlockProfileSpec{SeccompByContainer: map[string]v1alpha1.ProfileName{"app": "gone"}}},
			"ns-learn/learn":  {ObjectMeta: metav1.ObjectMeta{Namespace: "ns-learn", Name: "learn"}, Spec: v1alpha1.LandlockProfileSpec{Mode: v1alpha1.ModeRecord}},
			"ns-orphan/orphan": {ObjectMeta: metav1.ObjectMeta{Namespace: "ns-orphan", Name: "orphan"},
				Spec: v1alpha1.LandlockProfileSpec{SeccompByContainer: map[string]v1alpha1.ProfileName{"app": "gone"}}},
		},
		Seccomp: map[string]*crd.SeccompProfile{
			"team/strict":  sp("strict", "base"),
			"team/base":    sp("base", "runtime-default"),
			"bound/strict": sp("strict", ""),
			"team/loop1":   sp("loop1", "loop2"),
			"team/child":   sp("child", "missing-base"),
			"team/loop2":   sp("loop2", "loop1"),
			"locked/strict": {ObjectMeta: metav1.ObjectMeta{Namespace: "locked", Name: "strict"},
				Spec: v1alpha1.SeccompProfileSpec{DefaultAction: "SCMP_ACT_ALLOW"}},
		},
		RuntimeHandlers: map[string]string{
			"podlock":         "podlock",
			"containerd-runc": "runc",
			"containerd-kata": "kata",
		},
	}
}

func newHooks(t testing.TB, cfg Config, store Store) *Webhooks {
	t.Helper()
	if cfg.RuntimeClassName == "" {
		cfg.RuntimeClassName = DefaultRuntimeClassName
	}
	w, err := New(cfg, store, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	w.panics = true
	return w
}

// podOf builds a pod from a YAML-ish JSON string.
func podOf(t testing.TB, js string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	if err := json.Unmarshal([]byte(js), pod); err != nil {
		t.Fatalf("bad test pod %s: %v", js, err)
	}
	if pod.Name == "" {
		pod.Name = "p"
	}
	if len(pod.Spec.Containers) == 0 {
		pod.Spec.Containers = []corev1.Container{{Name: "app", Image: "busybox"}}
	}
	return pod
}

// review builds an AdmissionReview body.
func newReview(t testing.TB, op admissionv1.Operation, kind metav1.GroupVersionKind, namespace string, obj, old runtime.Object) []byte {
	t.Helper()
	raw := func(o runtime.Object) runtime.RawExtension {
		if o == nil {
			return runtime.RawExtension{}
		}
		data, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return runtime.RawExtension{Raw: data}
	}
	ar := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("uid-" + string(op)),
			Kind:      kind,
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: namespace,
			Name:      "p",
			Operation: op,
			Object:    raw(obj),
			OldObject: raw(old),
		},
	}
	data, err := json.Marshal(ar)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var podKind = metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}

// post sends body to the handler of path and returns the review's
// response, failing unless the answer is a well-formed AdmissionReview.
func post(t testing.TB, w *Webhooks, path string, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	resp, err := serve(w.Handlers()[path], body)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// serve runs one request through h and checks the well-formedness of
// the answer, whatever the body was.
func serve(h http.Handler, body []byte) (*admissionv1.AdmissionResponse, error) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return nil, errorf("HTTP status %d: %s", rec.Code, rec.Body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		return nil, errorf("answer is not JSON: %v: %s", err, rec.Body)
	}
	if out.Response == nil {
		return nil, errorf("answer has no response: %s", rec.Body)
	}
	r := out.Response
	var in admissionv1.AdmissionReview
	if json.Unmarshal(body, &in) == nil && in.Request != nil && r.UID != in.Request.UID {
		return nil, errorf("response UID %q, request UID %q", r.UID, in.Request.UID)
	}
	if !r.Allowed && (r.Result == nil || r.Result.Message == "") {
		return nil, errorf("refusal without a message: %s", rec.Body)
	}
	if len(r.Patch) > 0 {
		if !r.Allowed || r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
			return nil, errorf("patch on a refusal or without PatchType JSONPatch: %s", rec.Body)
		}
		p, err := jsonpatch.DecodePatch(r.Patch)
		if err != nil {
			return nil, errorf("patch does not decode: %v: %s", err, r.Patch)
		}
		patched, err := p.Apply(in.Request.Object.Raw)
		if err != nil {
			return nil, errorf("patch does not apply to the object: %v: %s to %s", err, r.Patch, in.Request.Object.Raw)
		}
		if _, err := decodePod(patched); err != nil {
			return nil, errorf("patched object is not a pod: %v: %s", err, patched)
		}
	}
	return r, nil
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
