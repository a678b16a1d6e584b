// Package testenv builds what podlock's integration tests run on: the
// podlock binaries, a busybox-static root filesystem and OCI bundles, and
// runs containers through podlock-runtime and runc.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Require skips the test when a need is not met, unless PODLOCK_NO_SKIP is
// set (as `make test` does), in which case it fails: on the machines the
// project is tested on, every test must run.
func Require(t testing.TB, needs ...Need) {
	t.Helper()
	for _, n := range needs {
		if why := n(); why != "" {
			if os.Getenv("PODLOCK_NO_SKIP") != "" {
				t.Fatalf("cannot run: %s (PODLOCK_NO_SKIP is set)", why)
			}
			t.Skipf("skipping: %s", why)
		}
	}
}

// A Need returns why it is not met, or "".
type Need func() string

// Root needs the tests to run as root.
func Root() string {
	if os.Geteuid() != 0 {
		return "needs root"
	}
	return ""
}

// Program needs an executable in PATH.
func Program(name string) Need {
	return func() string {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Sprintf("needs %s in PATH (apt-get install %s)", name, name)
		}
		return ""
	}
}

// Busybox needs Debian's busybox-static.
func Busybox() string {
	if _, err := os.Stat(busyboxPath); err != nil {
		return "needs " + busyboxPath + " (apt-get install busybox-static)"
	}
	return ""
}

const busyboxPath = "/bin/busybox"

// ModuleRoot is the directory of podlock's go.mod, found from the working
// directory, which go test sets to the package's (source file paths are
// relative under -trimpath).
func ModuleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.HasPrefix(string(data), "module github.com/kubewarden/podlock\n") {
			return d
		}
		if d == filepath.Dir(d) {
			panic("podlock's go.mod not found above " + dir)
		}
	}
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// Binaries returns the directory of podlock-runtime and podlock-helper:
// PODLOCK_BIN_DIR when set (make test builds them there), or else a
// temporary directory they are built into with `make build`, once per test
// process, so that tests run what the Makefile ships.
func Binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir = os.Getenv("PODLOCK_BIN_DIR"); binDir != "" {
			return
		}
		binDir, buildErr = os.MkdirTemp("", "podlock-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("make", "--no-print-directory", "build", "BIN="+binDir)
		cmd.Dir = ModuleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("make build: %v\n%s", err, out)
			return
		}
		// The helper must be readable and executable by every user.
		buildErr = os.Chmod(binDir, 0o755)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// TestProgram builds a static program of tests/cmd into a temporary
// directory and returns its path: the containers' busybox userland has no
// client for every kernel interface.
func TestProgram(t testing.TB, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, "./tests/cmd/"+name)
	cmd.Dir = ModuleRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if data, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v: %s", name, err, data)
	}
	return out
}

