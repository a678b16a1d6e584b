package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kubewarden/podlock/tests/internal/daemon"
)

// maxSocketDirLen is containerd's limit on the shim socket directory
// (core/runtime/v2/socket_linux.go): longer, and no shim starts.
const maxSocketDirLen = 42

// PodlockDropIn is the name of the drop-in, in the conf.d directory next to
// the containerd config, that declares the podlock runtime handler.
const PodlockDropIn = "podlock.toml"

// toml quotes s as a TOML basic string (Go's escapes are a subset).
func toml(s string) string { return strconv.Quote(s) }

func tomlList(items ...string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = toml(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// containerdConfig is the private containerd's main config (version 3, the
// layout containerd 2.x documents; 2.4 migrates it in memory to 4 with a
// warning). Everything containerd would put in a system-wide place is moved
// under the cluster's directory so that it coexists with any other
// containerd on the machine; only files under conf.d are imported, never
// /etc/containerd/conf.d.
func (c *Cluster) containerdConfig() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("version = 3")
	p("root = %s", toml(c.path("containerd", "root")))
	p("state = %s", toml(c.path("containerd", "state")))
	p("imports = %s", tomlList(filepath.Join(c.confDir(), "*.toml")))
	// NRI would listen on /var/run/nri/nri.sock; the other snapshotters only
	// cost start-up time and directories.
	p("disabled_plugins = %s", tomlList(
		"io.containerd.nri.v1.nri",
		"io.containerd.snapshotter.v1.btrfs",
		"io.containerd.snapshotter.v1.zfs",
		"io.containerd.snapshotter.v1.devmapper",
		"io.containerd.snapshotter.v1.blockfile",
		"io.containerd.snapshotter.v1.erofs",
	))
	p("")
	p("[grpc]")
	p("  address = %s", toml(c.Socket()))
	p("")
	p("[plugins.'io.containerd.internal.v1.opt']")
	p("  path = %s", toml(c.path("containerd", "opt")))
	p("[plugins.'io.containerd.image-verifier.v1.bindir']")
	p("  bin_dir = %s", toml(c.path("containerd", "opt", "image-verifier", "bin")))
	p("[plugins.'io.containerd.shim.v1.manager']")
	p("  socket_dir = %s", toml(c.shimSocketDir()))
	p("")
	p("[plugins.'io.containerd.grpc.v1.cri']")
	p("  stream_server_address = '127.0.0.1'")
	p("  stream_server_port = '0'")
	p("")
	p("[plugins.'io.containerd.cri.v1.images']")
	p("  [plugins.'io.containerd.cri.v1.images'.pinned_images]")
	p("    sandbox = %s", toml(PauseImage))
	p("")
	p("[plugins.'io.containerd.cri.v1.runtime']")
	// runc cannot lower oom_score_adj without CAP_SYS_RESOURCE (DESIGN.md).
	p("  restrict_oom_score_adj = true")
	p("  netns_mounts_under_state_dir = true")
	p("  cdi_spec_dirs = %s", tomlList(c.path("cdi")))
	p("  [plugins.'io.containerd.cri.v1.runtime'.cni]")
	p("    bin_dirs = %s", tomlList(c.cniBinDir))
	p("    conf_dir = %s", toml(c.path("cni", "net.d")))
	p("  [plugins.'io.containerd.cri.v1.runtime'.containerd]")
	p("    default_runtime_name = 'runc'")
	p("    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]")
	p("      runtime_type = 'io.containerd.runc.v2'")
	p("      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]")
	p("        BinaryName = %s", toml(c.RuncBinary()))
	p("        Root = %s", toml(c.RuncRoot()))
	return b.String()
}

// InstallPodlock is the default Options.InstallPodlock: podlock-install,
// as an administrator would run it, adds the podlock handler to the
// containerd configuration at configPath.
func (c *Cluster) InstallPodlock(configPath string) error {
	cmd := exec.Command(filepath.Join(c.binDir, "podlock-install"), "install",
		"--engine=containerd", "--config="+configPath, "--runtime-path="+filepath.Join(c.binDir, "podlock-runtime"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("podlock-install: %w\n%s", err, out)
	}
	return nil
}

// cniConfig is a bridge network that only exists to make the CRI report
// NetworkReady: every test pod uses the host network, so no plugin ever
// runs. No host address, gateway or masquerading: even if a pod used it,
// it could reach nothing.
func (c *Cluster) cniConfig() string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "podlock-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %s,
      "isGateway": false,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.244.0.0/24"}]],
        "dataDir": %s
      }
    },
    {"type": "loopback"}
  ]
}
`, strconv.Quote(c.bridgeName()), strconv.Quote(c.path("cni", "ipam")))
}

// bridgeName is unique per cluster (interface names are at most 15 bytes).
func (c *Cluster) bridgeName() string { return "plc" + c.id }

func (c *Cluster) confDir() string       { return c.path("containerd", "conf.d") }
func (c *Cluster) shimSocketDir() string { return c.path("s") }

// ContainerdConfig is the path of the private containerd's main config.
func (c *Cluster) ContainerdConfig() string { return c.path("containerd", "config.toml") }

// Socket is the private containerd's gRPC socket (CRI included).
func (c *Cluster) Socket() string { return c.path("c.sock") }

// RuncRoot is the state root of both handlers' runc (containerd adds
// /k8s.io).
func (c *Cluster) RuncRoot() string { return c.path("runc") }

// RuncBinary is the real runtime: the cached runc, for the runc handler and
// behind podlock-runtime.
func (c *Cluster) RuncBinary() string { return filepath.Join(c.toolsDir, "runc") }

// startContainerd writes the configs, starts containerd with the podlock
// configuration in its environment (it reaches podlock-runtime through
// the shim), waits for the CRI to report ready and imports the images.
func (c *Cluster) startContainerd(rootfs string) error {
	if len(c.shimSocketDir()) > maxSocketDirLen {
		return fmt.Errorf("shim socket dir %s is longer than containerd's %d characters", c.shimSocketDir(), maxSocketDirLen)
	}
	for _, d := range []string{c.confDir(), c.path("cni", "net.d"), c.path("cdi"), c.RuncRoot()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(c.path("cni", "net.d", "10-podlock.conflist"), []byte(c.cniConfig()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(c.ContainerdConfig(), []byte(c.containerdConfig()), 0o644); err != nil {
		return err
	}
	if !c.opts.WithoutPodlock {
		install := c.opts.InstallPodlock
		if install == nil {
			install = c.InstallPodlock
		}
		if err := install(c.ContainerdConfig()); err != nil {
			return fmt.Errorf("installing podlock into %s: %w", c.ContainerdConfig(), err)
		}
	}
	if err := c.launchContainerd(); err != nil {
		return err
	}
	return c.importImages(rootfs)
}

// launchContainerd starts containerd on its configuration and waits until
// its CRI reports ready.
func (c *Cluster) launchContainerd() error {
	env := []string{
		"PATH=" + c.toolsDir + ":/usr/local/bin:/usr/bin:/bin",
		"HOME=" + c.dir,
		"PODLOCK_CONFIG=" + c.PodlockConfig(),
	}
	p, err := daemon.Start(filepath.Join(c.toolsDir, "containerd"), c.path("containerd.log"), env,
		"--config", c.ContainerdConfig(), "--log-level", "info")
	if err != nil {
		return err
	}
	c.containerd = p
	err = p.WaitFor(c.opts.StartTimeout, 100*time.Millisecond, func() error {
		if _, err := os.Stat(c.Socket()); err != nil {
			return err
		}
		if c.cri == nil {
			cri, err := dialCRI(c.Socket())
			if err != nil {
				return err
			}
			c.cri = cri
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := c.cri.runtime.Status(ctx, &runtimeapi.StatusRequest{})
		if err != nil {
			return err
		}
		// Only the two conditions the kubelet requires: containerd adds
		// others, such as ContainerdHasNoDeprecationWarnings, false here
		// because the version 3 config is migrated.
		ready := map[string]bool{}
		for _, cond := range st.GetStatus().GetConditions() {
			ready[cond.Type] = cond.Status
			if !cond.Status && (cond.Type == runtimeapi.RuntimeReady || cond.Type == runtimeapi.NetworkReady) {
				return fmt.Errorf("CRI condition %s: %s %s", cond.Type, cond.Reason, cond.Message)
			}
		}
		if !ready[runtimeapi.RuntimeReady] || !ready[runtimeapi.NetworkReady] {
			return fmt.Errorf("CRI conditions %v", ready)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("containerd: %w\n%s", err, daemon.Tail(c.path("containerd.log"), 30))
	}
	return nil
}

// RestartContainerd restarts containerd as an administrator does after
// changing its configuration (systemctl restart containerd): running
// containers keep running under their shims. It waits until the CRI and
// the node are ready again.
func (c *Cluster) RestartContainerd(t testing.TB) {
	t.Helper()
	c.containerd.Stop(10 * time.Second)
	if err := c.launchContainerd(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(c.opts.StartTimeout)
	for {
		err := c.nodeReady()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restarting containerd: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ImportImage imports an image archive (an OCI layout as a tar, such as
// `make image` writes) into the CRI's namespace, as `ctr -n k8s.io images
// import` does on a node, and waits until the CRI sees the image by name
// (a full reference, docker.io/library/podlock:v1).
func (c *Cluster) ImportImage(t testing.TB, archive, name string) {
	t.Helper()
	if err := c.importArchive(archive, []string{name}); err != nil {
		t.Fatal(err)
	}
}

