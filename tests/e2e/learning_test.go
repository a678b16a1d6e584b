package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubewarden/podlock/tests/internal/cluster"
	"github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/podlockctl"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// learnerDeployment runs the record script in 2 replicas bound to profile
// learning, then sleeps: the pods of a Deployment are those of a workload
// that keeps running while it is recorded.
const learnerDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: learner
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: learner}
  template:
    metadata:
      labels: {app: learner, podlock.kubewarden.io/profile: learning}
    spec:
      hostNetwork: true
      automountServiceAccountToken: false
      enableServiceLinks: false
      dnsPolicy: Default
      terminationGracePeriodSeconds: 1
      securityContext:
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: app
        image: %s
        imagePullPolicy: Never
        command: [sh, -c, %q]
`

// The learning workflow as a cluster user runs it, without reading any
// node file: a Deployment of 2 replicas bound to a profile in mode Record
// runs a script; podlock-node publishes the recording as the
// LandlockProfile learning-recorded, with the accesses of both replicas
// and their evidence; kubectl podlock promote makes it the profile in
// force; the next pods run the script confined, and a path outside the
// recording is denied.
func TestLearningWorkflow(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Controllers: true, Kube: kube.Options{Tokens: map[string][]string{podlockctl.AgentUser: nil}}})
	podlockctl.Start(t, c.API, controllerConfig)
	policy, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(), "install", "kubernetes", "node-recordings-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c.API.Apply(t, policy)
	podlockctl.StartNodeAgent(t, c.API, cluster.NodeName, c.PodlockIndexDir(),
		"--report-denials=false", "--record-dir="+c.PodlockRecordDir(), "--publish-every=1s")
	c.API.Apply(t, []byte(`
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: learning
  namespace: default
spec:
  mode: Record
`))
	began := time.Now()
	c.API.Apply(t, []byte(fmt.Sprintf(learnerDeployment, cluster.BusyboxImage, recordScript("")+"; sleep 3600")))
	t.Cleanup(func() { c.API.Do(http.MethodDelete, "/apis/apps/v1/namespaces/default/deployments/learner", nil) })

	replicas := waitReplicas(t, c, 2)
	t.Logf("replicas %v running %v after the Deployment was applied", replicas, time.Since(began).Round(time.Millisecond))

	// What `kubectl get landlockprofiles learning-recorded -o json` shows.
	const recordedPath = "/apis/podlock.kubewarden.io/v1alpha1/namespaces/default/landlockprofiles/learning-recorded"
	var recorded recordedProfile
	deadline := time.Now().Add(2 * time.Minute)
	for {
		status, body, err := c.API.Do(http.MethodGet, recordedPath, nil)
		if err == nil && status == http.StatusOK {
			recorded = recordedProfile{}
			if err := json.Unmarshal(body, &recorded); err != nil {
				t.Fatal(err)
			}
			if r := recorded.rule("/etc/passwd"); r != nil && slices.Contains(r.Pods, replicas[0]) && slices.Contains(r.Pods, replicas[1]) {
				t.Logf("recording of both replicas published %v after the Deployment was applied:\n%s", time.Since(began).Round(time.Millisecond), body)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recording with both replicas' evidence: %d %v %s", status, err, body)
		}
		time.Sleep(time.Second)
	}
	if r := recorded.rule("/etc/passwd"); r.Count < 2 || !slices.Contains(r.Nodes, cluster.NodeName) || r.FirstSeen == "" || r.LastSeen == "" {
		t.Errorf("evidence of /etc/passwd: %+v", *r)
	}
	if recorded.Spec.Mode != "Enforce" || recorded.Metadata.Labels["podlock.kubewarden.io/recorded-from"] != "learning" {
		t.Errorf("recorded profile: mode %q, labels %v", recorded.Spec.Mode, recorded.Metadata.Labels)
	}

	// Promote as the user does, with the user's kubeconfig.
	kubeconfig := filepath.Join(t.TempDir(), "user.kubeconfig")
	if err := c.API.WriteKubeconfig(kubeconfig, "admin", c.API.AdminToken()); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(testenv.Binaries(t), "kubectl-podlock"), "promote", "learning", "-n", "default", "--yes", "--kubeconfig", kubeconfig).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl-podlock promote: %v\n%s", err, out)
	}
	t.Logf("kubectl-podlock promote:\n%s", out)
	if status, _, err := c.API.Do(http.MethodDelete, "/apis/apps/v1/namespaces/default/deployments/learner", nil); err != nil || status != http.StatusOK {
		t.Fatalf("deleting the Deployment: %d %v", status, err)
	}

	wantOut := []string{"hi", "id", "0", "done"}
	_, log := run(t, c, pod("promoted", recordScript(""), withProfile("learning"), withRuntimeDefault))
	wantLines(t, "stdout under the promoted profile", log.Stdout, wantOut)
	wantLines(t, "stderr under the promoted profile", log.Stderr, nil)
	_, log = run(t, c, pod("promoted-more", recordScript("cat /etc/group; "), withProfile("learning"), withRuntimeDefault))
	wantLines(t, "stdout with one more path", log.Stdout, wantOut)
	wantLines(t, "stderr with one more path", log.Stderr, []string{"cat: can't open '/etc/group': Permission denied"})
}

// recordedProfile is the part of a published recording the test reads.
type recordedProfile struct {
	Metadata struct {
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Mode string `json:"mode"`
	} `json:"spec"`
	Status struct {
		Recording struct {
			Rules []recordedRule `json:"rules"`
		} `json:"recording"`
	} `json:"status"`
}

// recordedRule is the evidence of one rule.
type recordedRule struct {
	Kind, Value         string
	Count               int64
	Pods, Nodes         []string
	FirstSeen, LastSeen string
}

// rule returns the evidence of the path rule that grants path, itself or
// through a directory above it.
func (p *recordedProfile) rule(path string) *recordedRule {
	for i, r := range p.Status.Recording.Rules {
		if r.Kind == "path" && (r.Value == path || strings.HasPrefix(path, r.Value+"/")) {
			return &p.Status.Recording.Rules[i]
		}
	}
	return nil
}

// waitReplicas waits until n pods of the Deployment learner run, and
// returns their names.
func waitReplicas(t *testing.T, c *cluster.Cluster, n int) []string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		status, body, err := c.API.Do(http.MethodGet, "/api/v1/namespaces/default/pods?labelSelector=app%3Dlearner", nil)
		var list corev1.PodList
		if err == nil && status == http.StatusOK && json.Unmarshal(body, &list) == nil {
			var running []string
			for _, p := range list.Items {
				if p.Status.Phase == corev1.PodRunning {
					running = append(running, p.Name)
				}
			}
			if len(running) == n {
				slices.Sort(running)
				return running
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d replicas of learner do not run: %d %v %s", n, status, err, body)
		}
		time.Sleep(time.Second)
	}
}
