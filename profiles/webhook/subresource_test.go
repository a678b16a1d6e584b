package webhook

import (
	"encoding/json"
	"fmt"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// subresourceReview is the AdmissionReview of an UPDATE of a pod's
// subresource, which the API server sends with the whole Pod.
func subresourceReview(t *testing.T, subresource, namespace, obj, old string) []byte {
	t.Helper()
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(newReview(t, admissionv1.Update, podKind, namespace, podOf(t, obj), podOf(t, old)), &ar); err != nil {
		t.Fatal(err)
	}
	ar.Request.SubResource = subresource
	ar.Request.RequestSubResource = subresource
	data, err := json.Marshal(ar)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// debugStore is testStore with LandlockProfile "debuggable", which names
// containers wide, bin and filtered, each in one of the three ways a
// profile can name a container.
func debugStore() *MemStore {
	store := testStore()
	store.Landlock["team/debuggable"] = &crd.LandlockProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "debuggable"},
		Spec: v1alpha1.LandlockProfileSpec{
			ContainerWide:       map[string]v1alpha1.AccessRules{"app": {ReadOnly: []string{"/etc"}}, "wide": {ReadOnly: []string{"/etc"}}},
			ProfilesByContainer: map[string]v1alpha1.BinaryRules{"bin": {"/bin/sh": {ReadOnly: []string{"/etc"}}}},
			SeccompByContainer:  map[string]v1alpha1.ProfileName{"filtered": "runtime-default"},
		}}
	return store
}

// boundPod is a stored pod of profile (annotation and label) with the
// given ephemeral containers, as JSON.
func boundPod(profile string, ephemeral ...string) string {
	meta := `{}`
	if profile != "" {
		meta = `{"labels":{"podlock.kubewarden.io/profile":"` + profile + `"},"annotations":{"podlock.kubewarden.io/profile":"` + profile + `"}}`
	}
	var ecs []map[string]string
	for _, name := range ephemeral {
		ecs = append(ecs, map[string]string{"name": name, "image": "busybox"})
	}
	list, _ := json.Marshal(ecs)
	return `{"metadata":` + meta + `,"spec":{"runtimeClassName":"podlock","containers":[{"name":"app","image":"busybox"}],"ephemeralContainers":` + string(list) + `}}`
}

func TestValidatePodSubresources(t *testing.T) {
	reserved := Config{ReservedRuntimes: []string{"runC"}, DefaultRuntimeReserved: true}
	const notNamed = `ephemeral container %q is not named by LandlockProfile "debuggable", which confines this pod: it would run unconfined next to the confined containers and could reach them through /proc; ` +
		`to allow debugging, add %q to the profile's spec.containerWide (or spec.profilesByContainer or spec.seccompByContainer) and start the debug container under that name (kubectl debug --container %s)`
	for _, c := range []struct {
		name, subresource string
		cfg               Config
		old, new          string
		want              string
	}{
		// pods/status: labels and annotations can change through it.
		{name: "status: phase change passes", subresource: "status", old: boundPod("demo"),
			new: `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"},"annotations":{"podlock.kubewarden.io/profile":"demo"}},"status":{"phase":"Running"}}`},
		{name: "status: label changed", subresource: "status", old: boundPod("demo"),
			new:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"other"},"annotations":{"podlock.kubewarden.io/profile":"demo"}}}`,
			want: `label podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was "demo", now "other"): delete the pod and create it again`},
		{name: "status: profile annotation removed", subresource: "status", old: boundPod("demo"),
			new:  `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}}}`,
			want: `annotation podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was "demo", now none): delete the pod and create it again`},
		{name: "status: seccomp annotation added", subresource: "status", old: `{}`,
			new:  `{"metadata":{"annotations":{"podlock.kubewarden.io/seccomp":"audit"}}}`,
			want: `annotation podlock.kubewarden.io/seccomp cannot be added, changed or removed on an existing pod (was none, now "audit"): delete the pod and create it again`},
		{name: "status: the runtime-class policy does not block the kubelet", subresource: "status", cfg: reserved, old: `{}`,
			new: `{"status":{"phase":"Running"}}`},

		// pods/ephemeralcontainers: kubectl debug.
		{name: "debug container named wide", subresource: "ephemeralcontainers", old: boundPod("debuggable"), new: boundPod("debuggable", "wide")},
		{name: "debug container named by binaries", subresource: "ephemeralcontainers", old: boundPod("debuggable"), new: boundPod("debuggable", "bin")},
		{name: "debug container named by seccomp", subresource: "ephemeralcontainers", old: boundPod("debuggable"), new: boundPod("debuggable", "filtered")},
		{name: "debug container not named", subresource: "ephemeralcontainers", old: boundPod("debuggable"), new: boundPod("debuggable", "debugger-x7k2p"),
			want: fmt.Sprintf(notNamed, "debugger-x7k2p", "debugger-x7k2p", "debugger-x7k2p")},
		{name: "only the added containers count", subresource: "ephemeralcontainers",
			old: boundPod("debuggable", "old-debugger"), new: boundPod("debuggable", "old-debugger", "wide")},
		{name: "each one not named is refused", subresource: "ephemeralcontainers", old: boundPod("debuggable"), new: boundPod("debuggable", "wide", "a", "b"),
			want: fmt.Sprintf(notNamed, "a", "a", "a") + "; " + fmt.Sprintf(notNamed, "b", "b", "b")},
		{name: "pod without a profile", subresource: "ephemeralcontainers", old: boundPod(""), new: boundPod("", "debugger")},
		{name: "profile in mode Record", subresource: "ephemeralcontainers", old: boundPod("learn"), new: boundPod("learn", "debugger")},
		{name: "profile gone", subresource: "ephemeralcontainers", old: boundPod("vanished"), new: boundPod("vanished", "debugger"),
			want: `the pod is bound to LandlockProfile "vanished", which does not exist in namespace "team": ephemeral containers cannot be added to it`},
		{name: "the runtime-class policy does not apply", subresource: "ephemeralcontainers", cfg: reserved,
			old: boundPod("debuggable"), new: boundPod("debuggable", "wide")},
		{name: "binding changed with a debug container", subresource: "ephemeralcontainers",
			old: boundPod("debuggable"), new: boundPod("demo", "wide"),
			want: `label podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was "debuggable", now "demo"): delete the pod and create it again; ` +
				`annotation podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was "debuggable", now "demo"): delete the pod and create it again; ` +
				`ephemeral container "wide" is not named by LandlockProfile "demo", which confines this pod: it would run unconfined next to the confined containers and could reach them through /proc; ` +
				`to allow debugging, add "wide" to the profile's spec.containerWide (or spec.profilesByContainer or spec.seccompByContainer) and start the debug container under that name (kubectl debug --container wide)`},

		// Subresources the webhook is not registered for pass.
		{name: "other subresource", subresource: "resize", old: boundPod("debuggable"), new: boundPod("other", "x")},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newHooks(t, c.cfg, debugStore())
			resp := post(t, w, PathValidatePods, subresourceReview(t, c.subresource, "team", c.new, c.old))
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

