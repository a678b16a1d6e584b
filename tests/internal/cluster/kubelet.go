package cluster

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubewarden/podlock/tests/internal/daemon"
)

// NodeName is the name of the cluster's only node. The kubelet rejects a
// loopback --node-ip, but a node named localhost, with the apiserver
// preferring Hostname addresses, makes logs and exec reach a kubelet on
// 127.0.0.1 (DESIGN.md).
const NodeName = "localhost"

// nodeUser is the kubelet's identity, bound to the system:node ClusterRole:
// the apiserver runs RBAC only (no Node authorizer).
const nodeUser = "system:node:" + NodeName

// kubeletConfig is the KubeletConfiguration for this machine kind (DESIGN.md):
// cgroup v1 with cgroupfs, no CAP_SYS_RESOURCE (oomScoreAdj 0), no static
// pods, everything under the cluster's directory, and a cgroup root of its
// own so that two clusters on one machine never see each other's pods
// (the kubelet removes pod cgroups it does not know).
func (c *Cluster) kubeletConfig() ([]byte, error) {
	falseV, trueV := false, true
	zero, hundred, ninetynine := int32(0), int32(100), int32(99)
	cfg := map[string]any{
		"apiVersion":               "kubelet.config.k8s.io/v1beta1",
		"kind":                     "KubeletConfiguration",
		"failCgroupV1":             falseV,
		"cgroupDriver":             "cgroupfs",
		"cgroupRoot":               "/" + c.cgroupName(),
		"oomScoreAdj":              zero,
		"failSwapOn":               falseV,
		"containerRuntimeEndpoint": "unix://" + c.Socket(),
		"podLogsDir":               c.PodLogsDir(),
		"volumePluginDir":          c.path("kubelet", "volume-plugins"),
		"address":                  "127.0.0.1",
		"port":                     c.kubeletPort,
		"readOnlyPort":             0,
		"healthzPort":              zero,
		"enableServer":             trueV,
		// The apiserver reaches the kubelet for logs and exec without a
		// client certificate; the kubelet listens on loopback only.
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": trueV},
			"webhook":   map[string]any{"enabled": falseV},
		},
		"authorization": map[string]any{"mode": "AlwaysAllow"},
		// Imported images cannot be pulled again: never collect them.
		"imageGCHighThresholdPercent": hundred,
		"imageGCLowThresholdPercent":  ninetynine,
		// A full disk elsewhere on the machine must not evict test pods.
		"evictionHard":                 map[string]string{"memory.available": "10Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
		"mergeDefaultEvictionSettings": falseV,
		// Restarted containers come back within a second, so a test can
		// watch the kubelet re-create one (KubeletCrashLoopBackOffMax,
		// beta and on by default since 1.35).
		"crashLoopBackOff":    map[string]any{"maxContainerRestartPeriod": "1s"},
		"nodeStatusMaxImages": zero,
		"shutdownGracePeriod": "0s",
		"resolvConf":          c.resolvConf(),
	}
	return json.Marshal(cfg)
}

// resolvConf is the host's, if any: hostNetwork pods with dnsPolicy
// Default get it; with none, an empty file avoids a warning per pod.
func (c *Cluster) resolvConf() string {
	if _, err := os.Stat("/etc/resolv.conf"); err == nil {
		return "/etc/resolv.conf"
	}
	return c.path("resolv.conf")
}

// PodLogsDir is where the kubelet writes container logs:
// <ns>_<pod>_<uid>/<container>/<restart>.log.
func (c *Cluster) PodLogsDir() string { return c.path("pods") }

// KubeletDir is the kubelet's --root-dir.
func (c *Cluster) KubeletDir() string { return c.path("kubelet") }

// cgroupName is the kubelet's cgroup root, one per cluster, in every
// hierarchy.
func (c *Cluster) cgroupName() string { return "podlock-e2e-" + c.id }

// startKubelet starts the kubelet and waits until the node is Ready.
func (c *Cluster) startKubelet() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c.kubeletPort = port
	if err := createCgroupRoot(c.cgroupName()); err != nil {
		return err
	}
	if _, err := os.Stat("/etc/resolv.conf"); err != nil {
		if err := os.WriteFile(c.path("resolv.conf"), nil, 0o644); err != nil {
			return err
		}
	}
	cfg, err := c.kubeletConfig()
	if err != nil {
		return err
	}
	for _, d := range []string{c.KubeletDir(), c.PodLogsDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(c.path("kubelet.json"), cfg, 0o644); err != nil {
		return err
	}
	kubeconfig := c.path("kubelet.kubeconfig")
	if err := c.API.WriteKubeconfig(kubeconfig, nodeUser, c.API.Token(nodeUser)); err != nil {
		return err
	}
	// No sbin in PATH: with iptables on it, the kubelet adds KUBE-FIREWALL
	// chains to the host's firewall and never removes them.
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + c.dir}
	p, err := daemon.Start(filepath.Join(c.toolsDir, "kubelet"), c.path("kubelet.log"), env,
		"--config", c.path("kubelet.json"),
		"--kubeconfig", kubeconfig,
		"--hostname-override", NodeName,
		"--root-dir", c.KubeletDir(),
		"--cert-dir", c.path("kubelet", "pki"),
		"--v", "2",
	)
	if err != nil {
		return err
	}
	c.kubelet = p
	err = p.WaitFor(c.opts.StartTimeout, 200*time.Millisecond, c.nodeReady)
	if err != nil {
		return fmt.Errorf("kubelet: %w\n%s", err, daemon.Tail(c.path("kubelet.log"), 40))
	}
	return nil
}

// nodeReady returns nil when the node reports Ready.
func (c *Cluster) nodeReady() error {
	status, body, err := c.API.Do(http.MethodGet, "/api/v1/nodes/"+NodeName, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET node %s: %d %s", NodeName, status, body)
	}
	var node corev1.Node
	if err := json.Unmarshal(body, &node); err != nil {
		return fmt.Errorf("node %s: %w", NodeName, err)
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			if cond.Status == corev1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("node %s not ready: %s: %s", NodeName, cond.Reason, cond.Message)
		}
	}
	return fmt.Errorf("node %s has no Ready condition yet", NodeName)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("no free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