// Rootfs builds a busybox-static root filesystem in dir: every applet as a
// symlink in /bin, /etc files the tests read, and /opt/bin/id, a copy of
// busybox, which is a binary distinct from /bin/busybox.
func Rootfs(t testing.TB, dir string) {
	t.Helper()
	for _, d := range []string{"bin", "etc", "tmp", "proc", "dev", "sys", "opt/bin", "usr/bin", "root"} {
		must(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	must(t, os.Chmod(filepath.Join(dir, "tmp"), 0o1777))
	copyFile(t, busyboxPath, filepath.Join(dir, "bin", "busybox"))
	copyFile(t, busyboxPath, filepath.Join(dir, "opt", "bin", "id"))
	out, err := exec.Command(busyboxPath, "--list").Output()
	must(t, err)
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		must(t, os.Symlink("busybox", filepath.Join(dir, "bin", applet)))
	}
	for name, content := range map[string]string{
		"etc/hostname": "podlock-test\n",
		"etc/motd":     "welcome to podlock\n",
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":    "root:x:0:\nnogroup:x:65534:\n",
	} {
		must(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, data, 0o755))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Bundle is an OCI bundle for a test container.
type Bundle struct {
	Dir  string
	Spec *specs.Spec
}

// NewBundle makes a bundle with a fresh busybox rootfs and runc's default
// spec, changed for tests: no terminal, a writable rootfs and args.
func NewBundle(t testing.TB, args ...string) *Bundle {
	t.Helper()
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	Rootfs(t, filepath.Join(dir, "rootfs"))
	cmd := exec.Command("runc", "spec", "--bundle", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	must(t, err)
	var spec specs.Spec
	must(t, json.Unmarshal(data, &spec))
	spec.Process.Terminal = false
	spec.Process.Args = args
	spec.Root.Readonly = false
	spec.Hostname = "podlock-test"
	return &Bundle{Dir: dir, Spec: &spec}
}

// Annotate sets the annotations containerd's CRI plugin sets for a
// container named container in namespace, and the profile annotation when
// profile is not empty.
func (b *Bundle) Annotate(namespace, container, profile string) *Bundle {
	if b.Spec.Annotations == nil {
		b.Spec.Annotations = map[string]string{}
	}
	b.Spec.Annotations["io.kubernetes.cri.container-type"] = "container"
	b.Spec.Annotations["io.kubernetes.cri.container-name"] = container
	b.Spec.Annotations["io.kubernetes.cri.sandbox-namespace"] = namespace
	b.Spec.Annotations["io.kubernetes.cri.sandbox-name"] = "test-pod"
	if profile != "" {
		b.Spec.Annotations["podlock.kubewarden.io/profile"] = profile
	}
	return b
}

// Write stores the spec as config.json and returns its bytes.
func (b *Bundle) Write(t testing.TB) []byte {
	t.Helper()
	data, err := json.MarshalIndent(b.Spec, "", "\t")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(b.Dir, "config.json"), data, 0o644))
	return data
}

// Config returns the current config.json.
func (b *Bundle) Config(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(b.Dir, "config.json"))
	must(t, err)
	return data
}

// Runtime runs OCI runtime commands against one state root.
type Runtime struct {
	// Binary is the runtime executed: podlock-runtime, runc or crun.
	Binary string
	// Root is the state directory (--root), Log the --log file.
	Root, Log string
	// IndexDir is podlock-runtime's container index (PODLOCK_INDEX_DIR),
	// private to the test unless Env names another.
	IndexDir string
	// Env is added to the environment of every command.
	Env []string
	// Globals are global flags given before the command, after those
	// containerd gives.
	Globals []string
	// Timeout, when set, kills a command that has not returned by then:
	// for tests of what must not hang.
	Timeout time.Duration
}

// NewRuntime returns a Runtime with a private state root and log file,
// and deletes its leftover containers at the end of the test.
func NewRuntime(t testing.TB, binary string, env ...string) *Runtime {
	t.Helper()
	dir := t.TempDir()
	r := &Runtime{Binary: binary, Root: filepath.Join(dir, "state"), Log: filepath.Join(dir, "log.json"), IndexDir: filepath.Join(dir, "index")}
	r.Env = append([]string{"PODLOCK_INDEX_DIR=" + r.IndexDir}, env...)
	for _, v := range env {
		if dir, ok := strings.CutPrefix(v, "PODLOCK_INDEX_DIR="); ok {
			r.IndexDir = dir
		}
	}
	t.Cleanup(func() {
		entries, _ := os.ReadDir(r.Root)
		for _, e := range entries {
			r.Command("delete", "--force", e.Name())
		}
	})
	return r
}

// Result is the outcome of one runtime command.
type Result struct {
	Stdout, Stderr string
	Err            error
}

// Command runs the runtime with the global flags containerd passes, then
// args. Output goes through files, not pipes: a detached container keeps
// the runtime's stdio open long after the command returns.
func (r *Runtime) Command(args ...string) Result {
	all := append([]string{"--root", r.Root, "--log", r.Log, "--log-format", "json"}, r.Globals...)
	all = append(all, args...)
	ctx := context.Background()
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, r.Binary, all...)
	cmd.Env = append(os.Environ(), r.Env...)
	stdout, err := os.CreateTemp("", "podlock-stdout-")
	if err != nil {
		return Result{Err: err}
	}
	defer os.Remove(stdout.Name())
	defer stdout.Close()
	stderr, err := os.CreateTemp("", "podlock-stderr-")
	if err != nil {
		return Result{Err: err}
	}
	defer os.Remove(stderr.Name())
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s did not return within %v: %w", filepath.Base(r.Binary), args[0], r.Timeout, err)
	}
	out, _ := os.ReadFile(stdout.Name())
	errOut, _ := os.ReadFile(stderr.Name())
	return Result{Stdout: string(out), Stderr: string(errOut), Err: err}
}