func TestEphemeralContainersLookupErrorRefuses(t *testing.T) {
	store := debugStore()
	store.Err = errorf("apiserver down")
	w := newHooks(t, Config{}, store)
	resp := post(t, w, PathValidatePods, subresourceReview(t, "ephemeralcontainers", "team", boundPod("debuggable", "wide"), boundPod("debuggable")))
	if resp.Allowed || resp.Result.Code != 500 {
		t.Errorf("allowed %v, result %+v; want a refusal with code 500", resp.Allowed, resp.Result)
	}
}

// nsBoundPod is a stored pod of namespace "locked" bound to the
// namespace's LandlockProfile nsProfile and, unless empty, to its own
// profile, with the given ephemeral containers, as JSON.
func nsBoundPod(nsProfile, profile string, ephemeral ...string) string {
	var pod map[string]any
	if err := json.Unmarshal([]byte(boundPod(profile, ephemeral...)), &pod); err != nil {
		panic(err)
	}
	meta := pod["metadata"].(map[string]any)
	annotations, _ := meta["annotations"].(map[string]any)
	if annotations == nil {
		annotations = map[string]any{}
	}
	annotations[NamespaceProfileAnnotation] = nsProfile
	meta["annotations"] = annotations
	data, err := json.Marshal(pod)
	if err != nil {
		panic(err)
	}
	return string(data)
}

// kubectl debug in a pod bound to its namespace's LandlockProfile: a
// profile with a "*" entry confines every container, debug containers
// included, which may then be added; without one, a debug container must
// be named by the namespace's profile or the pod's.
func TestEphemeralContainersUnderNamespaceProfile(t *testing.T) {
	store := testStore()
	store.Landlock["locked/named"] = &crd.LandlockProfile{ObjectMeta: metav1.ObjectMeta{Namespace: "locked", Name: "named"},
		Spec: v1alpha1.LandlockProfileSpec{ContainerWide: map[string]v1alpha1.AccessRules{"app": {}, "ns-debug": {}}}}
	const neither = `ephemeral container "debugger" is named by neither LandlockProfile "named" (bound by the namespace) nor LandlockProfile "web", which confine this pod: ` +
		`it would run unconfined next to the confined containers and could reach them through /proc; ` +
		`to allow debugging, add "debugger" to the spec.containerWide of either (or their spec.profilesByContainer or spec.seccompByContainer) and start the debug container under that name (kubectl debug --container debugger)`
	for _, c := range []struct {
		name, old, new, want string
	}{
		{name: "the namespace's profile confines every container", old: nsBoundPod("base", ""), new: nsBoundPod("base", "", "debugger")},
		{name: "the namespace's profile confines every container, the pod's names none", old: nsBoundPod("base", "web"), new: nsBoundPod("base", "web", "debugger")},
		{name: "the namespace's profile names it", old: nsBoundPod("named", "web"), new: nsBoundPod("named", "web", "ns-debug")},
		{name: "the pod's profile names it", old: nsBoundPod("named", "web"), new: nsBoundPod("named", "web", "app")},
		{name: "the namespace's profile alone does not name it", old: nsBoundPod("named", ""), new: nsBoundPod("named", "", "debugger"),
			want: `ephemeral container "debugger" is not named by LandlockProfile "named" (bound by the namespace), which confines this pod: it would run unconfined next to the confined containers and could reach them through /proc; ` +
				`to allow debugging, add "debugger" to the profile's spec.containerWide (or spec.profilesByContainer or spec.seccompByContainer) and start the debug container under that name (kubectl debug --container debugger)`},
		{name: "neither profile names it", old: nsBoundPod("named", "web"), new: nsBoundPod("named", "web", "debugger"), want: neither},
		{name: "the namespace's profile is gone", old: nsBoundPod("vanished", ""), new: nsBoundPod("vanished", "", "debugger"),
			want: `the pod is bound to LandlockProfile "vanished" (bound by the namespace), which does not exist in namespace "locked": ephemeral containers cannot be added to it`},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newHooks(t, Config{}, store)
			resp := post(t, w, PathValidatePods, subresourceReview(t, "ephemeralcontainers", "locked", c.new, c.old))
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