// importImages builds the images from rootfs and imports them with ctr
// into the CRI's namespace.
func (c *Cluster) importImages(rootfs string) error {
	var layout bytes.Buffer
	if err := WriteImageLayout(&layout, rootfs, defaultImages); err != nil {
		return err
	}
	tarball := c.path("images.tar")
	if err := os.WriteFile(tarball, layout.Bytes(), 0o644); err != nil {
		return err
	}
	var names []string
	for _, img := range defaultImages {
		names = append(names, img.Name)
	}
	return c.importArchive(tarball, names)
}

// importArchive imports an image archive with ctr into the CRI's
// namespace and waits until the CRI sees the images named.
func (c *Cluster) importArchive(tarball string, names []string) error {
	cmd := exec.Command(filepath.Join(c.toolsDir, "ctr"), "--address", c.Socket(), "--namespace", "k8s.io",
		"images", "import", "--local", tarball)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + c.dir}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ctr images import %s: %w\n%s", tarball, err, out)
	}
	// The CRI learns of images through events: wait until it sees them.
	deadline := time.Now().Add(30 * time.Second)
	for _, name := range names {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			st, err := c.cri.image.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: name}})
			cancel()
			if err == nil && st.GetImage() != nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("image %s imported from %s but not seen by the CRI: %v", name, tarball, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}
