// Package webhook holds podlock-controller's admission webhooks for pods
// and for the pod templates of workloads:
//
//   - PathMutatePods binds labelled pods to their LandlockProfile (runtime
//     class and annotation), applies the namespace's LandlockProfile and
//     seccomp policy and the runtime-class policy, on CREATE only;
//   - PathValidatePods checks a pod as it will be stored (CREATE), keeps
//     its binding fixed (UPDATE of the pod and of its status), and admits
//     ephemeral containers (UPDATE of its ephemeralcontainers) only when
//     a profile of the pod names them;
//   - PathValidateWorkloads refuses, at apply time, a Deployment,
//     StatefulSet, DaemonSet, ReplicaSet, Job or CronJob whose pods would be
//     refused.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-logr/logr"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"
)

// Paths the webhooks are served at.
const (
	PathMutatePods        = "/mutate-pods"
	PathValidatePods      = "/validate-pods"
	PathValidateWorkloads = "/validate-workloads"
)

// Webhooks serves the admission webhooks.
type Webhooks struct {
	policy policy
	log    logr.Logger
	// panics lets a panic of a handler through, for the fuzz tests; in
	// production a panic is answered as an error.
	panics bool
}

// New returns the webhooks for a configuration, reading the cluster
// through store.
func New(cfg Config, store Store, log logr.Logger) (*Webhooks, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	defaultSeccomp, err := cfg.defaultSeccompSelector()
	if err != nil {
		return nil, err
	}
	return &Webhooks{policy: policy{cfg: cfg, store: store, defaultSeccomp: defaultSeccomp}, log: log}, nil
}

// Handlers returns the HTTP handler of each path.
func (w *Webhooks) Handlers() map[string]http.Handler {
	wrap := func(name string, f func(context.Context, admission.Request) admission.Response) http.Handler {
		return &reviewHandler{handle: f, log: w.log.WithName(name), panics: w.panics}
	}
	return map[string]http.Handler{
		PathMutatePods:        wrap("mutate-pods", w.MutatePod),
		PathValidatePods:      wrap("validate-pods", w.ValidatePod),
		PathValidateWorkloads: wrap("validate-workloads", w.ValidateWorkload),
	}
}

// Subresources of pods that the validating webhook checks. Both take a
// whole Pod: an update of status can change the pod's labels and
// annotations (the API server keeps only its spec), and kubectl debug adds
// ephemeral containers through ephemeralcontainers (the API server keeps
// only its spec.ephemeralContainers).
const (
	subresourceStatus              = "status"
	subresourceEphemeralContainers = "ephemeralcontainers"
)

// isPod reports whether a request is about a pod, or a subresource of
// one that takes a Pod.
func isPod(req admission.Request) bool {
	return req.Kind.Group == "" && req.Kind.Kind == "Pod"
}

