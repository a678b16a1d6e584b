package runtime_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// catProfile lists /bin/cat, which may read /etc/hostname only.
const catProfile = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  profilesByContainer:
    app:
      /bin/cat:
        readOnly: [/etc/hostname]
`

// forgeScript writes a policy that lets /bin/cat read everything into
// /tmp/forged and points /tmp/l at it, then waits: in an image where
// /.podlock -> /tmp/l -> /pl, runc put podlock's mounts at /pl, and a
// helper that follows /.podlock reads the forged policy. It also tries to
// overwrite podlock's policy, for a /.podlock that is writable.
const forgeScript = `
mkdir -p /tmp/forged
echo '` + forgedPolicy + `' > /tmp/forged/policy.json
ln -sfn /tmp/forged /tmp/l
[ -f /.podlock/policy.json ] && [ ! -L /.podlock ] && [ ! -L /.podlock/policy.json ] && cat /tmp/forged/policy.json > /.podlock/policy.json 2>/dev/null
touch /tmp/forged/ready
sleep 300
`

// plantSymlinks makes /.podlock -> /tmp/l -> /pl in the bundle's rootfs.
func plantSymlinks(t *testing.T, b *testenv.Bundle) {
	t.Helper()
	rootfs := filepath.Join(b.Dir, "rootfs")
	for link, target := range map[string]string{".podlock": "/tmp/l", "tmp/l": "/pl"} {
		if err := os.Symlink(target, filepath.Join(rootfs, link)); err != nil {
			t.Fatal(err)
		}
	}
}

// An image cannot choose where podlock's directory is: create refuses a
// rootfs whose /.podlock is anything but absent or an empty directory, and
// a mount at, under or above /.podlock, seen through the image's symlinks
// too. Before the fix, the first case let the container forge the policy
// of a listed binary and read /etc/passwd with it.
func TestPodlockDirPlantedByImage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, b *testenv.Bundle)
		want  string
	}{
		{
			name:  "symlink chain repointed by the container",
			setup: plantSymlinks,
			want:  "the image has /.podlock, a symlink: podlock mounts its helper and policy there; remove /.podlock from the image, or leave it an empty directory",
		},
		{
			name: "non-empty directory",
			setup: func(t *testing.T, b *testenv.Bundle) {
				mkdir(t, b, ".podlock")
				writeRootfs(t, b, ".podlock/policy.json", `{"abi":3}`)
			},
			want: "the image has /.podlock, a directory that is not empty: podlock mounts its helper and policy there; remove /.podlock from the image, or leave it an empty directory",
		},
		{
			name: "regular file",
			setup: func(t *testing.T, b *testenv.Bundle) {
				writeRootfs(t, b, ".podlock", "")
			},
			want: "the image has /.podlock, a regular file: podlock mounts its helper and policy there; remove /.podlock from the image, or leave it an empty directory",
		},
		{
			name: "mount at /.podlock",
			setup: func(t *testing.T, b *testenv.Bundle) {
				addMount(b, "/.podlock", t.TempDir())
			},
			want: "mount at /.podlock is at or under /.podlock, where podlock mounts its helper and policy; mount it elsewhere",
		},
		{
			name: "mount under /.podlock",
			setup: func(t *testing.T, b *testenv.Bundle) {
				addMount(b, "/.podlock/policy.json", filepath.Join(b.Dir, "config.json"))
			},
			want: "mount at /.podlock/policy.json is at or under /.podlock, where podlock mounts its helper and policy; mount it elsewhere",
		},
		{
			name: "volume at a symlink to /.podlock",
			setup: func(t *testing.T, b *testenv.Bundle) {
				symlinkRootfs(t, b, "/.podlock", "data")
				addMount(b, "/data", t.TempDir())
			},
			want: "mount at /data resolves to /.podlock in the image, which collides with /.podlock, where podlock mounts its helper and policy; mount it elsewhere",
		},
		{
			name: "volume under a dangling symlink into /.podlock",
			setup: func(t *testing.T, b *testenv.Bundle) {
				symlinkRootfs(t, b, "../.podlock/x", "data")
				addMount(b, "/data/sub", t.TempDir())
			},
			want: "mount at /data/sub resolves to /.podlock/x/sub in the image, which collides with /.podlock, where podlock mounts its helper and policy; mount it elsewhere",
		},
		{
			name: "volume over the root",
			setup: func(t *testing.T, b *testenv.Bundle) {
				symlinkRootfs(t, b, "/", "data")
				addMount(b, "/data", t.TempDir())
			},
			want: "mount at /data resolves to / in the image, which collides with /.podlock, where podlock mounts its helper and policy; mount it elsewhere",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.profile("demo", catProfile)
			b := testenv.NewBundle(t, "sh", "-c", forgeScript).Annotate("default", "app", "demo")
			tc.setup(t, b)
			before := b.Write(t)
			const id = "planted"
			res := e.rt.Command("create", "--bundle", b.Dir, id)
			if res.Err == nil {
				t.Errorf("create accepted the rootfs")
				e.showForgery(t, id)
				return
			}
			errs := e.rt.LogErrors(t)
			if len(errs) == 0 || !strings.Contains(errs[len(errs)-1], tc.want) {
				t.Errorf("log errors %q, want the last to contain %q", errs, tc.want)
			}
			if string(before) != string(b.Config(t)) {
				t.Errorf("config.json changed")
			}
		})
	}
}

// showForgery runs what the container of a wrongly accepted create does,
// and reports whether the listed /bin/cat then read /etc/passwd.
func (e *env) showForgery(t *testing.T, id string) {
	t.Helper()
	if res := e.rt.Command("start", id); res.Err != nil {
		t.Fatalf("start: %v %s", res.Err, res.Stderr)
	}
	waitForFile(t, e.rt, id, "/tmp/forged/ready")
	res := e.rt.Command("exec", id, "/bin/cat", "/etc/passwd")
	if strings.Contains(res.Stdout, "root:x:0:0") {
		t.Errorf("the listed /bin/cat read /etc/passwd under a forged policy")
	}
}

// waitForFile waits until a file exists in a running container.
func waitForFile(t *testing.T, rt *testenv.Runtime, id, file string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for rt.Command("exec", id, "/bin/busybox", "test", "-e", file).Err != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear in container %s", file, id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// forgedPolicy lets /bin/cat read and execute everything.
const forgedPolicy = `{"abi":3,"binaries":{"/bin/cat":{"exec":"/bin/busybox","rules":{"rules":[{"access":"readExec","paths":["/"]}]}}}}`

// The helper reads its policy only from podlock's own read-only mount at
// /.podlock, through no symlink, and only regular files of bounded size:
// should anything else ever stand at /.podlock, a listed binary fails with
// exit status 126 rather than run under rules the container wrote. Each
// case lets podlock-runtime create the bundle, then changes what runc
// will see and starts the container with plain runc, as if create had
// missed it.
func TestHelperRefusesForeignPodlockDir(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, b *testenv.Bundle, spec *specs.Spec)
		want  string
	}{
		{
			name: "symlink chain repointed by the container",
			setup: func(t *testing.T, b *testenv.Bundle, spec *specs.Spec) {
				// runc made /.podlock a directory at create.
				if err := os.RemoveAll(filepath.Join(b.Dir, "rootfs", ".podlock")); err != nil {
					t.Fatal(err)
				}
				plantSymlinks(t, b)
			},
			want: "podlock-helper: /.podlock is a symlink: not podlock's read-only mount",
		},
		{
			name: "directory of the image",
			setup: func(t *testing.T, b *testenv.Bundle, spec *specs.Spec) {
				writeRootfs(t, b, ".podlock/policy.json", forgedPolicy)
				spec.Mounts = slices.DeleteFunc(spec.Mounts, func(m specs.Mount) bool { return m.Destination == "/.podlock" })
			},
			want: "podlock-helper: /.podlock is not a mount point: not podlock's read-only mount",
		},
		{
			name: "writable mount",
			setup: func(t *testing.T, b *testenv.Bundle, spec *specs.Spec) {
				m := podlockMount(t, spec)
				m.Options = slices.DeleteFunc(m.Options, func(o string) bool { return o == "ro" })
			},
			want: "podlock-helper: /.podlock is a writable mount: not podlock's read-only mount",
		},
		{
			name: "policy is a symlink",
			setup: func(t *testing.T, b *testenv.Bundle, spec *specs.Spec) {
				dir := copyStateDir(t, b, spec)
				if err := os.Symlink("/tmp/forged/policy.json", filepath.Join(dir, "policy.json")); err != nil {
					t.Fatal(err)
				}
			},
			want: "podlock-helper: reading policy: /.podlock/policy.json is a symlink: not podlock's read-only mount",
		},
		{
			name: "policy is a FIFO",
			setup: func(t *testing.T, b *testenv.Bundle, spec *specs.Spec) {
				fifo := filepath.Join(copyStateDir(t, b, spec), "policy.json")
				if err := syscall.Mkfifo(fifo, 0o644); err != nil {
					t.Fatal(err)
				}
				feedFIFO(t, fifo, forgedPolicy)
			},
			want: "podlock-helper: reading policy: /.podlock/policy.json is not a regular file: not podlock's read-only mount",
		},
		{
			name: "policy too large",
			setup: func(t *testing.T, b *testenv.Bundle, spec *specs.Spec) {
				dir := copyStateDir(t, b, spec)
				padded := forgedPolicy + strings.Repeat(" ", landlock.MaxPolicySize)
				if err := os.WriteFile(filepath.Join(dir, "policy.json"), []byte(padded), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: "podlock-helper: reading policy: /.podlock/policy.json is larger than 4194304 bytes: not podlock's read-only mount",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.profile("demo", catProfile)
			b := testenv.NewBundle(t, "sh", "-c", forgeScript).Annotate("default", "app", "demo")
			b.Write(t)
			const id = "foreign"
			if res := e.rt.Command("create", "--bundle", b.Dir, id); res.Err != nil {
				t.Fatalf("create: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
			}
			e.rt.Command("delete", "--force", id)
			b.Spec = readSpec(t, b)
			tc.setup(t, b, b.Spec)
			b.Write(t)

			runc := testenv.NewRuntime(t, "runc")
			if res := runc.Command("run", "--detach", "--bundle", b.Dir, id); res.Err != nil {
				t.Fatalf("runc run: %v %s %q", res.Err, res.Stderr, runc.LogErrors(t))
			}
			waitForFile(t, runc, id, "/tmp/forged/ready")
			res := runc.Command("exec", id, "/bin/cat", "/etc/passwd")
			if strings.Contains(res.Stdout, "root:x:0:0") {
				t.Fatalf("the listed /bin/cat read /etc/passwd under a forged policy")
			}
			var exit *exec.ExitError
			if !errors.As(res.Err, &exit) || exit.ExitCode() != 126 {
				t.Errorf("exec: %v, want exit status 126", res.Err)
			}
			wantLines(t, "stderr", res.Stderr, []string{tc.want})
		})
	}
}

// podlockMount returns podlock's mount of its state directory.
func podlockMount(t *testing.T, spec *specs.Spec) *specs.Mount {
	t.Helper()
	for i := range spec.Mounts {
		if spec.Mounts[i].Destination == "/.podlock" {
			return &spec.Mounts[i]
		}
	}
	t.Fatal("no mount at /.podlock in config.json")
	return nil
}

// copyStateDir copies podlock's state directory without its policy, points
// podlock's mount at the copy and returns it.
func copyStateDir(t *testing.T, b *testenv.Bundle, spec *specs.Spec) string {
	t.Helper()
	m := podlockMount(t, spec)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", m.Source+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if err := os.Remove(filepath.Join(dir, "policy.json")); err != nil {
		t.Fatal(err)
	}
	m.Source = dir
	return dir
}

// feedFIFO writes content to whoever opens the FIFO for reading, until the
// end of the test: a reader that blocks in open gets the forged content.
func feedFIFO(t *testing.T, fifo, content string) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	t.Cleanup(func() { close(done); <-stopped })
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			// ENXIO until a reader has the FIFO open.
			f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if err != nil {
				continue
			}
			f.WriteString(content)
			f.Close()
		}
	}()
}

// An image may ship /.podlock as an empty directory (a mount point): such
// a container is confined as usual.
func TestPodlockDirEmptyInImage(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", catProfile)
	b := testenv.NewBundle(t, "sh", "-c", "/bin/cat /etc/hostname; /bin/cat /etc/passwd; exit 0").Annotate("default", "app", "demo")
	mkdir(t, b, ".podlock")
	b.Write(t)
	res := e.rt.Run(b, "empty-dir")
	if res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{"podlock-test"})
	wantLines(t, "stderr", res.Stderr, []string{"cat: can't open '/etc/passwd': Permission denied"})
}

func mkdir(t *testing.T, b *testenv.Bundle, rel string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(b.Dir, "rootfs", rel), 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeRootfs(t *testing.T, b *testenv.Bundle, rel, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(b.Dir, "rootfs", rel), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlinkRootfs(t *testing.T, b *testenv.Bundle, target, rel string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(b.Dir, "rootfs", rel)); err != nil {
		t.Fatal(err)
	}
}

func addMount(b *testenv.Bundle, destination, source string) {
	b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: destination, Type: "bind", Source: source, Options: []string{"rbind", "ro"}})
}

// readSpec reads a bundle's config.json as podlock-runtime left it.
func readSpec(t *testing.T, b *testenv.Bundle) *specs.Spec {
	t.Helper()
	var spec specs.Spec
	if err := json.Unmarshal(b.Config(t), &spec); err != nil {
		t.Fatal(err)
	}
	return &spec
}

// The container sees in /.podlock only what the helper reads: itself, the
// policy, the seccomp filter and the placeholders of originals. What a
// retried create and the interposition hook need (the original
// config.json with the container's whole environment, host paths) stays
// in the bundle, out of the container. (The entrypoint is not confined by
// Landlock here, to list the directory: Landlock rules let a confined
// process read nothing of it but the policy, see
// TestNamespaceProfileOriginals.)
func TestPodlockDirHoldsOnlyWhatTheHelperReads(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  profilesByContainer:
    app:
      /opt/bin/id:
        readOnly: [/etc/passwd]
  seccompByContainer:
    app: runtime-default
`)
	b := testenv.NewBundle(t, "sh", "-c", "ls -a /.podlock; ls -a /.podlock/orig; /opt/bin/id -u").Annotate("default", "app", "demo")
	b.Write(t)
	res := e.rt.Run(b, "contents")
	if res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{
		".", "..", "helper", "orig", "policy.json", "seccomp0.bpf",
		".", "..", "0",
		"0",
	})
	wantLines(t, "stderr", res.Stderr, nil)
	for _, dir := range []string{"podlock", "podlock.host"} {
		if _, err := os.Stat(filepath.Join(b.Dir, dir)); err != nil {
			t.Errorf("bundle: %v", err)
		}
	}
}
