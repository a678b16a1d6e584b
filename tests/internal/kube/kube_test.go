package kube

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const nodeUser = "system:node:podlock-test"

func TestControlPlane(t *testing.T) {
	cp := StartControlPlane(t, Options{Tokens: map[string][]string{nodeUser: {"podlock:nodes"}}})

	if !strings.HasPrefix(cp.URL(), "https://127.0.0.1:") {
		t.Errorf("URL() = %q, want https://127.0.0.1:PORT", cp.URL())
	}
	if !strings.Contains(string(cp.CACert()), "BEGIN CERTIFICATE") {
		t.Errorf("CACert() is not a PEM certificate: %q", cp.CACert())
	}

	// A namespace as JSON, a ConfigMap as YAML.
	mustDo(t, cp, http.MethodPost, "/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"podlock-test"}}`, http.StatusCreated)
	mustDo(t, cp, http.MethodPost, "/api/v1/namespaces/podlock-test/configmaps", `
apiVersion: v1
kind: ConfigMap
metadata:
  name: demo
data:
  key: value
`, http.StatusCreated)
	mustDo(t, cp, http.MethodPost, "/api/v1/namespaces/podlock-test/secrets", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"k":"v"}}`, http.StatusCreated)
	body := mustDo(t, cp, http.MethodGet, "/api/v1/namespaces/podlock-test/configmaps/demo", "", http.StatusOK)
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(body, &cm); err != nil || cm.Data["key"] != "value" {
		t.Fatalf("configmap demo: %v %s", err, body)
	}

	// The node identity may read configmaps (granted below) and nothing else.
	cp.Apply(t, []byte(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: podlock-test-read-configmaps
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
# a comment-only document is skipped
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: podlock-test-read-configmaps
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: podlock-test-read-configmaps
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: podlock:nodes
`))
	// Apply twice: server-side apply updates in place.
	cp.Apply(t, []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied","namespace":"podlock-test"},"data":{"a":"1"}}`))
	cp.Apply(t, []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied","namespace":"podlock-test"},"data":{"a":"2"}}`))
	body = mustDo(t, cp, http.MethodGet, "/api/v1/namespaces/podlock-test/configmaps/applied", "", http.StatusOK)
	if !strings.Contains(string(body), `"a":"2"`) {
		t.Errorf("applied configmap: %s", body)
	}

	// A CRD and an object of it in one manifest: Apply waits for the
	// resource to be served.
	cp.Apply(t, []byte(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.podlock.io
spec:
  group: test.podlock.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: test.podlock.io/v1
kind: Widget
metadata:
  name: w
  namespace: podlock-test
spec:
  size: 3
`))
	body = mustDo(t, cp, http.MethodGet, "/apis/test.podlock.io/v1/namespaces/podlock-test/widgets/w", "", http.StatusOK)
	if !strings.Contains(string(body), `"size":3`) {
		t.Errorf("widget: %s", body)
	}

	tok := cp.Token(nodeUser)
	for _, c := range []struct {
		token, path string
		want        int
	}{
		{tok, "/api/v1/namespaces/podlock-test/configmaps/demo", http.StatusOK},
		{tok, "/api/v1/namespaces/podlock-test/secrets", http.StatusForbidden},
		{tok, "/api/v1/namespaces/podlock-test/secrets/s", http.StatusForbidden},
		{"not-a-token", "/api/v1/namespaces/podlock-test/configmaps/demo", http.StatusUnauthorized},
		{cp.AdminToken(), "/api/v1/namespaces/podlock-test/secrets/s", http.StatusOK},
	} {
		status, body, err := cp.DoAs(c.token, http.MethodGet, c.path, nil)
		if err != nil || status != c.want {
			t.Errorf("GET %s: %d %v %s, want %d", c.path, status, err, body, c.want)
		}
	}

	// A kubeconfig for the node identity.
	kc := filepath.Join(t.TempDir(), "node.kubeconfig")
	if err := cp.WriteKubeconfig(kc, nodeUser, tok); err != nil {
		t.Fatal(err)
	}
	checkKubeconfig(t, kc, cp.URL(), nodeUser, tok, cp.CACert())

	// Stop and restart the apiserver: etcd keeps the data, the URL and
	// the certificate stay.
	url, ca := cp.URL(), string(cp.CACert())
	cp.Stop()
	if status, _, err := cp.Do(http.MethodGet, "/api/v1/namespaces/podlock-test/configmaps/demo", nil); err == nil {
		t.Fatalf("a stopped apiserver answered %d", status)
	}
	if err := cp.Restart(); err != nil {
		t.Fatal(err)
	}
	if cp.URL() != url || string(cp.CACert()) != ca {
		t.Errorf("Restart changed the URL or the certificate")
	}
	status, _, err := cp.DoAs(tok, http.MethodGet, "/api/v1/namespaces/podlock-test/configmaps/demo", nil)
	if err != nil || status != http.StatusOK {
		t.Errorf("after Restart: %d %v", status, err)
	}
}

func mustDo(t *testing.T, cp *ControlPlane, method, path, body string, want int) []byte {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	status, resp, err := cp.Do(method, path, b)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, status, resp, want)
	}
	return resp
}

func checkKubeconfig(t *testing.T, path, server, user, token string, ca []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		Clusters []struct {
			Cluster struct {
				Server string `json:"server"`
				CAData []byte `json:"certificate-authority-data"`
			} `json:"cluster"`
		} `json:"clusters"`
		Users []struct {
			Name string `json:"name"`
			User struct {
				Token string `json:"token"`
			} `json:"user"`
		} `json:"users"`
		CurrentContext string `json:"current-context"`
	}
	if err := yaml.Unmarshal(data, &kc); err != nil {
		t.Fatalf("kubeconfig: %v\n%s", err, data)
	}
	if len(kc.Clusters) != 1 || kc.Clusters[0].Cluster.Server != server || string(kc.Clusters[0].Cluster.CAData) != string(ca) ||
		len(kc.Users) != 1 || kc.Users[0].Name != user || kc.Users[0].User.Token != token || kc.CurrentContext == "" {
		t.Errorf("kubeconfig:\n%s", data)
	}
}

func TestSplitManifest(t *testing.T) {
	objs, err := splitManifest([]byte(`
# leading comment
apiVersion: v1
kind: Namespace
metadata:
  name: a
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: b, namespace: a}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c, namespace: a}
`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		var m objectMeta
		if err := json.Unmarshal(o, &m); err != nil {
			t.Fatal(err)
		}
		names = append(names, m.Kind+"/"+m.Metadata.Name)
	}
	if got := strings.Join(names, " "); got != "Namespace/a ConfigMap/b ConfigMap/c" {
		t.Errorf("splitManifest: %s", got)
	}
}

func TestToolsDir(t *testing.T) {
	t.Setenv("PODLOCK_TOOLS_DIR", "")
	t.Setenv("PODLOCK_TOOLS_CACHE", "")
	want := filepath.Join(repoRoot(), ".cache", "tools", "bin")
	if got := ToolsDir(); got != want {
		t.Errorf("ToolsDir() = %s, want %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(repoRoot(), "go.mod")); err != nil {
		t.Errorf("repoRoot() = %s: %v", repoRoot(), err)
	}
	t.Setenv("PODLOCK_TOOLS_CACHE", "/x")
	if got := ToolsDir(); got != "/x/bin" {
		t.Errorf("ToolsDir() with PODLOCK_TOOLS_CACHE=/x: %s", got)
	}
	t.Setenv("PODLOCK_TOOLS_DIR", "/y")
	if got := ToolsDir(); got != "/y" {
		t.Errorf("ToolsDir() with PODLOCK_TOOLS_DIR=/y: %s", got)
	}
}

func TestPortTaken(t *testing.T) {
	log := filepath.Join(t.TempDir(), "x.log")
	if portTaken(log) {
		t.Error("a missing log reports a taken port")
	}
	os.WriteFile(log, []byte("==== run 1\nlisten tcp 127.0.0.1:1: bind: address already in use\n==== run 2\nError: unknown flag\n"), 0o644)
	if portTaken(log) {
		t.Error("an earlier run's error counts")
	}
	os.WriteFile(log, []byte("==== run 1\nError: unknown flag\n==== run 2\nlisten tcp 127.0.0.1:1: bind: address already in use\n"), 0o644)
	if !portTaken(log) {
		t.Error("the last run's error does not count")
	}
}

// With Controllers, Deployments make pods, the scheduler binds them to a
// ready node, and namespaces get their service account and CA.
func TestControllers(t *testing.T) {
	cp := StartControlPlane(t, Options{Controllers: true})
	// A node without a kubelet: ready for as long as the test lasts.
	mustDo(t, cp, http.MethodPost, "/api/v1/nodes", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"fake"}}`, http.StatusCreated)
	mustDo(t, cp, http.MethodPatch, "/api/v1/nodes/fake/status", `{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Test"}],
		"allocatable":{"cpu":"4","memory":"8Gi","pods":"10"},"capacity":{"cpu":"4","memory":"8Gi","pods":"10"}}}`, http.StatusOK)
	mustDo(t, cp, http.MethodPost, "/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"apps"}}`, http.StatusCreated)
	waitFor(t, "the service account and CA of namespace apps", func() bool {
		sa, _, _ := cp.Do(http.MethodGet, "/api/v1/namespaces/apps/serviceaccounts/default", nil)
		ca, _, _ := cp.Do(http.MethodGet, "/api/v1/namespaces/apps/configmaps/kube-root-ca.crt", nil)
		return sa == http.StatusOK && ca == http.StatusOK
	})
	cp.Apply(t, []byte(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      automountServiceAccountToken: false
      containers: [{name: web, image: busybox}]
`))
	waitFor(t, "the Deployment's two pods bound to node fake", func() bool {
		_, body, err := cp.Do(http.MethodGet, "/api/v1/namespaces/apps/pods?labelSelector=app%3Dweb", nil)
		if err != nil {
			return false
		}
		var list struct {
			Items []struct {
				Spec struct {
					NodeName string `json:"nodeName"`
				} `json:"spec"`
			} `json:"items"`
		}
		if json.Unmarshal(body, &list) != nil || len(list.Items) != 2 {
			return false
		}
		for _, p := range list.Items {
			if p.Spec.NodeName != "fake" {
				return false
			}
		}
		return true
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
