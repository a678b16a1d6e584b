package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubewarden/podlock/node/publish"
	"github.com/kubewarden/podlock/runtime/record"
	kubetest "github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// recordingsEnv is a control plane with podlock's CRDs, the node agent's
// RBAC and both of its admission policies, and nodes that each have a
// podlock-node kubeconfig with the token of the DaemonSet's pod there.
type recordingsEnv struct {
	cp          *kubetest.ControlPlane
	bin         string
	dir         string
	kubeconfigs map[string]string
	tokens      map[string]string
}

func newRecordingsEnv(t *testing.T, nodes ...string) *recordingsEnv {
	t.Helper()
	cp := kubetest.StartControlPlane(t, kubetest.Options{})
	for _, m := range manifests(t, "crds/*.yaml", "kubernetes/namespace.yaml", "kubernetes/node-rbac.yaml",
		"kubernetes/node-admission-policy.yaml", "kubernetes/node-recordings-policy.yaml") {
		cp.Apply(t, m)
	}
	cp.Apply(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n"))
	e := &recordingsEnv{cp: cp, bin: testenv.Binaries(t), dir: t.TempDir(), kubeconfigs: map[string]string{}, tokens: map[string]string{}}
	for _, n := range nodes {
		cp.Apply(t, []byte(fmt.Sprintf("apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n", n)))
		e.tokens[n] = agentPodToken(t, cp, n)
		e.kubeconfigs[n] = filepath.Join(e.dir, n+".kubeconfig")
		if err := cp.WriteKubeconfig(e.kubeconfigs[n], "agent", e.tokens[n]); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// record writes, with the recorder's own code, what a run of container web
// of pod did on node: path read by /bin/app and one system call.
func (e *recordingsEnv) record(t *testing.T, node, pod, path, syscall string) {
	t.Helper()
	rec := record.NewRecording()
	rec.Path([]string{"/bin/app"}, path, record.Read)
	rec.Syscall(syscall)
	out := record.Output{File: filepath.Join(e.dir, node, "team-a", "learned.yaml"), Namespace: "team-a", Profile: "learned",
		Container: "web", Pod: pod}
	if err := os.MkdirAll(filepath.Dir(out.File), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := out.Save(rec); err != nil {
		t.Fatal(err)
	}
}

// publish runs `podlock-node run --once` for node: it publishes the node's
// record directory.
func (e *recordingsEnv) publish(node string) error {
	_, err := e.publishOutput(node)
	return err
}

// publishOutput is publish, returning podlock-node's log.
func (e *recordingsEnv) publishOutput(node string) (string, error) {
	bin := filepath.Join(e.dir, node+"-bin")
	cmd := exec.Command(filepath.Join(e.bin, "podlock-node"), "run", "--once", "--host-root=/", "--bin-dir="+bin,
		"--config-dir="+filepath.Join(e.dir, node+"-config"), "--node-name="+node, "--kubeconfig="+e.kubeconfigs[node],
		"--record-dir="+filepath.Join(e.dir, node), "--report-denials=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("podlock-node on %s: %v\n%s", node, err, out)
	}
	return string(out), nil
}

type ruleEvidence struct {
	Kind, Value string
	Count       int64
	Pods, Nodes []string
}

type recordedObject struct {
	Metadata struct {
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec   json.RawMessage `json:"spec"`
	Status struct {
		Recording struct {
			Source string         `json:"source"`
			Nodes  []string       `json:"nodes"`
			Rules  []ruleEvidence `json:"rules"`
		} `json:"recording"`
	} `json:"status"`
}

func (e *recordingsEnv) get(t *testing.T, resource, name string) recordedObject {
	t.Helper()
	status, body, err := e.cp.Do(http.MethodGet, "/apis/podlock.kubewarden.io/v1alpha1/namespaces/team-a/"+resource+"/"+name, nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("%s %s: %d %v %s", resource, name, status, err, body)
	}
	var o recordedObject
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func evidence(o recordedObject) map[string]string {
	out := map[string]string{}
	for _, r := range o.Status.Recording.Rules {
		out[r.Kind+" "+r.Value] = fmt.Sprintf("count=%d pods=%v nodes=%v", r.Count, r.Pods, r.Nodes)
	}
	return out
}

// Two podlock-node instances, on two nodes, publish their recordings of
// the same profile into one LandlockProfile and one SeccompProfile whose
// evidence names both; publishing again changes no count.
func TestRecordingsMergeAcrossNodes(t *testing.T) {
	e := newRecordingsEnv(t, "node-a", "node-b")
	e.record(t, "node-a", "web-1", "/etc/a", "openat")
	e.record(t, "node-b", "web-2", "/etc/a", "openat")
	e.record(t, "node-b", "web-3", "/etc/b", "poll")
	for _, n := range []string{"node-a", "node-b", "node-a", "node-b"} {
		if err := e.publish(n); err != nil {
			t.Fatal(err)
		}
	}
	ll := e.get(t, "landlockprofiles", "learned-recorded")
	want := map[string]string{
		"path /etc/a": "count=2 pods=[web-1 web-2] nodes=[node-a node-b]",
		"path /etc/b": "count=1 pods=[web-3] nodes=[node-b]",
	}
	if got := evidence(ll); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("LandlockProfile evidence:\n got %v\nwant %v", got, want)
	}
	if ll.Metadata.Labels[publish.LabelRecordedFrom] != "learned" || ll.Status.Recording.Source != "learned" ||
		fmt.Sprint(ll.Status.Recording.Nodes) != "[node-a node-b]" {
		t.Errorf("LandlockProfile: labels %v, recording source %q nodes %v", ll.Metadata.Labels, ll.Status.Recording.Source, ll.Status.Recording.Nodes)
	}
	var spec struct {
		Mode                string                                    `json:"mode"`
		ProfilesByContainer map[string]map[string]map[string][]string `json:"profilesByContainer"`
		SeccompByContainer  map[string]string                         `json:"seccompByContainer"`
	}
	if err := json.Unmarshal(ll.Spec, &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Mode != "Enforce" || fmt.Sprint(spec.ProfilesByContainer["web"]["/bin/app"]["readOnly"]) != "[/etc/a /etc/b]" ||
		spec.SeccompByContainer["web"] != "learned-recorded-web" {
		t.Errorf("LandlockProfile spec: %s", ll.Spec)
	}
	sp := e.get(t, "seccompprofiles", "learned-recorded-web")
	got := evidence(sp)
	if got["syscall openat"] != "count=2 pods=[web-1 web-2] nodes=[node-a node-b]" || got["syscall poll"] != "count=1 pods=[web-3] nodes=[node-b]" {
		t.Errorf("SeccompProfile evidence: %v", got)
	}
}

// Many nodes publishing at once, each with its own rule, conflict on the
// same objects; every rule and every count survives.
func TestRecordingsConcurrentWriters(t *testing.T) {
	var nodes []string
	for i := range 6 {
		nodes = append(nodes, fmt.Sprintf("node-%d", i))
	}
	e := newRecordingsEnv(t, nodes...)
	for i, n := range nodes {
		e.record(t, n, fmt.Sprintf("web-%d", i), fmt.Sprintf("/data/%d", i), "openat")
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	logs := make([]string, len(nodes))
	start := time.Now()
	for i, n := range nodes {
		wg.Go(func() { logs[i], errs[i] = e.publishOutput(n) })
	}
	wg.Wait()
	retried := 0
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		var last struct {
			Retried int `json:"conflictsRetried"`
		}
		for _, line := range strings.Split(logs[i], "\n") {
			if strings.Contains(line, "recording published") {
				if err := json.Unmarshal([]byte(line), &last); err != nil {
					t.Fatalf("%v: %s", err, line)
				}
			}
		}
		retried += last.Retried
	}
	t.Logf("%d nodes published concurrently in %v, retrying %d writes after a conflict", len(nodes), time.Since(start).Round(time.Millisecond), retried)
	ll := e.get(t, "landlockprofiles", "learned-recorded")
	if got := evidence(ll); len(got) != len(nodes) || len(ll.Status.Recording.Nodes) != len(nodes) {
		t.Errorf("after %d concurrent writers: %v, nodes %v", len(nodes), got, ll.Status.Recording.Nodes)
	}
	if got := evidence(e.get(t, "seccompprofiles", "learned-recorded-web"))["syscall openat"]; !strings.HasPrefix(got, fmt.Sprintf("count=%d ", len(nodes))) {
		t.Errorf("openat: %s", got)
	}
}

// The admission policy lets podlock-node write only the recordings: never
// a profile a user wrote, nor another name, nor a changed label.
func TestRecordingsPolicy(t *testing.T) {
	e := newRecordingsEnv(t, "node-a")
	token := e.tokens["node-a"]
	cp := e.cp
	const base = "/apis/podlock.kubewarden.io/v1alpha1/namespaces/team-a/"
	cp.Apply(t, []byte("apiVersion: podlock.kubewarden.io/v1alpha1\nkind: LandlockProfile\nmetadata:\n  name: web\n  namespace: team-a\nspec:\n  mode: Enforce\n"))
	cp.Apply(t, []byte("apiVersion: podlock.kubewarden.io/v1alpha1\nkind: LandlockProfile\nmetadata:\n  name: web-recorded\n  namespace: team-a\nspec:\n  mode: Enforce\n"))

	landlock := func(name, from string) []byte {
		labels := ""
		if from != "" {
			labels = fmt.Sprintf(`,"labels":{%q:%q}`, publish.LabelRecordedFrom, from)
		}
		return []byte(fmt.Sprintf(`{"apiVersion":"podlock.kubewarden.io/v1alpha1","kind":"LandlockProfile","metadata":{"name":%q,"namespace":"team-a"%s},"spec":{"mode":"Enforce"}}`, name, labels))
	}
	seccomp := func(name, from string) []byte {
		return []byte(fmt.Sprintf(`{"apiVersion":"podlock.kubewarden.io/v1alpha1","kind":"SeccompProfile","metadata":{"name":%q,"namespace":"team-a","labels":{%q:%q}},"spec":{"defaultAction":"SCMP_ACT_ERRNO"}}`, name, publish.LabelRecordedFrom, from))
	}
	// update replaces an object as the agent, with the labels given, from
	// its current version.
	update := func(resource, name string, labels map[string]string) (int, string) {
		_, body, err := cp.Do(http.MethodGet, base+strings.TrimSuffix(resource, "/status")+"/"+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatal(err)
		}
		obj["metadata"].(map[string]any)["labels"] = labels
		data, _ := json.Marshal(obj)
		path := base + resource + "/" + name
		if sub, ok := strings.CutSuffix(resource, "/status"); ok {
			path = base + sub + "/" + name + "/status"
		}
		status, resp, err := cp.DoAs(token, http.MethodPut, path, data)
		if err != nil {
			t.Fatal(err)
		}
		return status, string(resp)
	}

	for _, tt := range []struct {
		name    string
		do      func() (int, string)
		status  int
		message string
	}{
		{"create a recording", func() (int, string) {
			return post(t, cp, token, base+"landlockprofiles", landlock("learned-recorded", "learned"))
		},
			http.StatusCreated, ""},
		{"create a container's recording", func() (int, string) {
			return post(t, cp, token, base+"seccompprofiles", seccomp("learned-recorded-web", "learned"))
		}, http.StatusCreated, ""},
		{"create an unlabelled profile", func() (int, string) { return post(t, cp, token, base+"landlockprofiles", landlock("other", "")) },
			http.StatusForbidden, "may only write profiles labelled podlock.kubewarden.io/recorded-from"},
		{"create a labelled profile of another name", func() (int, string) {
			return post(t, cp, token, base+"landlockprofiles", landlock("learned", "learned"))
		}, http.StatusForbidden, "may only write the recordings of learned: LandlockProfile learned-recorded, not learned"},
		{"create a SeccompProfile of another name", func() (int, string) {
			return post(t, cp, token, base+"seccompprofiles", seccomp("learned-web", "learned"))
		}, http.StatusForbidden, "not learned-web"},
		{"update a user's profile", func() (int, string) {
			return update("landlockprofiles", "web", map[string]string{publish.LabelRecordedFrom: "web"})
		}, http.StatusForbidden, "web is not a recording"},
		{"update a user's profile of the recorded name", func() (int, string) {
			return update("landlockprofiles", "web-recorded", map[string]string{publish.LabelRecordedFrom: "web"})
		}, http.StatusForbidden, "web-recorded is not a recording"},
		{"update the status of a user's profile", func() (int, string) {
			// A status update keeps the stored labels, whatever it sends.
			return update("landlockprofiles/status", "web", map[string]string{publish.LabelRecordedFrom: "web"})
		}, http.StatusForbidden, "may only write profiles labelled podlock.kubewarden.io/recorded-from"},
		{"change a recording's label", func() (int, string) {
			return update("landlockprofiles", "learned-recorded", map[string]string{publish.LabelRecordedFrom: "learned-recorded"})
		}, http.StatusForbidden, "was recorded from learned"},
		{"update a recording", func() (int, string) {
			return update("landlockprofiles", "learned-recorded", map[string]string{publish.LabelRecordedFrom: "learned"})
		}, http.StatusOK, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tt.do()
			if status != tt.status || !strings.Contains(body, tt.message) {
				t.Errorf("%d %s, want %d with %q", status, body, tt.status, tt.message)
			}
		})
	}
}

func post(t *testing.T, cp *kubetest.ControlPlane, token, path string, body []byte) (int, string) {
	t.Helper()
	status, resp, err := cp.DoAs(token, http.MethodPost, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, string(resp)
}
