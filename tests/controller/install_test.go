package controller

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// No window without admission: installed as the README says, the
// controller first and then its webhook configurations, the controller
// writes the caBundle as soon as the configurations exist, not at its
// next periodic check (an hour here): the webhooks fail closed, and until
// the API server trusts them every pod of the selected namespaces is
// refused. The same when a configuration is replaced without its
// caBundle.
func TestWebhooksAppliedAfterController(t *testing.T) {
	e := newEnvWithoutWebhooks(t)
	e.namespace("order", nil)
	e.createProfile("order", "landlockprofiles", landlockProfile("demo", ""))
	e.launchController("", "--cert-check-interval", "1h")

	e.applyWebhooks()
	applied := time.Now()
	admitted := e.firstAdmitted("order", "first")
	t.Logf("first pod admitted %v after webhooks.yaml was applied", admitted.Sub(applied).Round(time.Millisecond))

	// Replaced (PUT) without its caBundle, as `kubectl replace` does.
	path := "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/podlock-controller"
	status, body := e.do(http.MethodGet, path, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	var cfg map[string]any
	if err := json.Unmarshal(body, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, w := range cfg["webhooks"].([]any) {
		delete(w.(map[string]any)["clientConfig"].(map[string]any), "caBundle")
	}
	if status, body := e.do(http.MethodPut, path, cfg); status != http.StatusOK {
		t.Fatalf("PUT %s: %d %s", path, status, body)
	}
	replaced := time.Now()
	admitted = e.firstAdmitted("order", "second")
	t.Logf("first pod admitted %v after the validating configuration was replaced without its caBundle", admitted.Sub(replaced).Round(time.Millisecond))
}

// firstAdmitted creates a pod bound to profile demo until the API server
// admits one through the webhooks, and returns when it did.
func (e *env) firstAdmitted(ns, name string) time.Time {
	e.t.Helper()
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		status, body := e.do(http.MethodPost, podsPath(ns), podJSON(name, labels("podlock.kubewarden.io/profile", "demo"), nil, nil))
		if status != http.StatusCreated {
			last = fmt.Sprintf("%d %s", status, message(body))
			continue
		}
		at := time.Now()
		var p pod
		if err := json.Unmarshal(body, &p); err != nil {
			e.t.Fatal(err)
		}
		if p.Spec.RuntimeClassName != "podlock" {
			e.t.Fatalf("pod %s admitted without the mutating webhook: %s", name, body)
		}
		return at
	}
	e.t.Fatalf("no pod admitted within 60 s; last refusal: %s", last)
	return time.Time{}
}

// Two replicas in one network namespace, as two pods of the host network
// on one node are, share their ports with --reuse-port: both serve the
// webhooks, and when one stops the other goes on.
func TestReplicasSharePorts(t *testing.T) {
	a := newEnv(t)
	a.namespace("shared", nil)
	a.createProfile("shared", "landlockprofiles", landlockProfile("demo", ""))
	a.startController("", "--reuse-port")

	b := *a
	b.p, b.dir = &procState{}, t.TempDir()
	t.Cleanup(b.stop)
	b.launchController("", "--reuse-port")

	// Each replica serves a certificate of its own: connections to the
	// port reach both.
	serials := map[string]bool{}
	a.waitFor("both replicas to serve the webhook port", 30*time.Second, func() (bool, string) {
		if s, err := a.servedCertificate(); err == nil {
			serials[s] = true
		}
		return len(serials) == 2, fmt.Sprintf("%d serving certificates seen", len(serials))
	})
	for i := range 10 {
		a.createPod("shared", podJSON(fmt.Sprintf("p%d", i), labels("podlock.kubewarden.io/profile", "demo"), nil, nil))
	}

	a.stop()
	if p := a.createPod("shared", podJSON("after", labels("podlock.kubewarden.io/profile", "demo"), nil, nil)); p.Spec.RuntimeClassName != "podlock" {
		t.Errorf("with one replica stopped, a labelled pod was admitted as %+v", p)
	}
}
