package cluster

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// The harness itself: a pod through the runc handler runs to completion,
// its log is read back, an exec through the CRI works, and teardown leaves
// no mount or cgroup.
func TestCluster(t *testing.T) {
	var c *Cluster
	t.Run("start", func(t *testing.T) {
		c = Start(t, Options{})
		pod := c.CreatePod(t, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "hello"},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name:    "app",
					Command: []string{"sh", "-c", "echo hello; echo oops >&2; cat /etc/motd"},
				}},
			},
		})
		pod = c.WaitPodPhase(t, pod.Namespace, pod.Name, time.Minute, corev1.PodSucceeded, corev1.PodFailed)
		if pod.Status.Phase != corev1.PodSucceeded {
			t.Fatalf("pod failed:\n%s", DescribePod(pod))
		}
		log, ok := c.Logs(t, pod, "app", 0)
		if !ok || log.Stdout != "hello\nwelcome to podlock\n" || log.Stderr != "oops\n" {
			t.Errorf("log %v %q", ok, log)
		}

		sleeper := c.CreatePod(t, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "sleeper"},
			Spec: corev1.PodSpec{
				RuntimeClassName: ptr(RuntimeClassPodlock),
				Containers:       []corev1.Container{{Name: "app", Command: []string{"sleep", "3600"}}},
			},
		})
		sleeper = c.WaitPodPhase(t, sleeper.Namespace, sleeper.Name, time.Minute, corev1.PodRunning)
		res, err := c.CRIExec(ContainerID(sleeper, "app"), 10*time.Second, "cat", "/etc/hostname")
		if err != nil || res.ExitCode != 0 || res.Stdout == "" {
			t.Errorf("exec: %+v %v", res, err)
		}
		// The sleeper is left running: teardown must remove it.
	})
	// The subtest's end tore the cluster down.
	if c == nil {
		return
	}
	dir, cgroup := c.Dir(), c.cgroupName()
	mounts, err := mountInfo()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		if strings.HasPrefix(m.point, dir) {
			t.Errorf("mount left after teardown: %s", m.point)
		}
	}
	cgroups, _ := cgroupMounts()
	for _, mnt := range cgroups {
		if _, err := os.Stat(filepath.Join(mnt, cgroup)); err == nil {
			t.Errorf("cgroup left after teardown: %s", filepath.Join(mnt, cgroup))
		}
	}
	if _, err := os.Stat(dir); err == nil && os.Getenv("PODLOCK_KEEP_CLUSTER") == "" {
		t.Errorf("directory left after teardown: %s", dir)
	}
}

func ptr[T any](v T) *T { return &v }

func TestWriteImageLayout(t *testing.T) {
	rootfs := t.TempDir()
	os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), []byte("binary"), 0o755)
	os.Symlink("busybox", filepath.Join(rootfs, "bin", "sh"))
	var a, b bytes.Buffer
	if err := WriteImageLayout(&a, rootfs, defaultImages); err != nil {
		t.Fatal(err)
	}
	if err := WriteImageLayout(&b, rootfs, defaultImages); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two layouts of the same rootfs differ")
	}
	files := map[string][]byte{}
	tr := tar.NewReader(&a)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		files[hdr.Name] = data
	}
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 2 || index.Manifests[0].Annotations["io.containerd.image.name"] != BusyboxImage {
		t.Fatalf("index.json: %s", files["index.json"])
	}
	for _, m := range index.Manifests {
		if _, ok := files["blobs/sha256/"+strings.TrimPrefix(m.Digest, "sha256:")]; !ok {
			t.Errorf("manifest %s missing", m.Digest)
		}
	}
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout: %s", files["oci-layout"])
	}
}

// The private containerd's config and the podlock drop-in, as containerd
// itself merges them (`containerd config dump` starts no daemon).
func TestContainerdConfig(t *testing.T) {
	tools := kube.Tools(t, "containerd")
	dir := t.TempDir()
	c := &Cluster{dir: dir, id: "test", toolsDir: tools, cniBinDir: "/cni/bin", binDir: testenv.Binaries(t)}
	if err := os.MkdirAll(c.confDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.ContainerdConfig(), []byte(c.containerdConfig()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.InstallPodlock(c.ContainerdConfig()); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(tools, "containerd"), "--config", c.ContainerdConfig(), "config", "dump").CombinedOutput()
	if err != nil {
		t.Fatalf("containerd config dump: %v\n%s", err, out)
	}
	dump := string(out)
	for _, want := range []string{
		"restrict_oom_score_adj = true",
		"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.podlock]",
		"pod_annotations = ['podlock.kubewarden.io/*']",
		"BinaryName = '" + filepath.Join(c.binDir, "podlock-runtime") + "'",
		"BinaryName = '" + filepath.Join(tools, "runc") + "'",
		"Root = '" + c.RuncRoot() + "'",
		"sandbox = '" + PauseImage + "'",
		"socket_dir = '" + c.shimSocketDir() + "'",
		"address = '" + c.Socket() + "'",
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("config dump lacks %q", want)
		}
	}
}
