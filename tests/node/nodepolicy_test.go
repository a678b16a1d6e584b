package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	kubetest "github.com/kubewarden/podlock/tests/internal/kube"
)

// agentPodToken returns a token of podlock-node's service account bound
// to a pod of the DaemonSet's on node, like the one the kubelet mounts
// into that pod: it carries the node's name.
func agentPodToken(t *testing.T, cp *kubetest.ControlPlane, node string) string {
	t.Helper()
	pod := "podlock-node-" + node
	cp.Apply(t, []byte(fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: podlock-system
spec:
  serviceAccountName: podlock-node-agent
  automountServiceAccountToken: false
  nodeName: %s
  containers:
  - name: agent
    image: podlock
`, pod, node)))
	status, body, err := cp.Do(http.MethodGet, "/api/v1/namespaces/podlock-system/pods/"+pod, nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("pod %s: %d %v %s", pod, status, err, body)
	}
	var p struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	request := fmt.Sprintf(`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":3600,"boundObjectRef":{"apiVersion":"v1","kind":"Pod","name":%q,"uid":%q}}}`, pod, p.Metadata.UID)
	status, body, err = cp.Do(http.MethodPost, "/api/v1/namespaces/podlock-system/serviceaccounts/podlock-node-agent/token", []byte(request))
	if err != nil || status != http.StatusCreated {
		t.Fatalf("token request: %d %v %s", status, err, body)
	}
	var tr struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.Status.Token == "" {
		t.Fatalf("token request: %v %s", err, body)
	}
	return tr.Status.Token
}

// podlock-node may change only its own node, and only podlock's labels
// there: the shipped ValidatingAdmissionPolicy refuses the rest, although
// RBAC allows patching every node.
func TestNodePatchPolicy(t *testing.T) {
	cp := kubetest.StartControlPlane(t, kubetest.Options{Tokens: map[string][]string{agentUser: nil}})
	for _, m := range manifests(t, "kubernetes/namespace.yaml", "kubernetes/node-rbac.yaml", "kubernetes/node-admission-policy.yaml") {
		cp.Apply(t, m)
	}
	for _, n := range []string{"node-a", "node-b"} {
		cp.Apply(t, []byte(fmt.Sprintf("apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n  labels:\n    kubernetes.io/hostname: %s\n  annotations:\n    example.com/owner: ops\n", n, n)))
	}
	token := agentPodToken(t, cp, "node-a")

	// The token is the agent's and names node-a.
	status, body, err := cp.DoAs(token, http.MethodPost, "/apis/authentication.k8s.io/v1/selfsubjectreviews", []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`))
	if err != nil || status != http.StatusCreated {
		t.Fatalf("self subject review: %d %v %s", status, err, body)
	}
	var review struct {
		Status struct {
			UserInfo struct {
				Username string              `json:"username"`
				Extra    map[string][]string `json:"extra"`
			} `json:"userInfo"`
		} `json:"status"`
	}
	if err := json.Unmarshal(body, &review); err != nil {
		t.Fatal(err)
	}
	if u := review.Status.UserInfo; u.Username != agentUser || strings.Join(u.Extra["authentication.kubernetes.io/node-name"], ",") != "node-a" {
		t.Fatalf("the token is %s with node-name %q, want %s on node-a", u.Username, u.Extra["authentication.kubernetes.io/node-name"], agentUser)
	}

	patch := func(token, node, body string) (int, string) {
		t.Helper()
		status, resp, err := cp.DoAs(token, http.MethodPatch, "/api/v1/nodes/"+node, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return status, string(resp)
	}
	labels := `{"metadata":{"labels":{"podlock.kubewarden.io/ready":"true","podlock.kubewarden.io/landlock-version":"7"}}}`
	// The policy takes effect once the API server has loaded it.
	waitFor(t, "the policy to be in effect", func() bool {
		status, _ := patch(token, "node-b", labels)
		return status == http.StatusForbidden
	})
	for _, tc := range []struct {
		name, token, node, patch string
		refusal                  string // "" when allowed
	}{
		{"podlock labels on its own node", token, "node-a", labels, ""},
		{"a podlock label removed on its own node", token, "node-a", `{"metadata":{"labels":{"podlock.kubewarden.io/landlock-version":null}}}`, ""},
		{"podlock labels on another node", token, "node-b", labels, "its token names node node-a, not node-b"},
		{"another label", token, "node-a", `{"metadata":{"labels":{"example.com/role":"db"}}}`, "may only change labels podlock.kubewarden.io/*"},
		{"another label removed", token, "node-a", `{"metadata":{"labels":{"kubernetes.io/hostname":null}}}`, "may only change labels podlock.kubewarden.io/*"},
		{"an annotation", token, "node-a", `{"metadata":{"annotations":{"example.com/owner":"podlock"}}}`, "not a node's annotations"},
		{"a taint", token, "node-a", `{"spec":{"taints":[{"key":"example.com/drain","effect":"NoSchedule"}]}}`, "not a node's annotations"},
		{"unschedulable", token, "node-a", `{"spec":{"unschedulable":true}}`, "not a node's annotations"},
		{"a token without a node", cp.Token(agentUser), "node-a", labels, "its token names node (none)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, resp := patch(tc.token, tc.node, tc.patch)
			switch {
			case tc.refusal == "" && status != http.StatusOK:
				t.Errorf("refused: %d %s", status, resp)
			case tc.refusal != "" && (status != http.StatusForbidden || !strings.Contains(resp, "podlock-node-agent") || !strings.Contains(resp, tc.refusal)):
				t.Errorf("got %d %s, want 403 with %q", status, resp, tc.refusal)
			}
		})
	}
	t.Run("status, even where RBAC allows it", func(t *testing.T) {
		cp.Apply(t, []byte(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: node-status
rules:
- apiGroups: [""]
  resources: [nodes/status]
  verbs: [patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: node-status
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: node-status
subjects:
- kind: ServiceAccount
  name: podlock-node-agent
  namespace: podlock-system
`))
		var status int
		var resp []byte
		waitFor(t, "RBAC to allow the status patch", func() bool {
			status, resp, err = cp.DoAs(token, http.MethodPatch, "/api/v1/nodes/node-a/status", []byte(`{"status":{"capacity":{"pods":"1"}}}`))
			return err == nil && !strings.Contains(string(resp), "cannot patch resource")
		})
		if status != http.StatusForbidden || !strings.Contains(string(resp), "not its status") {
			t.Errorf("status patch: %d %s, want 403 from the policy", status, resp)
		}
	})
	t.Run("others are not concerned", func(t *testing.T) {
		if status, resp := patch(cp.AdminToken(), "node-b", `{"metadata":{"labels":{"example.com/role":"db"}}}`); status != http.StatusOK {
			t.Errorf("admin label patch: %d %s", status, resp)
		}
	})
}
