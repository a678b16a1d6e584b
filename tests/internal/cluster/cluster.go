// Package cluster brings up a real single-node Kubernetes cluster on the
// test machine for podlock's end-to-end tests: etcd and kube-apiserver
// (tests/internal/kube), a private containerd 2.x with the CRI, the runc
// handler and podlock's handler, and a kubelet, all built by
// tests/tools/build.sh and all under one short temporary directory, so that
// it coexists with any other containerd or kubelet on the machine and
// leaves nothing behind.
//
// The node is named localhost; test pods use the host network (no traffic
// ever leaves loopback) and images imported from a busybox-static root
// filesystem, since no registry is reachable.
package cluster

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubewarden/podlock/tests/internal/daemon"
	"github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// Options configure a cluster.
type Options struct {
	// InstallPodlock declares the podlock runtime handler to containerd. It
	// gets the path of the private containerd's main config, which imports
	// conf.d/*.toml next to it, and runs before containerd starts.
	// Default: (*Cluster).InstallPodlock, which runs podlock-install.
	InstallPodlock func(configPath string) error
	// Kube configures the control plane. The harness adds its own users
	// (the kubelet, podlock's node identity) to Kube.Tokens.
	Kube kube.Options
	// StartTimeout bounds the wait for containerd and for the node to be
	// Ready. Default 2 minutes.
	StartTimeout time.Duration
	// APITimeout is podlock-runtime's apiTimeout. Default 2s.
	APITimeout string
	// WithoutPodlock leaves podlock out: no handler in containerd, no
	// configuration of podlock-runtime, none of podlock's objects (CRDs,
	// namespace, RBAC, RuntimeClass podlock), for a test that installs
	// podlock as an operator does.
	WithoutPodlock bool
	// Controllers runs kube-controller-manager and kube-scheduler, for
	// Deployments, DaemonSets and Services. Services then get cluster IPs
	// on loopback (ServiceCIDR): the API server calls a webhook Service at
	// its cluster IP and port, which, without kube-proxy, reaches the pods
	// of the host network that listen on that port on every address.
	Controllers bool
}

// ServiceCIDR is the range of cluster IPs of the clusters with
// Controllers: loopback addresses, where the API server's calls to
// Services stay on the machine.
const ServiceCIDR = "127.77.0.0/24"

// Runtime classes every cluster has.
const (
	// RuntimeClassPodlock runs pods through podlock-runtime.
	RuntimeClassPodlock = "podlock"
	// RuntimeClassRunc runs pods through plain runc, the same handler as
	// pods without a runtime class.
	RuntimeClassRunc = "runc-native"
)

// PodlockNodeUser is podlock-runtime's identity on the node
// (install/kubernetes/node-rbac.yaml): a static token named like the
// service account authenticates as it.
const PodlockNodeUser = "system:serviceaccount:podlock-system:podlock-node"

// Cluster is a running single-node cluster.
type Cluster struct {
	// API is the control plane: admin requests (Do, Apply), tokens,
	// kubeconfigs, Stop and Restart of the apiserver.
	API *kube.ControlPlane
	// StartupTime is how long Start took.
	StartupTime time.Duration

	t    testing.TB
	opts Options
	id   string
	dir  string

	toolsDir, cniBinDir, binDir string

	containerd, kubelet *daemon.Proc
	cri                 *criClient
	kubeletPort         int
	nodeDone            chan struct{}
	nodeStarted         bool

	mu         sync.Mutex
	namespaces map[string]bool

	teardownOnce sync.Once
}

