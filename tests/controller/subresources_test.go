package controller

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// debuggableProfile confines container app and names container debug, so
// that a debug container of that name may be added to its pods.
const debuggableProfile = `{"apiVersion":"podlock.kubewarden.io/v1alpha1","kind":"LandlockProfile","metadata":{"name":"debuggable"},
"spec":{"containerWide":{"app":{"readOnly":["/etc"]},"debug":{"readOnly":["/etc"]}}}}`

// ephemeralPatch is what kubectl debug sends to pods/ephemeralcontainers:
// the pod's ephemeral containers, with the new one.
func ephemeralPatch(names ...string) string {
	var list []string
	for _, n := range names {
		list = append(list, `{"name":`+strconv.Quote(n)+`,"image":"busybox","imagePullPolicy":"Never","terminationMessagePolicy":"File"}`)
	}
	return `{"spec":{"ephemeralContainers":[` + strings.Join(list, ",") + `]}}`
}

// storedPod is what these tests read of a pod.
type storedPod struct {
	Metadata struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		EphemeralContainers []struct {
			Name string `json:"name"`
		} `json:"ephemeralContainers"`
	} `json:"spec"`
}

func (e *env) getPod(ns, name string) storedPod {
	e.t.Helper()
	status, body := e.do(http.MethodGet, podsPath(ns)+"/"+name, nil)
	if status != http.StatusOK {
		e.t.Fatalf("GET pod %s/%s: %d %s", ns, name, status, body)
	}
	var p storedPod
	if err := json.Unmarshal(body, &p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (p storedPod) ephemeral() []string {
	var names []string
	for _, c := range p.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	return names
}

// The subresources of a pod that take a whole Pod: ephemeral containers
// (kubectl debug) are admitted into a pod bound to a profile only when the
// profile names them, and podlock's label and annotations cannot change
// through pods/status (which can change metadata) nor through
// pods/ephemeralcontainers (where the API server keeps the stored
// metadata).
func TestPodSubresources(t *testing.T) {
	e := newEnv(t)
	e.startController("")
	e.namespace("sub", nil)
	e.createProfile("sub", "landlockprofiles", debuggableProfile)
	e.createProfile("sub", "landlockprofiles", landlockProfile("demo", ""))
	e.createPod("sub", podJSON("bound", labels("podlock.kubewarden.io/profile", "debuggable"), nil, nil))
	e.createPod("sub", podJSON("free", nil, nil, nil))
	path := podsPath("sub")

	t.Run("ephemeral containers must be named by the profile", func(t *testing.T) {
		e := e.sub(t)
		got := e.refused(http.MethodPatch, path+"/bound/ephemeralcontainers", ephemeralPatch("debugger-x7k2p"))
		want := webhookPods + `ephemeral container "debugger-x7k2p" is not named by LandlockProfile "debuggable", which confines this pod: ` +
			`it would run unconfined next to the confined containers and could reach them through /proc; ` +
			`to allow debugging, add "debugger-x7k2p" to the profile's spec.containerWide (or spec.profilesByContainer or spec.seccompByContainer) ` +
			`and start the debug container under that name (kubectl debug --container debugger-x7k2p)`
		if got != want {
			t.Errorf("unnamed debug container:\n got %s\nwant %s", got, want)
		}
		if names := e.getPod("sub", "bound").ephemeral(); len(names) != 0 {
			t.Errorf("ephemeral containers after the refusal: %v", names)
		}
		if status, body := e.do(http.MethodPatch, path+"/bound/ephemeralcontainers", ephemeralPatch("debug")); status != http.StatusOK {
			t.Fatalf("debug container named by the profile: %d %s", status, body)
		}
		if names := e.getPod("sub", "bound").ephemeral(); strings.Join(names, ",") != "debug" {
			t.Errorf("ephemeral containers %v, want [debug]", names)
		}
		// A pod of no profile is podlock's business in no way.
		if status, body := e.do(http.MethodPatch, path+"/free/ephemeralcontainers", ephemeralPatch("debugger")); status != http.StatusOK {
			t.Errorf("debug container in a pod without profile: %d %s", status, body)
		}
	})

	t.Run("the binding cannot change through pods/status", func(t *testing.T) {
		e := e.sub(t)
		// pods/status does change a pod's labels: this is why it is covered.
		if status, body := e.do(http.MethodPatch, path+"/bound/status", `{"metadata":{"labels":{"tier":"web"}}}`); status != http.StatusOK {
			t.Fatalf("another label through pods/status: %d %s", status, body)
		}
		if tier := e.getPod("sub", "bound").Metadata.Labels["tier"]; tier != "web" {
			t.Fatalf("the API server did not store a label set through pods/status (tier=%q): the test does not test what it says", tier)
		}
		for _, c := range []struct{ name, patch, want string }{
			{"label changed", `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}}}`,
				`label podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was "debuggable", now "demo"): delete the pod and create it again`},
			{"label removed", `{"metadata":{"labels":{"podlock.kubewarden.io/profile":null}}}`,
				`label podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was "debuggable", now none): delete the pod and create it again`},
			{"annotation changed", `{"metadata":{"annotations":{"podlock.kubewarden.io/profile":"demo"}}}`,
				`annotation podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was "debuggable", now "demo"): delete the pod and create it again`},
			{"seccomp annotation added", `{"metadata":{"annotations":{"podlock.kubewarden.io/seccomp":"audit"}}}`,
				`annotation podlock.kubewarden.io/seccomp cannot be added, changed or removed on an existing pod (was none, now "audit"): delete the pod and create it again`},
			{"other podlock annotation added", `{"metadata":{"annotations":{"podlock.kubewarden.io/unconfined":"true"}}}`,
				`annotation podlock.kubewarden.io/unconfined cannot be added, changed or removed on an existing pod (was none, now "true"): delete the pod and create it again`},
		} {
			if got := e.refused(http.MethodPatch, path+"/bound/status", c.patch); got != webhookPods+c.want {
				t.Errorf("%s:\n got %s\nwant %s", c.name, got, webhookPods+c.want)
			}
		}
		if p := e.getPod("sub", "bound"); p.Metadata.Labels["podlock.kubewarden.io/profile"] != "debuggable" || len(p.Metadata.Annotations) != 1 {
			t.Errorf("binding after the refusals: labels %v, annotations %v", p.Metadata.Labels, p.Metadata.Annotations)
		}
		// What the kubelet sends.
		if status, body := e.do(http.MethodPatch, path+"/bound/status", `{"status":{"phase":"Running"}}`); status != http.StatusOK {
			t.Errorf("status update: %d %s", status, body)
		}
	})

	t.Run("the binding cannot change through pods/ephemeralcontainers", func(t *testing.T) {
		e := e.sub(t)
		bindingKept(e, path+"/bound/ephemeralcontainers")
	})

	t.Run("the ValidatingAdmissionPolicy covers the subresources", func(t *testing.T) {
		e := e.sub(t)
		e.apply(readFile(t, e.root, "install/controller/admission-policy.yaml"))
		const prefix = `pods "bound" is forbidden: ValidatingAdmissionPolicy 'podlock-profile-binding' with binding 'podlock-profile-binding' denied request: `
		for _, c := range []struct{ patch, want string }{
			{`{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}}}`,
				"label podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod: delete the pod and create it again"},
			{`{"metadata":{"annotations":{"podlock.kubewarden.io/profile":null}}}`,
				"annotation podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod: delete the pod and create it again"},
			{`{"metadata":{"annotations":{"podlock.kubewarden.io/seccomp":"audit"}}}`,
				"annotation podlock.kubewarden.io/seccomp cannot be added, changed or removed on an existing pod: delete the pod and create it again"},
		} {
			// The policy runs before the webhooks, once the API server
			// has loaded it.
			e.waitFor("the policy to refuse "+c.patch+" through pods/status", 30*time.Second, func() (bool, string) {
				status, body := e.do(http.MethodPatch, path+"/bound/status", c.patch)
				return status == http.StatusForbidden && message(body) == prefix+c.want, message(body)
			})
		}
		bindingKept(e, path+"/bound/ephemeralcontainers")
	})

	t.Run("the kubelet's status updates do not need the controller", func(t *testing.T) {
		e := e.sub(t)
		e.stop()
		// The webhook is called only for status updates that touch
		// podlock's keys: the others pass while no replica answers.
		if status, body := e.do(http.MethodPatch, path+"/bound/status", `{"status":{"phase":"Succeeded"}}`); status != http.StatusOK {
			t.Errorf("status update with the controller stopped: %d %s", status, body)
		}
		got := e.refused(http.MethodPatch, path+"/bound/status", `{"metadata":{"annotations":{"podlock.kubewarden.io/unconfined":"true"}}}`)
		if !strings.HasPrefix(got, `Internal error occurred: failed calling webhook "validate.pods.podlock.kubewarden.io"`) {
			t.Errorf("podlock annotation through pods/status with the controller stopped: %s", got)
		}
		got = e.refused(http.MethodPatch, path+"/bound/ephemeralcontainers", ephemeralPatch("debug", "debugger"))
		if !strings.HasPrefix(got, `Internal error occurred: failed calling webhook "validate.pods.podlock.kubewarden.io"`) {
			t.Errorf("debug container with the controller stopped: %s", got)
		}
	})
}

// bindingKept checks that an UPDATE of pods/ephemeralcontainers cannot
// change podlock's label or annotations: the API server keeps the stored
// metadata (what Kubernetes 1.37 does), or podlock refuses the request.
func bindingKept(e *env, ephemeralPath string) {
	e.t.Helper()
	before := e.getPod("sub", "bound")
	for _, patch := range []string{
		`{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}},` + ephemeralPatch("debug")[1:],
		`{"metadata":{"annotations":{"podlock.kubewarden.io/profile":"demo","podlock.kubewarden.io/seccomp":"audit"}},` + ephemeralPatch("debug")[1:],
	} {
		status, body := e.do(http.MethodPatch, ephemeralPath, patch)
		after := e.getPod("sub", "bound")
		if after.Metadata.Labels["podlock.kubewarden.io/profile"] != "debuggable" ||
			after.Metadata.Annotations["podlock.kubewarden.io/profile"] != "debuggable" || len(after.Metadata.Annotations) != len(before.Metadata.Annotations) {
			e.t.Errorf("%s: %d %s\nchanged the binding: labels %v, annotations %v", patch, status, message(body), after.Metadata.Labels, after.Metadata.Annotations)
		}
		e.t.Logf("pods/ephemeralcontainers with podlock metadata: %d %s", status, message(body))
	}
}
