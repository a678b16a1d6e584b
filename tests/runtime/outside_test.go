package runtime_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubewarden/podlock/tests/internal/cluster"
	"github.com/kubewarden/podlock/tests/internal/daemon"
	"github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// Annotations a user outside Kubernetes gives a container: the profile,
// and the name of the container in the profile.
const (
	profileAnnotation   = "podlock.kubewarden.io/profile=demo"
	containerAnnotation = "podlock.kubewarden.io/container=app"
)

// shortTempDir is a temporary directory with a short path: unix sockets
// (conmon's, containerd's shims') live under it, and their paths are
// limited to about 100 characters.
func shortTempDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// profilesDir is the directory podlock-runtime reads profiles from in
// these tests: the quickstart's.
func profilesDir(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "profiles")
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "demo.yaml"), []byte(testenv.QuickstartProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func command(t *testing.T, env []string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// podman runs podman with private storage and state, podlock-runtime as
// its OCI runtime, and podlock-runtime's settings given the way podman
// lets an administrator give them to a runtime: containers.conf's
// conmon_env_vars (podman itself runs the runtime with an empty
// environment).
type podman struct {
	t        *testing.T
	globals  []string
	env      []string
	hostname string
	// cgroupParent holds the containers' cgroups, and goes at the end.
	cgroupParent string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	testenv.Require(t, testenv.Root, testenv.Program("podman"), testenv.Program("runc"), testenv.Busybox)
	bin := testenv.Binaries(t)
	dir := shortTempDir(t, "plp")
	// File locks under --tmpdir rather than podman's shared memory
	// segment: nothing of the test's podman outlives it. No PATH and no
	// PODLOCK_RUNTIME: podlock-runtime finds runc by itself.
	conf := fmt.Sprintf("[engine]\nlock_type = \"file\"\nconmon_env_vars = [%q, %q]\n",
		"PODLOCK_CONFIG="+filepath.Join(dir, "podlock.yaml"),
		"PODLOCK_PROFILES_DIR="+profilesDir(t, dir))
	for name, content := range map[string]string{"containers.conf": conf, "podlock.yaml": "", "hostname": "podlock-test\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &podman{
		t:            t,
		hostname:     filepath.Join(dir, "hostname"),
		cgroupParent: "podlock-test-" + filepath.Base(dir),
		globals: []string{
			"--root", filepath.Join(dir, "storage"), "--runroot", filepath.Join(dir, "run"), "--tmpdir", filepath.Join(dir, "tmp"),
			"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none",
			"--runtime", filepath.Join(bin, "podlock-runtime"),
		},
		env: []string{"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf")},
	}
	// podman keeps a cache of image blobs in /var/lib/containers/cache
	// whatever --root says: remove it too when the test created it.
	_, statErr := os.Stat(podmanSystemDir)
	t.Cleanup(func() {
		p.run("rm", "--all", "--force")
		p.run("rmi", "--all", "--force")
		removeCgroups(t, p.cgroupParent)
		if os.IsNotExist(statErr) {
			os.RemoveAll(podmanSystemDir)
		}
	})

	// No registry is reachable: the image is the tests' busybox rootfs.
	rootfs := filepath.Join(dir, "rootfs")
	testenv.Rootfs(t, rootfs)
	tarball := filepath.Join(dir, "rootfs.tar")
	if out, err := exec.Command("tar", "-C", rootfs, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	if _, stderr, err := p.run("import", tarball, podmanImage); err != nil {
		t.Fatalf("podman import: %v %s", err, stderr)
	}
	return p
}

const (
	podmanImage     = "localhost/podlock-busybox:test"
	podmanSystemDir = "/var/lib/containers"
)

// removeCgroups removes a cgroup directory, empty once its containers are
// gone, and the directories below it, from every hierarchy.
func removeCgroups(t *testing.T, name string) {
	t.Helper()
	roots, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", name))
	for _, root := range roots {
		var dirs []string
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil {
				t.Errorf("removing cgroup %s: %v", dirs[i], err)
			}
		}
	}
}

func (p *podman) run(args ...string) (stdout, stderr string, err error) {
	p.t.Helper()
	return command(p.t, p.env, "podman", append(p.globals, args...)...)
}

// container runs a container of the busybox image with the annotations,
// and returns what it printed. It also checks that the container is gone
// from runc's state: podman runs "delete" without any environment, PATH
// included, and podlock-runtime must still find runc to hand it over.
func (p *podman) container(t *testing.T, annotations []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cidFile := filepath.Join(t.TempDir(), "cid")
	// No network, the image's /etc/hostname rather than podman's (which
	// lacks a final newline), and no new limits: runc cannot raise
	// RLIMIT_NOFILE and RLIMIT_NPROC to podman's defaults without
	// CAP_SYS_RESOURCE, which the test machines' root lacks.
	flags := []string{"run", "--rm", "--cidfile", cidFile, "--network", "none", "--volume", p.hostname + ":/etc/hostname:ro",
		"--cgroup-parent", "/" + p.cgroupParent, "--cgroups", "no-conmon",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}
	for _, a := range annotations {
		flags = append(flags, "--annotation", a)
	}
	stdout, stderr, err = p.run(append(append(flags, podmanImage), args...)...)
	if cid, rerr := os.ReadFile(cidFile); rerr == nil {
		// podman gives runc no --root: its state is in runc's default one.
		if _, serr := os.Stat(filepath.Join("/run/runc", string(cid))); serr == nil {
			t.Errorf("runc still holds container %s after podman run --rm: its delete did not reach runc", cid)
			exec.Command("runc", "delete", "--force", string(cid)).Run()
		}
	}
	return stdout, stderr, err
}

// A container started by podman with podlock-runtime as its runtime is
// confined by the profile its annotations name, from the local profiles
// directory, in namespace default.
func TestPodman(t *testing.T) {
	p := newPodman(t)

	t.Run("confined by the profile its annotations name", func(t *testing.T) {
		stdout, stderr, err := p.container(t, []string{profileAnnotation, containerAnnotation}, "sh", "-c", testenv.QuickstartScript)
		if err != nil {
			t.Fatalf("podman run: %v\nstderr: %s", err, stderr)
		}
		wantLines(t, "stdout", stdout, quickstartConfined.stdout)
		wantLines(t, "stderr", stderr, quickstartConfined.stderr)
	})

	t.Run("without a container name it is not started, and podman says why", func(t *testing.T) {
		stdout, stderr, err := p.container(t, []string{profileAnnotation}, "echo", "UNCONFINED")
		if err == nil || strings.Contains(stdout, "UNCONFINED") {
			t.Fatalf("container ran: %v %q", err, stdout)
		}
		if !strings.Contains(stderr, "has no name") || !strings.Contains(stderr, "annotation podlock.kubewarden.io/container") {
			t.Errorf("stderr %q, want the missing container name", stderr)
		}
	})

	t.Run("without a profile it runs unconfined", func(t *testing.T) {
		stdout, stderr, err := p.container(t, []string{containerAnnotation}, "cat", "/etc/passwd")
		if err != nil || !strings.HasPrefix(stdout, "root:x:0:0") {
			t.Fatalf("podman run: %v %q %s", err, stdout, stderr)
		}
	})
}

// A container started by ctr run with podlock-runtime as the runc binary
// of containerd's runc shim is confined by the profile its annotations
// name, from the local profiles directory.
func TestCtr(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Program("runc"), testenv.Busybox)
	tools := kube.Tools(t, "containerd", "containerd-shim-runc-v2", "ctr")
	bin := testenv.Binaries(t)
	dir := shortTempDir(t, "plc")
	socket := filepath.Join(dir, "c.sock")
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal(err)
	}

	// A private containerd: its own root, state, socket and shim sockets,
	// without the CRI. podlock-runtime's settings reach it through the
	// shim, which containerd starts with its own environment.
	config := fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images", "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs"]
