package e2e_test

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/tests/internal/cluster"
	"github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/podlockctl"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// agentUser is the identity of podlock-node, the DaemonSet's agent
// (install/kubernetes/node-rbac.yaml).
const agentUser = "system:serviceaccount:podlock-system:podlock-node-agent"

// A denial in a confined pod becomes exactly one Event on the pod, naming
// the binary, the path and the access right, however often it happens;
// podlock-node's metric counts every one.
func TestDenialEvents(t *testing.T) {
	if landlock.KernelABI() < 7 {
		testenv.Require(t, func() string { return "needs Landlock ABI 7 for audit records" })
	}
	c := cluster.Start(t, cluster.Options{Kube: kube.Options{Tokens: map[string][]string{agentUser: nil}}})
	podlockctl.Start(t, c.API, controllerConfig)
	// A profile name of its own: other tests' containers, in parallel,
	// are denied the same accesses, and the counter must be this test's.
	c.API.Apply(t, []byte(strings.Replace(quickstartProfile, "name: demo", "name: e2e-denials", 1)))
	testenv.LockAudit(t)

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "agent.kubeconfig")
	if err := c.API.WriteKubeconfig(kubeconfig, "agent", c.API.Token(agentUser)); err != nil {
		t.Fatal(err)
	}
	metrics := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	bin := testenv.Binaries(t)
	agent := exec.Command(filepath.Join(bin, "podlock-node"), "run", "--host-root=/", "--bin-dir="+bin, "--config-dir="+dir,
		"--node-name=localhost", "--kubeconfig="+kubeconfig, "--metrics-address="+metrics)
	logFile, err := os.Create(filepath.Join(dir, "podlock-node.log"))
	if err != nil {
		t.Fatal(err)
	}
	agent.Stdout, agent.Stderr = logFile, logFile
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		agent.Process.Signal(syscall.SIGTERM)
		agent.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(logFile.Name())
			t.Logf("podlock-node:\n%s", log)
		}
	})
	eventually(t, "podlock-node to serve metrics", func() bool {
		resp, err := http.Get("http://" + metrics + "/metrics")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	p, log := run(t, c, pod("denied", "cat /etc/passwd; cat /etc/passwd; cat /etc/passwd; sleep 1", withProfile("e2e-denials")))
	wantLines(t, "stderr", log.Stderr, []string{
		"cat: can't open '/etc/passwd': Permission denied",
		"cat: can't open '/etc/passwd': Permission denied",
		"cat: can't open '/etc/passwd': Permission denied",
	})
	want := "container app: /bin/busybox was denied fs.read_file on /etc/passwd (profile e2e-denials)"
	var got []string
	eventually(t, "the denial's Event", func() bool {
		got = denialEvents(t, c, p.Name)
		return len(got) > 0
	})
	time.Sleep(time.Second) // a duplicate would have come by now
	if got = denialEvents(t, c, p.Name); len(got) != 1 || got[0] != want {
		t.Errorf("events %q, want exactly %q", got, want)
	}
	eventually(t, "the denials to be counted", func() bool {
		resp, err := http.Get("http://" + metrics + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return strings.Contains(b.String(), `podlock_denials_total{access="fs.read_file",binary="/bin/busybox",container="app",namespace="default",profile="e2e-denials"} 3`)
	})
}

func denialEvents(t *testing.T, c *cluster.Cluster, pod string) []string {
	t.Helper()
	var out []string
	for _, e := range c.Events(t, "default", pod) {
		if e.Reason == "PodlockDenied" {
			out = append(out, e.Message)
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
