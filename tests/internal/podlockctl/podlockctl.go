// Package podlockctl runs podlock's daemons for tests against a real API
// server. podlock-controller: its manifests applied, its webhooks
// registered by URL on loopback with the caBundle it writes from its
// self-signed CA, and the binary running with the identity and RBAC of
// install/controller. podlock-node: the agent of the node DaemonSet.
package podlockctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubewarden/podlock/profiles/dir"
	"github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// Namespace and ServiceAccount of the controller (install/controller).
const (
	Namespace      = "podlock-system"
	ServiceAccount = "podlock-controller"
)

// Controller is a running podlock-controller.
type Controller struct {
	t       testing.TB
	cmd     *exec.Cmd
	done    chan error
	logPath string
}

// Start applies the controller's manifests to cp, starts the controller
// from the binaries of testenv.Binaries with the policy configuration
// config (YAML), and waits until the API server calls its webhooks. It is
// stopped at the end of the test.
func Start(t testing.TB, cp *kube.ControlPlane, config string) *Controller {
	t.Helper()
	root := testenv.ModuleRoot()
	dir := t.TempDir()
	read := func(rel string) []byte {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	cp.Apply(t, read("install/kubernetes/namespace.yaml"))
	cp.Apply(t, read("install/controller/rbac.yaml"))
	webhook, probes, metrics := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	cp.Apply(t, WebhooksByURL(t, read("install/controller/webhooks.yaml"), webhook))

	kubeconfig := filepath.Join(dir, "kubeconfig")
	token := ServiceAccountToken(t, cp)
	if err := cp.WriteKubeconfig(kubeconfig, "system:serviceaccount:"+Namespace+":"+ServiceAccount, token); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "controller.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &Controller{t: t, done: make(chan error, 1), logPath: filepath.Join(dir, "controller.log")}
	log, err := os.Create(c.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	c.cmd = exec.Command(filepath.Join(testenv.Binaries(t), "podlock-controller"),
		"--kubeconfig", kubeconfig,
		"--config", cfg,
		"--namespace", Namespace,
		"--tls-mode", "self-signed",
		"--webhook-hosts", "127.0.0.1",
		"--webhook-bind-address", "127.0.0.1",
		"--webhook-port", strconv.Itoa(webhook),
		"--health-probe-bind-address", "127.0.0.1:"+strconv.Itoa(probes),
		"--metrics-bind-address", "127.0.0.1:"+strconv.Itoa(metrics),
		"--log-format", "text",
	)
	c.cmd.Stdout, c.cmd.Stderr = log, log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Loopback only, whatever the environment says.
	c.cmd.Env = append(os.Environ(), "HTTPS_PROXY=", "HTTP_PROXY=", "https_proxy=", "http_proxy=", "NO_PROXY=*")
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(c.Stop)

	c.waitFor("podlock-controller to be ready", 60*time.Second, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probes))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	// The API server calls the webhooks once it trusts the new caBundle:
	// a dry run of a pod with an annotation only the webhook refuses.
	probe := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"probe","annotations":{"podlock.kubewarden.io/probe":"1"}},"spec":{"automountServiceAccountToken":false,"containers":[{"name":"c","image":"x"}]}}`
	c.waitFor("the API server to call the webhooks", 30*time.Second, func() bool {
		status, body, err := cp.Do(http.MethodPost, "/api/v1/namespaces/default/pods?dryRun=All", []byte(probe))
		return err == nil && status == http.StatusForbidden && strings.Contains(string(body), "podlock.kubewarden.io/probe")
	})
	return c
}

// Stop stops the controller with SIGTERM, as the kubelet would.
func (c *Controller) Stop() {
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	if c.t.Failed() {
		data, _ := os.ReadFile(c.logPath)
		lines := strings.Split(string(data), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		c.t.Logf("podlock-controller log:\n%s", strings.Join(lines, "\n"))
	}
	c.cmd = nil
}

func (c *Controller) waitFor(what string, timeout time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case err := <-c.done:
			c.done <- err
			c.t.Fatalf("podlock-controller exited while waiting for %s: %v", what, err)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ServiceAccountToken returns a token of the controller's service account,
// so that the shipped RBAC is what it runs with.
func ServiceAccountToken(t testing.TB, cp *kube.ControlPlane) string {
	t.Helper()
	status, body, err := cp.Do(http.MethodPost, "/api/v1/namespaces/"+Namespace+"/serviceaccounts/"+ServiceAccount+"/token",
		[]byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":7200}}`))
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

// WebhooksByURL rewrites the shipped webhook configurations to call the
// controller at https://127.0.0.1:port instead of its Service; everything
// else (rules, selectors, failurePolicy, timeouts) is kept.
func WebhooksByURL(t testing.TB, manifest []byte, port int) []byte {
	t.Helper()
	docs, err := dir.Documents(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, doc := range docs {
		var obj map[string]any
		if err := json.Unmarshal(doc, &obj); err != nil {
			t.Fatal(err)
		}
		for _, w := range obj["webhooks"].([]any) {
			cc := w.(map[string]any)["clientConfig"].(map[string]any)
			svc := cc["service"].(map[string]any)
			delete(cc, "service")
			cc["url"] = fmt.Sprintf("https://127.0.0.1:%d%s", port, svc["path"])
		}
		js, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, js)
	}
	return bytes.Join(out, []byte("\n---\n"))
}
