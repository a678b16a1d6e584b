// Package plugin tests kubectl-podlock, the binary, against a real etcd
// and kube-apiserver with podlock's CRDs installed: the objects it reads
// (recordings, denial Events, node labels) are written as podlock-node
// writes them, and what it writes is read back from the API server.
package plugin

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

const group = "/apis/podlock.kubewarden.io/v1alpha1"

type env struct {
	t          *testing.T
	cp         *kube.ControlPlane
	bin        string
	kubeconfig string
}

// newEnv starts a control plane with the CRDs, and a kubeconfig of user
// (admin when empty; any other user gets a token and no permissions).
func newEnv(t *testing.T, user string) *env {
	t.Helper()
	opts := kube.Options{}
	if user != "" {
		opts.Tokens = map[string][]string{user: nil}
	}
	cp := kube.StartControlPlane(t, opts)
	root := testenv.ModuleRoot()
	crds, err := filepath.Glob(filepath.Join(root, "install", "crds", "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs in install/crds: %v", err)
	}
	for _, file := range crds {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cp.Apply(t, data)
	}
	e := &env{t: t, cp: cp, bin: filepath.Join(testenv.Binaries(t), "kubectl-podlock"), kubeconfig: filepath.Join(t.TempDir(), "kubeconfig")}
	token := cp.AdminToken()
	if user != "" {
		token = cp.Token(user)
	}
	if err := cp.WriteKubeconfig(e.kubeconfig, cmp.Or(user, "admin"), token); err != nil {
		t.Fatal(err)
	}
	return e
}

// result is what a run of kubectl-podlock printed.
type result struct {
	stdout, stderr string
	err            error
}

// sub is e for a subtest.
func (e *env) sub(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// run runs kubectl-podlock with args, then --kubeconfig, and stdin.
func (e *env) run(stdin string, args ...string) result {
	e.t.Helper()
	return e.exec(e.command(args...), stdin)
}

// offline runs kubectl-podlock with args and stdin, and no kubeconfig.
func (e *env) offline(stdin string, args ...string) result {
	e.t.Helper()
	cmd := e.command(args...)
	cmd.Args = cmd.Args[:len(cmd.Args)-2]
	return e.exec(cmd, stdin)
}

func (e *env) exec(cmd *exec.Cmd, stdin string) result {
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return result{out.String(), errOut.String(), err}
}

// ok runs kubectl-podlock and fails the test unless it succeeds.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	return e.succeeds(e.run("", args...), args)
}

func (e *env) succeeds(r result, args []string) string {
	e.t.Helper()
	if r.err != nil {
		e.t.Fatalf("kubectl-podlock %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// command is kubectl-podlock with args; the kubeconfig flag comes last, as
// users type flags after the arguments.
func (e *env) command(args ...string) *exec.Cmd {
	cmd := exec.Command(e.bin, append(args, "--kubeconfig", e.kubeconfig)...)
	// Neither the user's kubeconfig nor a proxy may take part.
	cmd.Env = []string{"HOME=" + e.t.TempDir(), "PATH=" + os.Getenv("PATH")}
	return cmd
}

// do sends a request as admin and fails the test unless the status is
// want; it returns the body.
func (e *env) do(want int, method, path string, body any) []byte {
	e.t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case string:
		data = []byte(b)
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	status, resp, err := e.cp.Do(method, path, data)
	if err != nil || status != want {
		e.t.Fatalf("%s %s: %d (want %d) %v %s", method, path, status, want, err, resp)
	}
	return resp
}

// get reads an object into v, which it zeroes first.
func (e *env) get(path string, v any) {
	e.t.Helper()
	reflect.ValueOf(v).Elem().SetZero()
	if err := json.Unmarshal(e.do(http.StatusOK, http.MethodGet, path, nil), v); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) namespace(name string, labels map[string]string) {
	e.t.Helper()
	e.do(http.StatusCreated, http.MethodPost, "/api/v1/namespaces", map[string]any{"metadata": map[string]any{"name": name, "labels": labels}})
	// Pods need their ServiceAccount, which no controller creates here.
	e.do(http.StatusCreated, http.MethodPost, "/api/v1/namespaces/"+name+"/serviceaccounts", map[string]any{"metadata": map[string]any{"name": "default"}})
}

// pod creates a pod and returns its UID.
func (e *env) pod(namespace, name, node string, labels, annotations map[string]string) string {
	e.t.Helper()
	body := e.do(http.StatusCreated, http.MethodPost, "/api/v1/namespaces/"+namespace+"/pods", map[string]any{
		"metadata": map[string]any{"name": name, "labels": labels, "annotations": annotations},
		"spec": map[string]any{
			"nodeName": node, "automountServiceAccountToken": false,
			"containers": []any{map[string]any{"name": "app", "image": "busybox"}},
		},
	})
	var pod struct {
		Metadata struct{ UID string } `json:"metadata"`
	}
	if err := json.Unmarshal(body, &pod); err != nil {
		e.t.Fatal(err)
	}
	return pod.Metadata.UID
}

// denial posts a PodlockDenied Event on a pod, as podlock-node does.
func (e *env) denial(namespace, pod, uid, node, message string, count int, last time.Time) {
	e.t.Helper()
	ts := last.UTC().Format(time.RFC3339)
	e.do(http.StatusCreated, http.MethodPost, "/api/v1/namespaces/"+namespace+"/events", map[string]any{
		"metadata": map[string]any{"generateName": pod + ".podlock-"},
		"involvedObject": map[string]any{
			"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": pod, "uid": uid,
			"fieldPath": "spec.containers{app}",
		},
		"reason": "PodlockDenied", "message": message, "type": "Warning",
		"source":         map[string]any{"component": "podlock-node", "host": node},
		"firstTimestamp": ts, "lastTimestamp": ts, "count": count,
		"reportingComponent": "podlock.kubewarden.io/podlock-node", "reportingInstance": node,
	})
}

// node creates a Node with labels.
func (e *env) node(name string, labels map[string]string) {
	e.t.Helper()
	e.do(http.StatusCreated, http.MethodPost, "/api/v1/nodes", map[string]any{"metadata": map[string]any{"name": name, "labels": labels}})
}

// profilePath is the API path of a podlock object.
func profilePath(namespace, resource, name string) string {
	return group + "/namespaces/" + namespace + "/" + resource + "/" + name
}

// create creates a podlock object from a JSON manifest.
func (e *env) create(namespace, resource, manifest string) {
	e.t.Helper()
	e.do(http.StatusCreated, http.MethodPost, group+"/namespaces/"+namespace+"/"+resource, manifest)
}

// waitFor reads r until it holds s, or fails after a while.
func waitFor(t *testing.T, r io.Reader, s string) string {
	t.Helper()
	var seen bytes.Buffer
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			seen.Write(buf[:n])
			if strings.Contains(seen.String(), s) || err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !strings.Contains(seen.String(), s) {
			t.Fatalf("output ended (%v) without %q:\n%s", err, s, seen.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("no %q after a minute", s)
	}
	return seen.String()
}