// Run runs a container to completion (`run`), deletes it, and returns what
// it printed.
func (r *Runtime) Run(b *Bundle, id string) Result {
	res := r.Command("run", "--bundle", b.Dir, id)
	r.Command("delete", "--force", id)
	return res
}

// LogErrors returns the msg of every "error" line in the --log file, as
// containerd would read them.
func (r *Runtime) LogErrors(t testing.TB) []string {
	t.Helper()
	data, err := os.ReadFile(r.Log)
	if os.IsNotExist(err) {
		return nil
	}
	must(t, err)
	var msgs []string
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var entry struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(line, &entry) == nil && entry.Level == "error" {
			msgs = append(msgs, entry.Msg)
		}
	}
	return msgs
}

// Lines splits output into lines, without the trailing empty one.
func Lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// FreePort returns a loopback TCP port that nothing listens on.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// LockAudit serialises the tests that register as the kernel's audit
// daemon, which only one process at a time can be, across the test
// binaries that go test runs in parallel. The lock is released at the end
// of the test.
func LockAudit(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "podlock-audit-test.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// QuickstartProfile is the quickstart of the seed's product on busybox,
// as README.md shows it: /bin/sh of container app may execute a few
// applets, write /tmp and read two files of /etc.
const QuickstartProfile = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
  namespace: default
spec:
  profilesByContainer:
    app:
      /bin/sh:
        readExec: [/bin/echo, /bin/cat, /bin/cp, /bin/sleep]
        readWrite: [/tmp]
        readOnly: [/etc/hostname, /etc/motd]
`

// QuickstartScript is what the quickstart's container runs: one allowed
// and one denied access of each kind.
const QuickstartScript = `
cat /etc/hostname
/opt/bin/id
cp /etc/motd /motd
cp /etc/motd /tmp && echo copied motd to /tmp
cp /etc/passwd /tmp
echo done
`

// WaitForRecording waits until every learning-mode agent writing into
// recordDir has exited, then returns the manifests recorded for the
// profile. On timeout it logs the agents' logs.
func WaitForRecording(t testing.TB, recordDir, namespace, profile string) []byte {
	t.Helper()
	file := filepath.Join(recordDir, namespace, profile+".yaml")
	deadline := time.Now().Add(30 * time.Second)
	for {
		agents, _ := filepath.Glob(filepath.Join(recordDir, ".agents", "*.sock"))
		data, err := os.ReadFile(file)
		if err == nil && len(agents) == 0 {
			return data
		}
		if time.Now().After(deadline) {
			logs, _ := filepath.Glob(filepath.Join(recordDir, namespace, profile+".*.log"))
			for _, l := range logs {
				out, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", l, out)
			}
			t.Fatalf("no complete recording in %s after 30s (agents still running: %q): %v", file, agents, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	imageOnce    sync.Once
	imageArchive string
	imageErr     error
)

// Image returns the podlock image's archive, the one `make image` writes
// (an OCI layout as a tar, for `ctr images import`): PODLOCK_IMAGE when set
// (make test builds it there), or else one built from Binaries by
// install/image, once per test process.
func Image(t testing.TB) string {
	t.Helper()
	bin := Binaries(t)
	imageOnce.Do(func() {
		if imageArchive = os.Getenv("PODLOCK_IMAGE"); imageArchive != "" {
			return
		}
		var dir string
		if dir, imageErr = os.MkdirTemp("", "podlock-image-"); imageErr != nil {
			return
		}
		imageArchive, imageErr = BuildImage(dir, bin, "podlock:test")
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageArchive
}

// BuildImage builds the podlock image named ref from the binaries of
// binDir into dir, as `make image` does, and returns its archive.
func BuildImage(dir, binDir, ref string) (string, error) {
	cmd := exec.Command("go", "run", "./install/image", "-image", ref, "-out", dir, "linux/"+goruntime.GOARCH+"="+binDir)
	cmd.Dir = ModuleRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the image %s: %v\n%s", ref, err, out)
	}
	return filepath.Join(dir, "image.tar"), nil
}
