package webhook

import (
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The fuzz targets send arbitrary bodies to each handler and require a
// well-formed answer every time (see serve): HTTP 200, an AdmissionReview
// whose response carries the request's UID, a message on every refusal,
// and a patch only on an allowed pod, one that applies to the object and
// leaves a pod. A panic fails too: the tests' handlers let panics through
// (Webhooks.panics) instead of answering them as errors, so that the
// fuzzer sees them.
//
// The seed corpus, run by plain go test, holds the unit tests' kinds of
// request and some broken ones.

func fuzzSeeds(f *testing.F, kind metav1.GroupVersionKind, objects ...string) {
	f.Add([]byte(``))
	f.Add([]byte(`{`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"version":"v1","kind":"Pod"},"namespace":"team","object":{"metadata":{"annotations":null}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"version":"v1","kind":"Pod"},"namespace":"team","object":[1,2]}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"2","operation":"UPDATE","kind":{"version":"v1","kind":"Pod"},"namespace":"team","object":{},"oldObject":"x"}}`))
	for _, ns := range []string{"team", "hardened", "bound", "unbound", "locked", "lockless", "ns-learn"} {
		for _, obj := range objects {
			for _, op := range []admissionv1.Operation{admissionv1.Create, admissionv1.Update} {
				f.Add(rawReview(f, op, kind, ns, obj))
			}
		}
	}
}

func rawReview(f *testing.F, op admissionv1.Operation, kind metav1.GroupVersionKind, ns, obj string) []byte {
	return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"` + string(op) +
		`","kind":{"group":"` + kind.Group + `","version":"v1","kind":"` + kind.Kind + `"},"namespace":"` + ns +
		`","name":"x","object":` + obj + `,"oldObject":` + obj + `}}`)
}

var podSeeds = []string{
	`{}`,
	`{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}}}`,
	`{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"},"annotations":{"podlock.kubewarden.io/seccomp":"audit","podlock.kubewarden.io/x~y":"1"}},"spec":{"runtimeClassName":"kata"}}`,
	`{"metadata":{"labels":{"podlock.kubewarden.io/profile":"orphan","podlock.kubewarden.io/default-seccomp-skip":""}},"spec":{"securityContext":{},"os":{"name":"windows"}}}`,
	`{"metadata":{"annotations":{"podlock.kubewarden.io/profile":"demo"}},"spec":{"containers":[{"name":"a","securityContext":{"seccompProfile":{"type":"Unconfined"}}}]}}`,
	`{"metadata":{"labels":{"podlock.kubewarden.io/profile":"based"},"deletionTimestamp":"2026-01-01T00:00:00Z"},"spec":{"runtimeClassName":"containerd-runc"}}`,
	`{"metadata":{"labels":{"podlock.kubewarden.io/profile":"web"},"annotations":{"podlock.kubewarden.io/namespace-profile":"base"}},"spec":{"ephemeralContainers":[{"name":"debug"}]}}`,
}

func fuzzHandler(f *testing.F, path string) {
	cfg := Config{ReservedRuntimes: []string{"runC"}, FallbackRuntime: "containerd-kata", DefaultRuntimeReserved: true}
	w := newHooks(f, cfg, testStore())
	h := w.Handlers()[path]
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := serve(h, body); err != nil {
			t.Fatalf("%v\nrequest: %q", err, body)
		}
	})
}

func FuzzMutatePods(f *testing.F) {
	fuzzSeeds(f, podKind, podSeeds...)
	fuzzHandler(f, PathMutatePods)
}

func FuzzValidatePods(f *testing.F) {
	fuzzSeeds(f, podKind, podSeeds...)
	// Updates of the subresources that take a whole Pod.
	for _, sub := range []string{"status", "ephemeralcontainers"} {
		f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"s","operation":"UPDATE","subResource":"` + sub +
			`","kind":{"version":"v1","kind":"Pod"},"namespace":"team","name":"x",` +
			`"object":{"metadata":{"annotations":{"podlock.kubewarden.io/profile":"demo"}},"spec":{"ephemeralContainers":[{"name":"d"},{}]}},` +
			`"oldObject":{"metadata":{"annotations":{"podlock.kubewarden.io/profile":"demo"}},"spec":{"ephemeralContainers":null}}}}`))
	}
	fuzzHandler(f, PathValidatePods)
}

func FuzzValidateWorkloads(f *testing.F) {
	fuzzSeeds(f, metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
		`{"spec":{"template":{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}}}}}`,
		`{"spec":{"template":null}}`,
		`{"spec":{"jobTemplate":{"spec":{"template":{"metadata":{"labels":{"podlock.kubewarden.io/profile":"nope"}}}}}}}`)
	fuzzSeeds(f, metav1.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"},
		`{"spec":{"jobTemplate":{"spec":{"template":{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}},"spec":{"runtimeClassName":"x"}}}}}}`,
		`{"spec":{"jobTemplate":{}}}`)
	fuzzHandler(f, PathValidateWorkloads)
}
