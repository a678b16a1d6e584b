// Package controller tests podlock-controller, the binary, against a real
// etcd and kube-apiserver: the webhooks are registered by URL on loopback,
// with the caBundle the controller writes from its self-signed CA, and the
// controller runs with the identity and RBAC of install/controller.
package controller

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/podlockctl"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// env is a control plane with podlock-controller's manifests applied, and
// the controller process.
type env struct {
	t          *testing.T
	cp         *kube.ControlPlane
	root       string
	binary     string
	dir        string
	kubeconfig string
	webhook    int
	probes     int
	metrics    int

	// p is shared by the copies of env that subtests use.
	p *procState
}

// procState is the controller process.
type procState struct {
	cmd     *exec.Cmd
	done    chan error
	logPath string
	starts  int
}

func newEnv(t *testing.T) *env {
	e := newEnvWithoutWebhooks(t)
	e.applyWebhooks()
	return e
}

// applyWebhooks applies webhooks.yaml, registered by URL.
func (e *env) applyWebhooks() {
	e.t.Helper()
	e.apply(podlockctl.WebhooksByURL(e.t, readFile(e.t, e.root, "install/controller/webhooks.yaml"), e.webhook))
}

// newEnvWithoutWebhooks is newEnv before webhooks.yaml is applied.
func newEnvWithoutWebhooks(t *testing.T) *env {
	cp := kube.StartControlPlane(t, kube.Options{})
	root := testenv.ModuleRoot()
	e := &env{t: t, cp: cp, root: root, binary: filepath.Join(testenv.Binaries(t), "podlock-controller"), dir: t.TempDir(),
		webhook: testenv.FreePort(t), probes: testenv.FreePort(t), metrics: testenv.FreePort(t), p: &procState{}}
	t.Cleanup(e.stop)

	e.apply(readFile(t, root, "install/crds/podlock.kubewarden.io_landlockprofiles.yaml"))
	e.apply(readFile(t, root, "install/crds/podlock.kubewarden.io_seccompprofiles.yaml"))
	e.apply(readFile(t, root, "install/kubernetes/namespace.yaml"))
	for _, f := range []string{"rbac.yaml", "config.yaml", "deployment.yaml"} {
		e.apply(readFile(t, root, filepath.Join("install/controller", f)))
	}
	// The runtime classes of the runtime-class policy's examples, and
	// podlock's (the API server refuses pods whose class does not exist).
	for name, handler := range map[string]string{"podlock": "podlock", "containerd-runc": "runc", "containerd-kata": "kata"} {
		e.apply([]byte(fmt.Sprintf(`{"apiVersion":"node.k8s.io/v1","kind":"RuntimeClass","metadata":{"name":%q},"handler":%q}`, name, handler)))
	}

	e.defaultServiceAccount("default")
	e.defaultServiceAccount("kube-system")

	// The controller's identity: a token of its service account, so the
	// shipped RBAC is what it runs with.
	token := podlockctl.ServiceAccountToken(t, cp)
	e.kubeconfig = filepath.Join(e.dir, "kubeconfig")
	if err := cp.WriteKubeconfig(e.kubeconfig, "system:serviceaccount:"+podlockctl.Namespace+":"+podlockctl.ServiceAccount, token); err != nil {
		t.Fatal(err)
	}
	return e
}