[grpc]
  address = %q
[plugins.'io.containerd.internal.v1.opt']
  path = %q
[plugins.'io.containerd.image-verifier.v1.bindir']
  bin_dir = %q
[plugins.'io.containerd.shim.v1.manager']
  socket_dir = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), socket, filepath.Join(dir, "opt"), filepath.Join(dir, "opt", "verifiers"), filepath.Join(dir, "s"))
	for name, content := range map[string]string{"config.toml": config, "podlock.yaml": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	containerd, err := daemon.Start(filepath.Join(tools, "containerd"), filepath.Join(dir, "containerd.log"), []string{
		"PATH=" + tools + ":/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + dir,
		"PODLOCK_CONFIG=" + filepath.Join(dir, "podlock.yaml"),
		"PODLOCK_PROFILES_DIR=" + profilesDir(t, dir),
		"PODLOCK_RUNTIME=" + runc,
	}, "--config", filepath.Join(dir, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { containerd.Stop(10 * time.Second) })
	ctr := func(args ...string) (stdout, stderr string, err error) {
		t.Helper()
		stdout, stderr, err = command(t, nil, filepath.Join(tools, "ctr"), append([]string{"--address", socket, "--namespace", "default"}, args...)...)
		// containerd 2.4 warns on every command that this machine's
		// cgroups are v1.
		var kept []string
		for _, line := range testenv.Lines(stderr) {
			if !strings.Contains(line, `level=warning msg="DEPRECATION: The support for cgroup v1`) {
				kept = append(kept, line+"\n")
			}
		}
		return stdout, strings.Join(kept, ""), err
	}
	if err := containerd.WaitFor(30*time.Second, 100*time.Millisecond, func() error {
		_, stderr, err := ctr("version")
		if err != nil {
			return fmt.Errorf("%v: %s", err, stderr)
		}
		return nil
	}); err != nil {
		t.Fatalf("%v\n%s", err, daemon.Tail(filepath.Join(dir, "containerd.log"), 30))
	}

	rootfs := filepath.Join(dir, "rootfs")
	testenv.Rootfs(t, rootfs)
	var layout bytes.Buffer
	if err := cluster.WriteImageLayout(&layout, rootfs, []cluster.Image{{Name: cluster.BusyboxImage, Cmd: []string{"sh"}}}); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(dir, "image.tar")
	if err := os.WriteFile(tarball, layout.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := ctr("images", "import", "--local", tarball); err != nil {
		t.Fatalf("ctr images import: %v %s", err, stderr)
	}

	// ctr run, as the README shows it; --cgroup "" leaves the cgroup to
	// runc's default, as the other tests of this package do.
	run := func(id string, annotations []string, args ...string) (stdout, stderr string, err error) {
		t.Helper()
		flags := []string{"run", "--rm", "--cgroup", "", "--runtime", "io.containerd.runc.v2", "--runc-binary", filepath.Join(bin, "podlock-runtime")}
		for _, a := range annotations {
			flags = append(flags, "--annotation", a)
		}
		return ctr(append(append(flags, cluster.BusyboxImage, id), args...)...)
	}

	t.Run("confined by the profile its annotations name", func(t *testing.T) {
		stdout, stderr, err := run("quickstart", []string{profileAnnotation, containerAnnotation}, "sh", "-c", testenv.QuickstartScript)
		if err != nil {
			t.Fatalf("ctr run: %v\nstderr: %s\n%s", err, stderr, daemon.Tail(filepath.Join(dir, "containerd.log"), 20))
		}
		wantLines(t, "stdout", stdout, quickstartConfined.stdout)
		wantLines(t, "stderr", stderr, quickstartConfined.stderr)
	})

	t.Run("without a container name it is not started, and ctr says why", func(t *testing.T) {
		stdout, stderr, err := run("nameless", []string{profileAnnotation}, "echo", "UNCONFINED")
		if err == nil || strings.Contains(stdout, "UNCONFINED") {
			t.Fatalf("container ran: %v %q", err, stdout)
		}
		if !strings.Contains(stderr, "annotation podlock.kubewarden.io/container") {
			t.Errorf("stderr %q, want the missing container name", stderr)
		}
	})
}

// In a pod, the container manager names the container: podlock's own
// container annotation, which a pod could carry past containerd's
// annotation filter, never picks another container's rules.
func TestContainerAnnotationIgnoredInPods(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  containerWide:
    app:
      readExec: [/bin]
      readOnly: [/etc/hostname]
    loose:
      readWriteExec: [/]
`)
	b := testenv.NewBundle(t, "sh", "-c", "cat /etc/hostname; cat /etc/passwd").Annotate("default", "app", "demo")
	b.Spec.Annotations["podlock.kubewarden.io/container"] = "loose"
	b.Write(t)
	res := e.rt.Run(b, "container-annotation")
	wantLines(t, "stdout", res.Stdout, []string{"podlock-test"})
	wantLines(t, "stderr", res.Stderr, []string{"cat: can't open '/etc/passwd': Permission denied"})
}