// errored refuses a request podlock could not decide on, with the cause.
func (w *Webhooks) errored(req admission.Request, code int32, err error) admission.Response {
	w.log.Error(err, "admission request not decided", "uid", req.UID, "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name)
	return admission.Errored(code, err)
}

func denied(problems []string) admission.Response {
	return admission.Denied(strings.Join(problems, "; "))
}

// MutatePod handles PathMutatePods.
func (w *Webhooks) MutatePod(ctx context.Context, req admission.Request) admission.Response {
	// The API server refuses any change of spec.runtimeClassName on
	// UPDATE: updates are only validated.
	if req.Operation != admissionv1.Create || !isPod(req) || req.SubResource != "" {
		return admission.Allowed("")
	}
	pod, err := decodePod(req.Object.Raw)
	if err != nil {
		return w.errored(req, http.StatusBadRequest, err)
	}
	ns, err := w.policy.namespace(ctx, req.Namespace)
	if err != nil {
		return w.errored(req, http.StatusInternalServerError, err)
	}
	m, err := w.policy.mutate(ctx, pod, ns)
	if err != nil {
		return w.errored(req, http.StatusInternalServerError, err)
	}
	if m.empty() {
		return admission.Allowed("")
	}
	resp := admission.Patched("", m.patch(pod)...)
	resp.Warnings = m.warnings
	return resp
}

// ValidatePod handles PathValidatePods.
func (w *Webhooks) ValidatePod(ctx context.Context, req admission.Request) admission.Response {
	if !isPod(req) {
		return admission.Allowed("")
	}
	var problems []string
	switch {
	case req.Operation == admissionv1.Create && req.SubResource == "":
		pod, err := decodePod(req.Object.Raw)
		if err != nil {
			return w.errored(req, http.StatusBadRequest, err)
		}
		ns, err := w.policy.namespace(ctx, req.Namespace)
		if err != nil {
			return w.errored(req, http.StatusInternalServerError, err)
		}
		if problems, err = w.policy.validateCreate(ctx, pod, ns); err != nil {
			return w.errored(req, http.StatusInternalServerError, err)
		}
	case req.Operation == admissionv1.Update:
		pod, err := decodePod(req.Object.Raw)
		if err != nil {
			return w.errored(req, http.StatusBadRequest, err)
		}
		old, err := decodePod(req.OldObject.Raw)
		if err != nil {
			return w.errored(req, http.StatusBadRequest, fmt.Errorf("old object: %w", err))
		}
		switch req.SubResource {
		case "":
			problems, err = w.policy.validateUpdate(ctx, old, pod)
		case subresourceStatus:
			// Not the runtime-class policy: the kubelet's status updates
			// must go through whatever the policy became since the pod
			// was created.
			problems = validateBinding(old, pod)
		case subresourceEphemeralContainers:
			problems, err = w.policy.validateEphemeralContainers(ctx, req.Namespace, old, pod)
		}
		if err != nil {
			return w.errored(req, http.StatusInternalServerError, err)
		}
	}
	if len(problems) > 0 {
		return denied(problems)
	}
	return admission.Allowed("")
}

// workload is the part of the six workload kinds that holds pod
// templates: spec.template, or spec.jobTemplate.spec.template of a
// CronJob.
type workload struct {
	Spec struct {
		Template    json.RawMessage `json:"template"`
		JobTemplate *struct {
			Spec struct {
				Template json.RawMessage `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
}

// workloadKinds are the kinds whose templates are checked, by API group.
var workloadKinds = map[string]map[string]bool{
	"apps":  {"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true},
	"batch": {"Job": true, "CronJob": true},
}

// template returns the JSON of a workload's pod template (nil when it
// has none) and the field it is in.
func template(raw []byte) (json.RawMessage, string, error) {
	if len(raw) == 0 {
		return nil, "", fmt.Errorf("no object in the request")
	}
	var wl workload
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &wl); err != nil {
		return nil, "", fmt.Errorf("decoding the object: %w", err)
	}
	tmpl, field := wl.Spec.Template, "spec.template"
	if jt := wl.Spec.JobTemplate; jt != nil {
		tmpl, field = jt.Spec.Template, "spec.jobTemplate.spec.template"
	}
	if bytes.Equal(tmpl, []byte("null")) {
		tmpl = nil
	}
	return tmpl, field, nil
}

// ValidateWorkload handles PathValidateWorkloads: the template is
// mutated in memory as the pod webhook would mutate its pods, then
// validated as a new pod. Templates themselves are never mutated: their
// pods are, when they are created.
func (w *Webhooks) ValidateWorkload(ctx context.Context, req admission.Request) admission.Response {
	if !workloadKinds[req.Kind.Group][req.Kind.Kind] || req.SubResource != "" ||
		(req.Operation != admissionv1.Create && req.Operation != admissionv1.Update) {
		return admission.Allowed("")
	}
	tmpl, field, err := template(req.Object.Raw)
	if err != nil {
		return w.errored(req, http.StatusBadRequest, err)
	}
	if tmpl == nil {
		return admission.Allowed("")
	}
	if req.Operation == admissionv1.Update {
		// An unchanged template must not block the updates that
		// controllers and the garbage collector make (revision
		// annotations, finalizers): its pods are still checked one by
		// one when they are created.
		// The API server serializes equal objects to equal JSON.
		old, _, err := template(req.OldObject.Raw)
		if err == nil && bytes.Equal(old, tmpl) {
			return admission.Allowed("")
		}
	}
	pod, err := decodePod(tmpl)
	if err != nil {
		return w.errored(req, http.StatusBadRequest, fmt.Errorf("%s: %w", field, err))
	}
	ns, err := w.policy.namespace(ctx, req.Namespace)
	if err != nil {
		return w.errored(req, http.StatusInternalServerError, err)
	}
	m, err := w.policy.mutate(ctx, pod, ns)
	if err != nil {
		return w.errored(req, http.StatusInternalServerError, err)
	}
	m.apply(pod)
	problems, err := w.policy.validateCreate(ctx, pod, ns)
	if err != nil {
		return w.errored(req, http.StatusInternalServerError, err)
	}
	if len(problems) > 0 {
		what := req.Kind.Kind
		if req.Name != "" { // empty with generateName
			what += " " + req.Name
		}
		return admission.Denied(fmt.Sprintf("%s: %s: its pods would be refused: %s", what, field, strings.Join(problems, "; ")))
	}
	return admission.Allowed("")
}

// patch returns the JSON patch of m against pod. "add" replaces an
// existing member (RFC 6902), so it serves for both cases.
func (m *mutation) patch(pod *pod) []jsonpatch.JsonPatchOperation {
	have := pod.have
	var ops []jsonpatch.JsonPatchOperation
	op := func(kind, path string, v any) {
		ops = append(ops, jsonpatch.JsonPatchOperation{Operation: kind, Path: path, Value: v})
	}
	if !have.metadata && len(m.setAnnotations) > 0 {
		op("add", "/metadata", map[string]any{})
	}
	if !have.spec && (m.runtimeClass != "" || m.defaultSeccomp) {
		op("add", "/spec", map[string]any{})
	}
	if m.runtimeClass != "" {
		op("add", "/spec/runtimeClassName", m.runtimeClass)
	}
	for _, k := range m.removeAnnotations {
		op("remove", "/metadata/annotations/"+escape(k), nil)
	}
	if len(m.setAnnotations) > 0 {
		if pod.Annotations == nil {
			op("add", "/metadata/annotations", m.setAnnotations)
		} else {
			for _, k := range sortedKeys(m.setAnnotations) {
				op("add", "/metadata/annotations/"+escape(k), m.setAnnotations[k])
			}
		}
	}
	if m.defaultSeccomp {
		profile := map[string]string{"type": "RuntimeDefault"}
		if !pod.HasSecurityContext {
			op("add", "/spec/securityContext", map[string]any{"seccompProfile": profile})
		} else {
			op("add", "/spec/securityContext/seccompProfile", profile)
		}
	}
	return ops
}

// escape makes a map key a JSON pointer token (RFC 6901).
func escape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}