// Start brings up a cluster for the test and tears it down when the test
// ends: pods removed through the CRI, kubelet stopped first (the
// apiserver does not exit while the kubelet watches it), then containerd,
// its shims, mounts and cgroups, then the control plane. Logs are in
// Dir(); set PODLOCK_KEEP_CLUSTER to keep it. A missing tool skips the
// test, or fails it under PODLOCK_NO_SKIP.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	began := time.Now()
	testenv.Require(t, testenv.Root, testenv.Busybox)
	toolsDir := kube.Tools(t, "etcd", "kube-apiserver", "kubelet", "containerd", "containerd-shim-runc-v2", "ctr", "runc")
	cniBinDir := kube.CNIBinDir(t)
	binDir := testenv.Binaries(t)
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	if opts.APITimeout == "" {
		opts.APITimeout = "2s"
	}
	if opts.Kube.StopTimeout == 0 {
		// The apiserver ignores SIGTERM while the kubelet watches it: do not
		// wait long before SIGKILL when a test stops it.
		opts.Kube.StopTimeout = 3 * time.Second
	}
	tokens := map[string][]string{nodeUser: {"system:nodes"}, PodlockNodeUser: nil}
	maps.Copy(tokens, opts.Kube.Tokens)
	opts.Kube.Tokens = tokens
	if opts.Controllers {
		opts.Kube.Controllers = true
		opts.Kube.APIServerArgs = append([]string{"--service-cluster-ip-range", ServiceCIDR}, opts.Kube.APIServerArgs...)
	}

	sweepStale(t.Logf)
	// A short path: the shim socket directory must fit in 42 characters
	// and unix socket paths in 108.
	dir, err := os.MkdirTemp("/tmp", "plc-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeOwner(dir); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{
		t: t, opts: opts, id: strings.TrimPrefix(filepath.Base(dir), "plc-"), dir: dir,
		toolsDir: toolsDir, cniBinDir: cniBinDir, binDir: binDir,
		nodeDone:   make(chan struct{}),
		namespaces: map[string]bool{},
	}
	// Registered before anything starts, so that a failing start is
	// cleaned up too; registered again once the control plane runs, so
	// that the node goes before the apiserver (cleanups run last first).
	t.Cleanup(c.teardown)

	rootfs := c.path("rootfs")
	testenv.Rootfs(t, rootfs)
	// containerd needs no apiserver: start it while the control plane
	// starts.
	containerdErr := make(chan error, 1)
	c.nodeStarted = true
	go func() {
		defer close(c.nodeDone)
		containerdErr <- c.startContainerd(rootfs)
	}()

	c.API = kube.StartControlPlane(t, opts.Kube)
	t.Cleanup(c.teardown)
	c.applyBase(t)
	if !opts.WithoutPodlock {
		if err := c.writePodlockConfig(); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-containerdErr; err != nil {
		t.Fatal(err)
	}
	if err := c.startKubelet(); err != nil {
		t.Fatal(err)
	}
	c.StartupTime = time.Since(began)
	t.Logf("cluster up in %v (dir %s)", c.StartupTime.Round(time.Millisecond), c.dir)
	return c
}

// applyBase applies what every test needs: podlock's CRDs and node RBAC
// (unless WithoutPodlock), the kubelet's binding to system:node, the
// runtime classes, and the default service account of namespace default
// (without Controllers, no controller-manager creates it).
func (c *Cluster) applyBase(t testing.TB) {
	t.Helper()
	if !c.opts.WithoutPodlock {
		root := testenv.ModuleRoot()
		crds, err := filepath.Glob(filepath.Join(root, "install", "crds", "*.yaml"))
		if err != nil || len(crds) == 0 {
			t.Fatalf("no CRDs in install/crds: %v", err)
		}
		for _, file := range append(crds,
			filepath.Join(root, "install", "kubernetes", "namespace.yaml"),
			filepath.Join(root, "install", "kubernetes", "node-rbac.yaml")) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			c.API.Apply(t, data)
		}
		c.API.Apply(t, []byte(fmt.Sprintf(`
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: %s
handler: podlock
`, RuntimeClassPodlock)))
	}
	c.API.Apply(t, []byte(fmt.Sprintf(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: podlock-e2e-kubelet
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:node
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: %s
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: %s
handler: runc
`, nodeUser, RuntimeClassRunc)))
	c.Namespace(t, "default")
}

// Namespace creates a namespace, if needed, with its default service
// account.
func (c *Cluster) Namespace(t testing.TB, name string) {
	t.Helper()
	c.mu.Lock()
	done := c.namespaces[name]
	c.namespaces[name] = true
	c.mu.Unlock()
	if done {
		return
	}
	c.API.Apply(t, []byte(fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: default
  namespace: %[1]s
`, name)))
}

// PodlockConfig is podlock-runtime's config file (PODLOCK_CONFIG in
// containerd's environment, which the shim passes on to the runtime).
func (c *Cluster) PodlockConfig() string { return c.path("podlock", "config.yaml") }

