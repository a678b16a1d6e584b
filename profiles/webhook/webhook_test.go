package webhook

import (
	"encoding/json"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// mutated runs the mutating webhook on a new pod and returns the pod as
// patched.
func mutated(t *testing.T, w *Webhooks, namespace string, pod *corev1.Pod) (*corev1.Pod, *admissionv1.AdmissionResponse) {
	t.Helper()
	body := newReview(t, admissionv1.Create, podKind, namespace, pod, nil)
	resp := post(t, w, PathMutatePods, body)
	if !resp.Allowed {
		t.Fatalf("mutating webhook refused: %s", resp.Result.Message)
	}
	raw, _ := json.Marshal(pod)
	if len(resp.Patch) > 0 {
		p, _ := jsonpatch.DecodePatch(resp.Patch)
		var err error
		if raw, err = p.Apply(raw); err != nil {
			t.Fatal(err)
		}
	}
	out := &corev1.Pod{}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	return out, resp
}

func TestMutatePod(t *testing.T) {
	reservedRunC := Config{ReservedRuntimes: []string{"runC"}, FallbackRuntime: "containerd-kata", DefaultRuntimeReserved: true}
	prodSelected := Config{DefaultSeccompNamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "prod"}}}
	for _, c := range []struct {
		name      string
		cfg       Config
		namespace string
		pod       string
		// what the stored pod has
		runtimeClass string // "" = none
		annotations  map[string]string
		podSeccomp   string // pod-level seccompProfile.type, "" = none
		warnings     []string
	}{
		{name: "labelled pod gets class and annotation", namespace: "team",
			pod:          `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}}}`,
			runtimeClass: "podlock", annotations: map[string]string{ProfileAnnotation: "demo"}},
		{name: "user values are overwritten", namespace: "team",
			pod:          `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"},"annotations":{"podlock.kubewarden.io/profile":"other","keep":"me"}},"spec":{"runtimeClassName":"podlock"}}`,
			runtimeClass: "podlock", annotations: map[string]string{ProfileAnnotation: "demo", "keep": "me"}},
		{name: "user seccomp annotation is removed", namespace: "team",
			pod:          `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"},"annotations":{"podlock.kubewarden.io/seccomp":"audit"}}}`,
			runtimeClass: "podlock", annotations: map[string]string{ProfileAnnotation: "demo"},
			warnings: []string{"podlock removed annotation podlock.kubewarden.io/seccomp: it is set only from the namespace label podlock.kubewarden.io/seccomp-profile"}},
		{name: "profile annotation without label is removed", namespace: "team",
			pod:         `{"metadata":{"annotations":{"podlock.kubewarden.io/profile":"demo"}}}`,
			annotations: map[string]string{},
			warnings:    []string{"podlock removed annotation podlock.kubewarden.io/profile: it is set only from the pod label of that name"}},
		{name: "explicit other class is left for the validator", namespace: "team",
			pod:          `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}},"spec":{"runtimeClassName":"kata"}}`,
			runtimeClass: "kata", annotations: map[string]string{ProfileAnnotation: "demo"}},
		{name: "unknown podlock annotation is left for the validator", namespace: "team",
			pod:         `{"metadata":{"annotations":{"podlock.kubewarden.io/mode":"off"}}}`,
			annotations: map[string]string{"podlock.kubewarden.io/mode": "off"}},
		{name: "unlabelled pod is untouched", namespace: "team", pod: `{}`},
		{name: "default seccomp", namespace: "hardened", pod: `{}`, podSeccomp: "RuntimeDefault"},
		{name: "default seccomp with a security context", namespace: "hardened",
			pod: `{"spec":{"securityContext":{"runAsUser":1}}}`, podSeccomp: "RuntimeDefault"},
		{name: "default seccomp: pod-level profile kept", namespace: "hardened",
			pod: `{"spec":{"securityContext":{"seccompProfile":{"type":"Unconfined"}}}}`, podSeccomp: "Unconfined"},
		{name: "default seccomp: container-level profile counts", namespace: "hardened",
			pod: `{"spec":{"containers":[{"name":"a","image":"i","securityContext":{"seccompProfile":{"type":"Unconfined"}}}]}}`},
		{name: "default seccomp: init-container-level profile counts", namespace: "hardened",
			pod: `{"spec":{"initContainers":[{"name":"i","image":"i","securityContext":{"seccompProfile":{"type":"Localhost","localhostProfile":"x.json"}}}]}}`},
		{name: "default seccomp: skip label", namespace: "hardened",
			pod: `{"metadata":{"labels":{"podlock.kubewarden.io/default-seccomp-skip":""}}}`},
		{name: "default seccomp: windows pods have none", namespace: "hardened",
			pod: `{"spec":{"os":{"name":"windows"}}}`},
		{name: "default seccomp: off elsewhere", namespace: "team", pod: `{}`},
		{name: "default seccomp: namespace selected by the configuration", cfg: prodSelected, namespace: "selected",
			pod: `{}`, podSeccomp: "RuntimeDefault"},
		{name: "default seccomp: configuration selects other namespaces", cfg: prodSelected, namespace: "team", pod: `{}`},
		{name: "default seccomp: configuration selects, pod skips", cfg: prodSelected, namespace: "selected",
			pod: `{"metadata":{"labels":{"podlock.kubewarden.io/default-seccomp-skip":"yes"}}}`},
		{name: "default seccomp: an empty selector selects every namespace", cfg: Config{DefaultSeccompNamespaceSelector: &metav1.LabelSelector{}},
			namespace: "team", pod: `{}`, podSeccomp: "RuntimeDefault"},
		{name: "namespace seccomp profile", namespace: "bound", pod: `{}`,
			runtimeClass: "podlock", annotations: map[string]string{SeccompAnnotation: "strict"}},
		{name: "namespace seccomp profile overwrites the user's", namespace: "bound",
			pod:          `{"metadata":{"annotations":{"podlock.kubewarden.io/seccomp":"audit"}}}`,
			runtimeClass: "podlock", annotations: map[string]string{SeccompAnnotation: "strict"}},
		{name: "namespace LandlockProfile", namespace: "locked", pod: `{}`,
			runtimeClass: "podlock", annotations: map[string]string{NamespaceProfileAnnotation: "base"}},
		{name: "namespace LandlockProfile and the pod's", namespace: "locked",
			pod:          `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"web"}}}`,
			runtimeClass: "podlock", annotations: map[string]string{NamespaceProfileAnnotation: "base", ProfileAnnotation: "web"}},
		{name: "namespace LandlockProfile overwrites the user's", namespace: "locked",
			pod:          `{"metadata":{"annotations":{"podlock.kubewarden.io/namespace-profile":"loose"}}}`,
			runtimeClass: "podlock", annotations: map[string]string{NamespaceProfileAnnotation: "base"}},
		{name: "user namespace-profile annotation is removed", namespace: "team",
			pod:         `{"metadata":{"annotations":{"podlock.kubewarden.io/namespace-profile":"base"}}}`,
			annotations: map[string]string{},
			warnings:    []string{"podlock removed annotation podlock.kubewarden.io/namespace-profile: it is set only from the namespace label podlock.kubewarden.io/landlock-profile"}},
		{name: "namespace LandlockProfile with a reserved default runtime: podlock, not the fallback", cfg: reservedRunC, namespace: "locked", pod: `{}`,
			runtimeClass: "podlock", annotations: map[string]string{NamespaceProfileAnnotation: "base"}},
		{name: "runtime policy: default runtime gets the fallback", cfg: reservedRunC, namespace: "team",
			pod: `{}`, runtimeClass: "containerd-kata"},
		{name: "runtime policy: reserved handler gets the fallback", cfg: reservedRunC, namespace: "team",
			pod: `{"spec":{"runtimeClassName":"containerd-runc"}}`, runtimeClass: "containerd-kata"},
		{name: "runtime policy: reserved name gets the fallback", cfg: reservedRunC, namespace: "team",
			pod: `{"spec":{"runtimeClassName":"runc"}}`, runtimeClass: "containerd-kata"},
		{name: "runtime policy: other runtime kept", cfg: reservedRunC, namespace: "team",
			pod: `{"spec":{"runtimeClassName":"gvisor"}}`, runtimeClass: "gvisor"},
		{name: "runtime policy: labelled pods get podlock, not the fallback", cfg: reservedRunC, namespace: "team",
			pod:          `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}}}`,
			runtimeClass: "podlock", annotations: map[string]string{ProfileAnnotation: "demo"}},
		{name: "runtime policy: no fallback, no change", cfg: Config{ReservedRuntimes: []string{"runC"}, DefaultRuntimeReserved: true},
			namespace: "team", pod: `{}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newHooks(t, c.cfg, testStore())
			out, resp := mutated(t, w, c.namespace, podOf(t, c.pod))
			if got := ptrString(out.Spec.RuntimeClassName); got != c.runtimeClass {
				t.Errorf("runtimeClassName %q, want %q", got, c.runtimeClass)
			}
			if c.annotations != nil || len(out.Annotations) > 0 {
				if len(out.Annotations) != len(c.annotations) {
					t.Errorf("annotations %v, want %v", out.Annotations, c.annotations)
				}
				for k, v := range c.annotations {
					if out.Annotations[k] != v {
						t.Errorf("annotations %v, want %v", out.Annotations, c.annotations)
					}
				}
			}
			got := ""
			if sc := out.Spec.SecurityContext; sc != nil && sc.SeccompProfile != nil {
				got = string(sc.SeccompProfile.Type)
			}
			if got != c.podSeccomp {
				t.Errorf("pod seccompProfile %q, want %q", got, c.podSeccomp)
			}
			if strings.Join(resp.Warnings, "\n") != strings.Join(c.warnings, "\n") {
				t.Errorf("warnings %q, want %q", resp.Warnings, c.warnings)
			}
		})
	}
}

func TestMutatePodNeverOnUpdate(t *testing.T) {
	w := newHooks(t, Config{}, testStore())
	pod := podOf(t, `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}}}`)
	resp := post(t, w, PathMutatePods, newReview(t, admissionv1.Update, podKind, "team", pod, pod))
	if !resp.Allowed || len(resp.Patch) > 0 {
		t.Fatalf("UPDATE: allowed %v, patch %s; want allowed without patch", resp.Allowed, resp.Patch)
	}
}

// validate runs the mutating then the validating webhook on a new pod, as
// the API server does, and returns the refusal message or "".
func validate(t *testing.T, w *Webhooks, namespace string, pod *corev1.Pod) string {
	t.Helper()
	out, _ := mutated(t, w, namespace, pod)
	resp := post(t, w, PathValidatePods, newReview(t, admissionv1.Create, podKind, namespace, out, nil))
	if resp.Allowed {
		return ""
	}
	return resp.Result.Message
}

func TestValidatePodCreate(t *testing.T) {
	for _, c := range []struct {
		name      string
		cfg       Config
		namespace string
		pod       string
		want      string
	}{
		{name: "profile and its seccomp profiles exist", namespace: "team",
			pod: `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}}}`},
		{name: "missing profile", namespace: "team",
			pod:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"nope"}}}`,
			want: `pod label podlock.kubewarden.io/profile names LandlockProfile "nope", which does not exist in namespace "team"`},
		{name: "profile of another namespace", namespace: "hardened",
			pod:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}}}`,
			want: `pod label podlock.kubewarden.io/profile names LandlockProfile "demo", which does not exist in namespace "hardened"`},
		{name: "missing seccomp profile", namespace: "team",
			pod:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"orphan"}}}`,
			want: `SeccompProfile "gone", bound to containers "a", "b" by LandlockProfile "orphan", does not exist in namespace "team"`},
		{name: "missing base profile", namespace: "team",
			pod:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"child"}}}`,
			want: `SeccompProfile "missing-base", base profile of SeccompProfile "child", does not exist in namespace "team"`},
		{name: "cycle of base profiles", namespace: "team",
			pod:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"based"}}}`,
			want: `SeccompProfile "loop1" (bound to container "app" by LandlockProfile "based"): base profiles form a cycle: loop1 -> loop2 -> loop1`},
		{name: "profile being deleted", namespace: "team",
			pod:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"dying"}}}`,
			want: `LandlockProfile "dying" of namespace "team" is being deleted: new pods cannot use it`},
		{name: "label that is no profile name", namespace: "team",
			pod:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"Demo"}}}`,
			want: `pod label podlock.kubewarden.io/profile=Demo is not a LandlockProfile name: names are DNS-1123 subdomains (lower-case alphanumerics, '-' and '.')`},
		{name: "labelled pod asking for another class", namespace: "team",
			pod:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}},"spec":{"runtimeClassName":"kata"}}`,
			want: `pod has label podlock.kubewarden.io/profile=demo, which needs runtimeClassName "podlock", but the pod asks for runtimeClassName "kata": remove spec.runtimeClassName or set it to "podlock"`},
		{name: "container manager's annotation", namespace: "team",
			pod:  `{"metadata":{"annotations":{"io.kubernetes.pod.namespace":"kube-system"}}}`,
			want: `annotation io.kubernetes.pod.namespace is reserved to the container runtime (io.kubernetes.pod.*): podlock-runtime reads the pod's identity from it`},
		{name: "unknown podlock annotation", namespace: "team",
			pod:  `{"metadata":{"annotations":{"podlock.kubewarden.io/mode":"off"}}}`,
			want: `annotation podlock.kubewarden.io/mode is not one podlock sets: podlock reads only podlock.kubewarden.io/profile, set from the pod label of that name, podlock.kubewarden.io/seccomp, set from the namespace label podlock.kubewarden.io/seccomp-profile, and podlock.kubewarden.io/namespace-profile, set from the namespace label podlock.kubewarden.io/landlock-profile`},
		{name: "podlock's container annotation for runtimes outside Kubernetes", namespace: "team",
			pod:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"},"annotations":{"podlock.kubewarden.io/container":"other"}}}`,
			want: `annotation podlock.kubewarden.io/container names a container for podlock-runtime outside Kubernetes (podman, ctr); in a pod, the container runtime names every container: remove it`},
		{name: "profile in mode Record", namespace: "team",
			pod: `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"learn"}}}`},
		{name: "profile in mode Record where the namespace binds a seccomp profile", namespace: "bound",
			pod:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"learn"}}}`,
			want: `LandlockProfile "learn" is in mode Record, which would run the pod without SeccompProfile "strict" that namespace "bound" binds to every pod (label podlock.kubewarden.io/seccomp-profile): record in a namespace without that label`},
		{name: "namespace binding", namespace: "bound", pod: `{}`},
		{name: "namespace binding with another class", namespace: "bound",
			pod:  `{"spec":{"runtimeClassName":"kata"}}`,
			want: `namespace "bound" binds SeccompProfile "strict" to its pods (label podlock.kubewarden.io/seccomp-profile), which needs runtimeClassName "podlock", but the pod asks for runtimeClassName "kata": remove spec.runtimeClassName or set it to "podlock"`},
		{name: "namespace binding to a missing profile", namespace: "unbound", pod: `{}`,
			want: `SeccompProfile "nowhere", bound to every pod by the namespace label podlock.kubewarden.io/seccomp-profile, does not exist in namespace "unbound"`},
		// The LandlockProfile's binding adds to the namespace's, which
		// must exist all the same.
		{name: "namespace binding to a missing profile, LandlockProfile binding its own", namespace: "unbound",
			pod:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"own"}}}`,
			want: `SeccompProfile "nowhere", bound to every pod by the namespace label podlock.kubewarden.io/seccomp-profile, does not exist in namespace "unbound"`},
		{name: "namespace LandlockProfile", namespace: "locked", pod: `{}`},
		{name: "namespace LandlockProfile and the pod's", namespace: "locked",
			pod: `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"web"}}}`},
		{name: "the namespace's LandlockProfile also as the pod's", namespace: "locked",
			pod: `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"base"}}}`},
		{name: "namespace LandlockProfile with another class", namespace: "locked",
			pod:  `{"spec":{"runtimeClassName":"kata"}}`,
			want: `namespace "locked" binds LandlockProfile "base" to its pods (label podlock.kubewarden.io/landlock-profile), which needs runtimeClassName "podlock", but the pod asks for runtimeClassName "kata": remove spec.runtimeClassName or set it to "podlock"`},
		{name: "namespace LandlockProfile missing", namespace: "lockless", pod: `{}`,
			want: `LandlockProfile "nowhere", bound to every pod by the namespace label podlock.kubewarden.io/landlock-profile, does not exist in namespace "lockless"`},
		{name: "namespace LandlockProfile binding a missing seccomp profile", namespace: "ns-orphan", pod: `{}`,
			want: `SeccompProfile "gone", bound to container "app" by LandlockProfile "orphan", does not exist in namespace "ns-orphan"`},
		{name: "the pod's LandlockProfile binding a missing seccomp profile under the namespace's", namespace: "locked",
			pod:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"filtered"}}}`,
			want: `SeccompProfile "gone", bound to container "app" by LandlockProfile "filtered", does not exist in namespace "locked"`},
		{name: "namespace LandlockProfile in mode Record", namespace: "ns-learn", pod: `{}`,
			want: `LandlockProfile "learn", bound to every pod by the namespace label podlock.kubewarden.io/landlock-profile, is in mode Record, which would run every pod of namespace "ns-learn" unconfined: set its mode to Enforce, or record with the pod label podlock.kubewarden.io/profile in a namespace without the label podlock.kubewarden.io/landlock-profile`},
		{name: "profile in mode Record where the namespace binds a LandlockProfile", namespace: "locked",
			pod:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"learn"}}}`,
			want: `LandlockProfile "learn" is in mode Record, which would run the pod without LandlockProfile "base" that namespace "locked" binds to every pod (label podlock.kubewarden.io/landlock-profile): record in a namespace without that label`},
		{name: "reserved default runtime", cfg: Config{ReservedRuntimes: []string{"runC"}, DefaultRuntimeReserved: true},
			namespace: "team", pod: `{}`,
			want: `the default runtime class is reserved (defaultRuntimeReserved): use a runtime class that is not reserved`},
		{name: "reserved runtime handler", cfg: Config{ReservedRuntimes: []string{"runC"}},
			namespace: "team", pod: `{"spec":{"runtimeClassName":"containerd-runc"}}`,
			want: `runtime class "containerd-runc" (handler "runc") is reserved (reservedRuntimes: runC): use a runtime class that is not reserved`},
		{name: "podlock is never reserved", cfg: Config{ReservedRuntimes: []string{"podlock-handler"}, DefaultRuntimeReserved: true},
			namespace: "team", pod: `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}}}`},
		{name: "several problems", namespace: "team",
			pod:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"nope"},"annotations":{"podlock.kubewarden.io/x":"1"}},"spec":{"runtimeClassName":"kata"}}`,
			want: `annotation podlock.kubewarden.io/x is not one podlock sets: podlock reads only podlock.kubewarden.io/profile, set from the pod label of that name, podlock.kubewarden.io/seccomp, set from the namespace label podlock.kubewarden.io/seccomp-profile, and podlock.kubewarden.io/namespace-profile, set from the namespace label podlock.kubewarden.io/landlock-profile; pod has label podlock.kubewarden.io/profile=nope, which needs runtimeClassName "podlock", but the pod asks for runtimeClassName "kata": remove spec.runtimeClassName or set it to "podlock"; pod label podlock.kubewarden.io/profile names LandlockProfile "nope", which does not exist in namespace "team"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := testStore()
			store.RuntimeHandlers["podlock"] = "podlock-handler"
			w := newHooks(t, c.cfg, store)
			if got := validate(t, w, c.namespace, podOf(t, c.pod)); got != c.want {
				t.Errorf("refusal:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestValidateAfterOtherWebhooks checks the stored pod, as another
// mutating webhook after podlock's may have changed it.
func TestValidateAfterOtherWebhooks(t *testing.T) {
	w := newHooks(t, Config{}, testStore())
	for _, c := range []struct{ name, namespace, pod, want string }{
		{"annotation changed", "team",
			`{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"},"annotations":{"podlock.kubewarden.io/profile":"x"}},"spec":{"runtimeClassName":"podlock"}}`,
			`annotation podlock.kubewarden.io/profile must equal the pod label of that name ("demo"), not "x"`},
		{"annotation removed", "team",
			`{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}},"spec":{"runtimeClassName":"podlock"}}`,
			`annotation podlock.kubewarden.io/profile must equal the pod label of that name ("demo"), not none`},
		{"annotation without label", "team",
			`{"metadata":{"annotations":{"podlock.kubewarden.io/profile":"demo"}}}`,
			`annotation podlock.kubewarden.io/profile is set only from the pod label of that name, which the pod does not have`},
		{"seccomp annotation without namespace label", "team",
			`{"metadata":{"annotations":{"podlock.kubewarden.io/seccomp":"audit"}}}`,
			`annotation podlock.kubewarden.io/seccomp is set only from the namespace label podlock.kubewarden.io/seccomp-profile, which namespace "team" does not have`},
		{"seccomp annotation changed", "bound",
			`{"metadata":{"annotations":{"podlock.kubewarden.io/seccomp":"audit"}},"spec":{"runtimeClassName":"podlock"}}`,
			`annotation podlock.kubewarden.io/seccomp must equal the label podlock.kubewarden.io/seccomp-profile of namespace "bound" ("strict"), not "audit"`},
		{"namespace-profile annotation without namespace label", "team",
			`{"metadata":{"annotations":{"podlock.kubewarden.io/namespace-profile":"base"}}}`,
			`annotation podlock.kubewarden.io/namespace-profile is set only from the namespace label podlock.kubewarden.io/landlock-profile, which namespace "team" does not have`},
		{"namespace-profile annotation removed", "locked",
			`{"spec":{"runtimeClassName":"podlock"}}`,
			`annotation podlock.kubewarden.io/namespace-profile must equal the label podlock.kubewarden.io/landlock-profile of namespace "locked" ("base"), not none`},
		{"namespace-profile annotation changed", "locked",
			`{"metadata":{"annotations":{"podlock.kubewarden.io/namespace-profile":"web"}},"spec":{"runtimeClassName":"podlock"}}`,
			`annotation podlock.kubewarden.io/namespace-profile must equal the label podlock.kubewarden.io/landlock-profile of namespace "locked" ("base"), not "web"`},
		{"class removed", "team",
			`{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"},"annotations":{"podlock.kubewarden.io/profile":"demo"}}}`,
			`pod has label podlock.kubewarden.io/profile=demo, which needs runtimeClassName "podlock", but the pod asks for runtimeClassName the default one: remove spec.runtimeClassName or set it to "podlock"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := post(t, w, PathValidatePods, newReview(t, admissionv1.Create, podKind, c.namespace, podOf(t, c.pod), nil))
			if resp.Allowed || resp.Result.Message != c.want {
				t.Errorf("allowed %v, message:\n got %q\nwant %q", resp.Allowed, resp.Result.Message, c.want)
			}
		})
	}
}

func TestValidatePodUpdate(t *testing.T) {
	labelled := `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"},"annotations":{"podlock.kubewarden.io/profile":"demo"}},"spec":{"runtimeClassName":"podlock"}}`
	reserved := Config{ReservedRuntimes: []string{"runC"}, FallbackRuntime: "containerd-kata", DefaultRuntimeReserved: true}
	for _, c := range []struct {
		name     string
		cfg      Config
		old, new string
		want     string
	}{
		{name: "other changes pass", old: labelled,
			new: `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo","x":"y"},"annotations":{"podlock.kubewarden.io/profile":"demo"}},"spec":{"runtimeClassName":"podlock"}}`},
		{name: "label changed", old: labelled,
			new:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"other"},"annotations":{"podlock.kubewarden.io/profile":"demo"}},"spec":{"runtimeClassName":"podlock"}}`,
			want: `label podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was "demo", now "other"): delete the pod and create it again`},
		{name: "label removed", old: labelled,
			new:  `{"metadata":{"annotations":{"podlock.kubewarden.io/profile":"demo"}},"spec":{"runtimeClassName":"podlock"}}`,
			want: `label podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was "demo", now none): delete the pod and create it again`},
		{name: "label added", old: `{}`,
			new:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}}}`,
			want: `label podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was none, now "demo"): delete the pod and create it again`},
		{name: "annotation removed", old: labelled,
			new:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}},"spec":{"runtimeClassName":"podlock"}}`,
			want: `annotation podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was "demo", now none): delete the pod and create it again`},
		{name: "seccomp annotation added", old: `{}`,
			new:  `{"metadata":{"annotations":{"podlock.kubewarden.io/seccomp":"audit"}}}`,
			want: `annotation podlock.kubewarden.io/seccomp cannot be added, changed or removed on an existing pod (was none, now "audit"): delete the pod and create it again`},
		{name: "container annotation added", old: labelled,
			new:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"},"annotations":{"podlock.kubewarden.io/profile":"demo","podlock.kubewarden.io/container":"other"}},"spec":{"runtimeClassName":"podlock"}}`,
			want: `annotation podlock.kubewarden.io/container cannot be added, changed or removed on an existing pod (was none, now "other"): delete the pod and create it again`},
		{name: "namespace-profile annotation removed", old: `{"metadata":{"annotations":{"podlock.kubewarden.io/namespace-profile":"base"}}}`,
			new:  `{}`,
			want: `annotation podlock.kubewarden.io/namespace-profile cannot be added, changed or removed on an existing pod (was "base", now none): delete the pod and create it again`},
		{name: "reserved runtime on update", cfg: reserved, old: `{}`, new: `{"metadata":{"labels":{"x":"y"}}}`,
			want: `the default runtime class is reserved (defaultRuntimeReserved); spec.runtimeClassName cannot change on an existing pod: delete the pod and create it again`},
		{name: "reserved runtime on update of a pod being deleted", cfg: reserved, old: `{}`,
			new: `{"metadata":{"deletionTimestamp":"2026-01-01T00:00:00Z","finalizers":[]}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newHooks(t, c.cfg, testStore())
			resp := post(t, w, PathValidatePods, newReview(t, admissionv1.Update, podKind, "team", podOf(t, c.new), podOf(t, c.old)))
			got := ""
			if !resp.Allowed {
				got = resp.Result.Message
			}
			if got != c.want {
				t.Errorf("refusal:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

func workloadReview(t *testing.T, op admissionv1.Operation, group, kind, namespace, obj, old string) []byte {
	t.Helper()
	ext := func(s string) runtime.Object {
		if s == "" {
			return nil
		}
		return &runtime.Unknown{Raw: []byte(s), ContentType: runtime.ContentTypeJSON}
	}
	return newReview(t, op, metav1.GroupVersionKind{Group: group, Version: "v1", Kind: kind}, namespace, ext(obj), ext(old))
}

func TestValidateWorkload(t *testing.T) {
	deploy := func(labels string) string {
		return `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"metadata":{"labels":` + labels +
			`},"spec":{"containers":[{"name":"app","image":"busybox"}]}}}}`
	}
	cron := func(labels string) string {
		return `{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"nightly"},"spec":{"schedule":"@daily","jobTemplate":{"spec":{"template":{"metadata":{"labels":` + labels +
			`},"spec":{"containers":[{"name":"app","image":"busybox"}]}}}}}}`
	}
	w := newHooks(t, Config{}, testStore())
	for _, c := range []struct {
		name, group, kind string
		op                admissionv1.Operation
		obj, old          string
		want              string
	}{
		{name: "deployment with an existing profile", group: "apps", kind: "Deployment", op: admissionv1.Create,
			obj: deploy(`{"podlock.kubewarden.io/profile":"demo"}`)},
		{name: "deployment with a missing profile", group: "apps", kind: "Deployment", op: admissionv1.Create,
			obj:  deploy(`{"podlock.kubewarden.io/profile":"nope"}`),
			want: `Deployment p: spec.template: its pods would be refused: pod label podlock.kubewarden.io/profile names LandlockProfile "nope", which does not exist in namespace "team"`},
		{name: "cronjob with a missing profile", group: "batch", kind: "CronJob", op: admissionv1.Create,
			obj:  cron(`{"podlock.kubewarden.io/profile":"nope"}`),
			want: `CronJob p: spec.jobTemplate.spec.template: its pods would be refused: pod label podlock.kubewarden.io/profile names LandlockProfile "nope", which does not exist in namespace "team"`},
		{name: "template changed on update", group: "apps", kind: "Deployment", op: admissionv1.Update,
			obj: deploy(`{"podlock.kubewarden.io/profile":"nope"}`), old: deploy(`{"podlock.kubewarden.io/profile":"demo"}`),
			want: `Deployment p: spec.template: its pods would be refused: pod label podlock.kubewarden.io/profile names LandlockProfile "nope", which does not exist in namespace "team"`},
		{name: "template unchanged on update", group: "apps", kind: "Deployment", op: admissionv1.Update,
			obj: deploy(`{"podlock.kubewarden.io/profile":"nope"}`), old: deploy(`{"podlock.kubewarden.io/profile":"nope"}`)},
		{name: "other kinds pass", group: "apps", kind: "ControllerRevision", op: admissionv1.Create,
			obj: `{"metadata":{"name":"x"},"data":{"spec":{"template":{"metadata":{"labels":{"podlock.kubewarden.io/profile":"nope"}}}}}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := post(t, w, PathValidateWorkloads, workloadReview(t, c.op, c.group, c.kind, "team", c.obj, c.old))
			got := ""
			if !resp.Allowed {
				got = resp.Result.Message
			}
			if got != c.want {
				t.Errorf("refusal:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestLookupErrorsRefuse(t *testing.T) {
	store := testStore()
	store.Err = errorf("apiserver down")
	w := newHooks(t, Config{}, store)
	pod := podOf(t, `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}}}`)
	for _, path := range []string{PathMutatePods, PathValidatePods} {
		resp := post(t, w, path, newReview(t, admissionv1.Create, podKind, "team", pod, nil))
		if resp.Allowed || resp.Result.Code != 500 || !strings.Contains(resp.Result.Message, "apiserver down") {
			t.Errorf("%s: allowed %v, result %+v; want a refusal with code 500 naming the cause", path, resp.Allowed, resp.Result)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"empty", "", ""},
		{"seed settings", "reservedRuntimes:\n- runC\nfallbackRuntime: containerd-kata\ndefaultRuntimeReserved: true\n", ""},
		{"unknown key", "reservedRuntime: [runc]\n", `unknown field "reservedRuntime"`},
		{"podlock reserved", "reservedRuntimes: [podlock]\n", `reservedRuntimes[0]: "podlock" is podlock's runtime class, which cannot be reserved`},
		{"fallback reserved", "reservedRuntimes: [kata]\nfallbackRuntime: kata\n", `fallbackRuntime "kata" is itself in reservedRuntimes`},
		{"bad class name", "runtimeClassName: Pod_Lock\n", `runtimeClassName: name "Pod_Lock" is not a DNS-1123 subdomain`},
		{"namespace selector", "defaultSeccompNamespaceSelector:\n  matchExpressions:\n  - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}\n", ""},
		{"bad namespace selector", "defaultSeccompNamespaceSelector:\n  matchExpressions:\n  - {key: tier, operator: Near, values: [prod]}\n",
			`defaultSeccompNamespaceSelector: "Near" is not a valid label selector operator`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(c.yaml))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			case c.want == "" && cfg.RuntimeClassName != DefaultRuntimeClassName:
				t.Fatalf("runtimeClassName %q, want the default", cfg.RuntimeClassName)
			}
		})
	}
}

func ptrString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