func readFile(t *testing.T, root, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (e *env) apply(manifest []byte) {
	e.t.Helper()
	e.cp.Apply(e.t, manifest)
}

// do sends a request as admin; obj is a JSON string, or anything that
// marshals to JSON.
func (e *env) do(method, path string, obj any) (int, []byte) {
	e.t.Helper()
	var body []byte
	switch o := obj.(type) {
	case nil:
	case string:
		body = []byte(o)
	case []byte:
		body = o
	default:
		var err error
		if body, err = json.Marshal(o); err != nil {
			e.t.Fatal(err)
		}
	}
	status, resp, err := e.cp.Do(method, path, body)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, resp
}

// startController runs podlock-controller with the policy configuration
// config (YAML) and extra flags, and waits until it is ready and the API
// server reaches its webhooks.
func (e *env) startController(config string, extra ...string) {
	e.t.Helper()
	e.launchController(config, extra...)
	e.waitWebhooks()
}

// waitWebhooks waits until the API server calls the webhooks.
func (e *env) waitWebhooks() {
	e.t.Helper()
	// The API server calls the webhook once it trusts the new caBundle:
	// a dry run of a pod with an unknown podlock annotation, which only
	// the webhook refuses.
	e.waitFor("the API server to call the webhooks", 30*time.Second, func() (bool, string) {
		status, body := e.do(http.MethodPost, "/api/v1/namespaces/default/pods?dryRun=All",
			podJSON("probe", nil, map[string]string{"podlock.kubewarden.io/probe": "1"}, nil))
		return status == http.StatusForbidden && strings.Contains(message(body), "podlock.kubewarden.io/probe is not one podlock sets"), string(body)
	})
}

// launchController runs podlock-controller as startController does, and
// waits only until it is ready.
func (e *env) launchController(config string, extra ...string) {
	e.t.Helper()
	e.p.starts++
	cfgPath := filepath.Join(e.dir, fmt.Sprintf("controller-%d.yaml", e.p.starts))
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.p.logPath = filepath.Join(e.dir, fmt.Sprintf("controller-%d.log", e.p.starts))
	log, err := os.Create(e.p.logPath)
	if err != nil {
		e.t.Fatal(err)
	}
	args := append([]string{
		"--kubeconfig", e.kubeconfig,
		"--config", cfgPath,
		"--namespace", podlockctl.Namespace,
		"--tls-mode", "self-signed",
		"--webhook-hosts", "127.0.0.1",
		"--webhook-bind-address", "127.0.0.1",
		"--webhook-port", strconv.Itoa(e.webhook),
		"--health-probe-bind-address", "127.0.0.1:" + strconv.Itoa(e.probes),
		"--metrics-bind-address", "127.0.0.1:" + strconv.Itoa(e.metrics),
		"--leader-elect",
		"--log-format", "text",
	}, extra...)
	cmd := exec.Command(e.binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Loopback only, whatever the environment says.
	cmd.Env = append(os.Environ(), "HTTPS_PROXY=", "HTTP_PROXY=", "https_proxy=", "http_proxy=", "NO_PROXY=*")
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	log.Close()
	done := make(chan error, 1)
	e.p.cmd, e.p.done = cmd, done
	go func() { done <- cmd.Wait() }()

	e.waitFor("the controller to be ready", 60*time.Second, func() (bool, string) {
		select {
		case err := <-done:
			done <- err
			e.t.Fatalf("podlock-controller exited: %v\n%s", err, e.logTail())
		default:
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", e.probes))
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// stop stops the controller with SIGTERM, as the kubelet would.
func (e *env) stop() {
	if e.p.cmd == nil {
		return
	}
	e.p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.p.done:
	case <-time.After(20 * time.Second):
		e.p.cmd.Process.Kill()
		<-e.p.done
	}
	if e.t.Failed() {
		e.t.Logf("podlock-controller log (last start):\n%s", e.logTail())
	}
	e.p.cmd = nil
}

func (e *env) logTail() string {
	data, _ := os.ReadFile(e.p.logPath)
	lines := strings.Split(string(data), "\n")
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond every 100 ms until it holds or timeout passes.
func (e *env) waitFor(what string, timeout time.Duration, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// namespace creates a namespace with labels.
func (e *env) namespace(name string, labels map[string]string) {
	e.t.Helper()
	obj := map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name, "labels": labels}}
	if status, body := e.do(http.MethodPost, "/api/v1/namespaces", obj); status != http.StatusCreated {
		e.t.Fatalf("namespace %s: %d %s", name, status, body)
	}
	e.defaultServiceAccount(name)
}

// defaultServiceAccount creates the service account that pods get by
// default: no controller-manager runs to create it, and the API server
// refuses pods without it.
func (e *env) defaultServiceAccount(ns string) {
	e.t.Helper()
	e.apply([]byte(`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default","namespace":"` + ns + `"}}`))
}

// podJSON is a pod that needs no kubelet, scheduler or service account.
func podJSON(name string, labels, annotations map[string]string, spec map[string]any) map[string]any {
	s := map[string]any{
		"automountServiceAccountToken": false,
		"containers":                   []any{map[string]any{"name": "app", "image": "busybox"}},
	}
	for k, v := range spec {
		s[k] = v
	}
	return map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "labels": labels, "annotations": annotations}, "spec": s}
}

func podsPath(ns string) string { return "/api/v1/namespaces/" + ns + "/pods" }

func profilesPath(ns, resource string) string {
	return "/apis/podlock.kubewarden.io/v1alpha1/namespaces/" + ns + "/" + resource
}

// pod is what the tests read of a stored pod.
type pod struct {
	Metadata struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		RuntimeClassName string `json:"runtimeClassName"`
		SecurityContext  struct {
			SeccompProfile *struct {
				Type string `json:"type"`
			} `json:"seccompProfile"`
		} `json:"securityContext"`
	} `json:"spec"`
}

// createPod creates a pod that must be admitted and returns it as stored.
func (e *env) createPod(ns string, obj map[string]any) pod {
	e.t.Helper()
	status, body := e.do(http.MethodPost, podsPath(ns), obj)
	if status != http.StatusCreated {
		e.t.Fatalf("pod %v refused: %d %s", obj["metadata"], status, body)
	}
	var p pod
	if err := json.Unmarshal(body, &p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// refused sends a request that must be refused and returns the message.
func (e *env) refused(method, path string, obj any) string {
	e.t.Helper()
	status, body := e.do(method, path, obj)
	if status < 400 {
		e.t.Fatalf("%s %s was accepted (%d), want a refusal: %s", method, path, status, body)
	}
	return message(body)
}

func message(body []byte) string {
	var s struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &s) != nil {
		return string(body)
	}
	return s.Message
}

// deletePod deletes a pod at once: no kubelet runs to confirm a graceful
// stop.
func (e *env) deletePod(ns, name string) {
	e.t.Helper()
	status, body := e.do(http.MethodDelete, podsPath(ns)+"/"+name, `{"gracePeriodSeconds":0}`)
	if status != http.StatusOK {
		e.t.Fatalf("deleting pod %s/%s: %d %s", ns, name, status, body)
	}
}

// profile is what the tests read of a stored profile.
type profile struct {
	Metadata struct {
		Finalizers        []string `json:"finalizers"`
		DeletionTimestamp *string  `json:"deletionTimestamp"`
	} `json:"metadata"`
	Status struct {
		PodsInUse int `json:"podsInUse"`
	} `json:"status"`
}

// getProfile returns a profile, or nil when it does not exist.
func (e *env) getProfile(ns, resource, name string) *profile {
	e.t.Helper()
	status, body := e.do(http.MethodGet, profilesPath(ns, resource)+"/"+name, nil)
	if status == http.StatusNotFound {
		return nil
	}
	if status != http.StatusOK {
		e.t.Fatalf("GET %s %s: %d %s", resource, name, status, body)
	}
	var p profile
	if err := json.Unmarshal(body, &p); err != nil {
		e.t.Fatal(err)
	}
	return &p
}

// servedCertificate returns the serial of the certificate the webhook
// server presents.
func (e *env) servedCertificate() (string, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", e.webhook), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}
