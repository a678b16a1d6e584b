package podlockctl

import (
	"fmt"
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

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// AgentUser is the identity of podlock-node, the node DaemonSet's agent
// (install/kubernetes/node-rbac.yaml): a static token named like the
// service account authenticates as it.
const AgentUser = "system:serviceaccount:podlock-system:podlock-node-agent"

// NodeAgent is a running `podlock-node run`.
type NodeAgent struct {
	// Metrics is the address of its Prometheus endpoint.
	Metrics string
	// Probes is the address of its /healthz and /readyz.
	Probes string
	cmd    *exec.Cmd
}

// agentAddressSpace bounds the agent's memory in tests: an agent that
// reads without bound fails there instead of taking the machine's memory.
const agentAddressSpace = 2 << 30

// StartNodeAgent runs `podlock-node run` for node as AgentUser (which the
// control plane must have a token for), with its token and labels written
// under a temporary directory and extra flags after the harness's own,
// attributing denials through podlock-runtime's container index in
// indexDir, and waits until it serves metrics. It reports denials unless
// extra says otherwise: the caller holds testenv.LockAudit. It is stopped
// at the end of the test.
func StartNodeAgent(t testing.TB, cp *kube.ControlPlane, node, indexDir string, extra ...string) *NodeAgent {
	t.Helper()
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "agent.kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig, "agent", cp.Token(AgentUser)); err != nil {
		t.Fatal(err)
	}
	a := &NodeAgent{Metrics: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)), Probes: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))}
	bin := testenv.Binaries(t)
	cmd := exec.Command(filepath.Join(bin, "podlock-node"), append([]string{"run", "--host-root=/", "--bin-dir=" + bin, "--config-dir=" + dir,
		"--node-name=" + node, "--kubeconfig=" + kubeconfig, "--metrics-address=" + a.Metrics, "--probe-address=" + a.Probes, "--index-dir=" + indexDir,
		"--record-dir=" + filepath.Join(dir, "records")}, extra...)...)
	a.cmd = cmd
	log, err := os.Create(filepath.Join(dir, "podlock-node.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	limit := unix.Rlimit{Cur: agentAddressSpace, Max: agentAddressSpace}
	if err := unix.Prlimit(cmd.Process.Pid, unix.RLIMIT_AS, &limit, nil); err != nil {
		cmd.Process.Kill()
		t.Fatalf("limiting podlock-node's memory: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(log.Name())
			t.Logf("podlock-node:\n%s", data)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !a.serving() {
		if time.Now().After(deadline) {
			t.Fatal("podlock-node does not serve metrics")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return a
}

// Running reports whether the agent is still running, and how much memory
// it has used at most (VmHWM, in kB).
func (a *NodeAgent) Running(t testing.TB) (running bool, peakKB int) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	if err != nil {
		return false, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		switch key, value, _ := strings.Cut(line, ":"); key {
		case "State":
			// A zombie has exited.
			running = !strings.HasPrefix(strings.TrimSpace(value), "Z")
		case "VmHWM":
			peakKB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(value), " kB"))
		}
	}
	return running, peakKB
}

// Probe returns the status and body of one of the agent's probes
// (/healthz, /readyz); status 0 when it does not answer.
func (a *NodeAgent) Probe(path string) (int, string) {
	resp, err := http.Get("http://" + a.Probes + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// Counted reports whether the agent's metrics hold the line.
func (a *NodeAgent) Counted(line string) bool {
	return strings.Contains(a.metrics(), line)
}

func (a *NodeAgent) serving() bool {
	resp, err := http.Get("http://" + a.Metrics + "/metrics")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (a *NodeAgent) metrics() string {
	resp, err := http.Get("http://" + a.Metrics + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}