// PodlockCacheDir is where podlock-runtime keeps its copies of profiles.
func (c *Cluster) PodlockCacheDir() string { return c.path("podlock", "cache") }

// PodlockRecordDir is where podlock-runtime writes the profiles it
// records in learning mode.
func (c *Cluster) PodlockRecordDir() string { return c.path("podlock", "records") }

// PodlockIndexDir is where podlock-runtime records the containers it
// confines, for podlock-node to attribute their denials.
func (c *Cluster) PodlockIndexDir() string { return c.path("podlock", "index") }

// writePodlockConfig writes podlock-runtime's config: profiles from the
// apiserver with the node identity of install/kubernetes/node-rbac.yaml,
// the cached runc behind it.
func (c *Cluster) writePodlockConfig() error {
	kubeconfig := c.path("podlock", "kubeconfig")
	if err := c.API.WriteKubeconfig(kubeconfig, "podlock-node", c.API.Token(PodlockNodeUser)); err != nil {
		return err
	}
	cfg, err := json.Marshal(map[string]string{ // JSON is YAML
		"source":     "kubernetes",
		"kubeconfig": kubeconfig,
		"cacheDir":   c.PodlockCacheDir(),
		"recordDir":  c.PodlockRecordDir(),
		"indexDir":   c.PodlockIndexDir(),
		"apiTimeout": c.opts.APITimeout,
		"helper":     filepath.Join(c.binDir, "podlock-helper"),
		"runtime":    c.RuncBinary(),
	})
	if err != nil {
		return err
	}
	return os.WriteFile(c.PodlockConfig(), append(cfg, '\n'), 0o644)
}

// Dir is the cluster's directory: containerd.log, kubelet.log, configs,
// pods/ (container logs), containerd and kubelet state.
func (c *Cluster) Dir() string { return c.dir }

func (c *Cluster) path(elem ...string) string {
	return filepath.Join(append([]string{c.dir}, elem...)...)
}

// RestartAPIServer starts the apiserver again after API.Stop and waits
// until the kubelet reports the node Ready again.
func (c *Cluster) RestartAPIServer(t testing.TB) {
	t.Helper()
	if err := c.API.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(c.opts.StartTimeout)
	for {
		err := c.nodeReady()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restarting the apiserver: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// teardown stops everything Start started, in order, and removes what
// they left: it must leave no process, mount or cgroup behind even when
// the test failed halfway. Failures to clean up fail the test.
func (c *Cluster) teardown() {
	c.teardownOnce.Do(func() {
		t := c.t
		// containerd's start is bounded by StartTimeout.
		if c.nodeStarted {
			<-c.nodeDone
		}
		if t.Failed() {
			for _, name := range []string{"kubelet.log", "containerd.log"} {
				t.Logf("last lines of %s:\n%s", name, daemon.Tail(c.path(name), 30))
			}
		}
		c.kubelet.Stop(10 * time.Second)
		if c.cri != nil && c.containerd != nil && !c.containerd.Exited() {
			if err := c.cri.removeAllSandboxes(); err != nil {
				t.Logf("teardown: %v", err)
			}
		}
		c.containerd.Stop(10 * time.Second)
		if c.cri != nil {
			c.cri.conn.Close()
		}
		if pids := killShims(c.Socket()); len(pids) > 0 {
			t.Logf("teardown: killed shims left running: %v", pids)
		}
		if err := removeCgroupTree(c.cgroupName()); err != nil {
			t.Errorf("teardown: %v", err)
		}
		if err := unmountUnder(c.dir); err != nil {
			t.Errorf("teardown: %v", err)
		}
		if err := removeLogLinks(c.dir); err != nil {
			t.Errorf("teardown: %v", err)
		}
		// Shared by every kubelet of the machine: removed only when no
		// kubelet runs any more, whichever cluster created them.
		removeHostPaths(hostPaths)
		if os.Getenv("PODLOCK_KEEP_CLUSTER") != "" {
			// Without an owner, a later Start leaves it alone.
			os.Remove(c.path(ownerFile))
			t.Logf("kept the cluster's files in %s (PODLOCK_KEEP_CLUSTER is set)", c.dir)
			return
		}
		if err := os.RemoveAll(c.dir); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
}
