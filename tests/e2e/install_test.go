package e2e_test

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kubewarden/podlock/tests/internal/chart"
	"github.com/kubewarden/podlock/tests/internal/cluster"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// operator is an installation of podlock by its Helm chart on the test
// cluster, as an operator does it.
type operator struct {
	t       *testing.T
	c       *cluster.Cluster
	helm    *action.Configuration
	values  map[string]any
	hostBin string // where the DaemonSet installs podlock-runtime
}

// The operator's way: `make image` imported into the node's containerd,
// the chart installed with Helm, the engine restarted, then the README's
// quickstart as a user runs it; an upgrade to another build while a
// confined pod runs; and the uninstall, which leaves containerd's
// configuration as it was.
//
// The cluster runs kube-controller-manager and kube-scheduler (the
// DaemonSet and the Deployment of two replicas are theirs to run), every
// pod is in the host network, and Services have loopback cluster IPs,
// which the API server calls for the webhooks (cluster.Options.Controllers).
func TestOperatorInstall(t *testing.T) {
	began := time.Now()
	c := cluster.Start(t, cluster.Options{WithoutPodlock: true, Controllers: true})
	// podlock-node reports denials: it is the kernel's audit daemon.
	testenv.LockAudit(t)
	original := engineConfig(t, c)

	archive := testenv.Image(t)
	ref := imageName(t, archive)
	c.ImportImage(t, archive, ref)
	o := newOperator(t, c, ref)

	installed := time.Now()
	o.install()
	t.Logf("helm install took %v", time.Since(installed).Round(time.Millisecond))
	// The profile of the quickstart, for the pods to come.
	c.API.Apply(t, []byte(testenv.QuickstartProfile))
	admitted := o.firstAdmittedPod()
	t.Logf("first pod admitted %v after helm install returned", admitted.Sub(installed).Round(time.Millisecond))

	o.waitNodeAgent(ref)
	o.waitControllers(ref)
	if got := engineConfig(t, c); got[cluster.PodlockDropIn] == "" {
		t.Fatalf("podlock-install added no %s to containerd's configuration: %v", cluster.PodlockDropIn, got)
	}
	// The engine reads its new configuration when restarted.
	c.RestartContainerd(t)
	t.Logf("podlock installed and the engine restarted %v after the cluster was up", time.Since(began.Add(c.StartupTime)).Round(time.Millisecond))

	// The README's quickstart, as a user runs it: a profile, a labelled pod.
	_, ref0 := run(t, c, pod("hostname", "cat /etc/hostname", withRuntimeClass(cluster.RuntimeClassRunc)))
	hostname := strings.TrimSpace(ref0.Stdout)
	quickstart := func(name string) *corev1.Pod {
		p, log := run(t, c, pod(name, testenv.QuickstartScript, withProfile("demo")))
		stdout, stderr := quickstartConfined(hostname)
		wantLines(t, name+" stdout", log.Stdout, stdout)
		wantLines(t, name+" stderr", log.Stderr, stderr)
		return p
	}
	quickstart("quickstart")

	t.Run("upgrade", func(t *testing.T) { o.upgrade(t, quickstart) })

	t.Run("uninstall", func(t *testing.T) {
		o.uninstall(ref)
		if got := engineConfig(t, c); !equalFiles(got, original) {
			t.Errorf("containerd's configuration after uninstall:\n%v\nbefore install:\n%v", got, original)
		}
	})
}

func newOperator(t *testing.T, c *cluster.Cluster, ref string) *operator {
	kubeconfig := filepath.Join(t.TempDir(), "admin.kubeconfig")
	if err := c.API.WriteKubeconfig(kubeconfig, "admin", c.API.AdminToken()); err != nil {
		t.Fatal(err)
	}
	namespace := chart.Namespace
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig, flags.Namespace = &kubeconfig, &namespace
	cfg := action.NewConfiguration()
	if err := cfg.Init(flags, namespace, "secret"); err != nil {
		t.Fatal(err)
	}

	// The node's files are under the cluster's directory: podlock-node
	// writes podlock-runtime's configuration where the cluster's
	// containerd reads it (PODLOCK_CONFIG), and podlock-install edits the
	// cluster's containerd configuration.
	repository, tag := splitRef(ref)
	_, port, _ := strings.Cut(strings.TrimPrefix(c.API.URL(), "https://"), ":")
	o := &operator{t: t, c: c, helm: cfg, hostBin: filepath.Join(c.Dir(), "bin")}
	o.values = map[string]any{
		"image": map[string]any{"repository": repository, "tag": tag},
		// Pods of the host network cannot reach the API server at its
		// Service address: no kube-proxy runs.
		"kubernetesAPI": map[string]any{"host": "127.0.0.1", "port": port},
		"controller": map[string]any{
			"hostNetwork": true,
			// The API server calls the Service's cluster IP (loopback) at
			// its port, which must be the replicas' own.
			"webhookPort": testenv.FreePort(t), "probePort": testenv.FreePort(t), "metricsPort": testenv.FreePort(t),
		},
		"node": map[string]any{
			"hostNetwork": true,
			"hostPaths": map[string]any{
				"bin":        o.hostBin,
				"config":     filepath.Dir(c.PodlockConfig()),
				"cache":      c.PodlockCacheDir(),
				"records":    c.PodlockRecordDir(),
				"index":      c.PodlockIndexDir(),
				"containerd": filepath.Dir(c.ContainerdConfig()),
				"crio":       filepath.Join(c.Dir(), "crio"),
			},
			"engineConfig": c.ContainerdConfig(),
			"metricsPort":  testenv.FreePort(t),
			"probePort":    testenv.FreePort(t),
		},
	}
	controller := o.values["controller"].(map[string]any)
	controller["servicePort"] = controller["webhookPort"]
	return o
}

func (o *operator) install() {
	o.t.Helper()
	ch, err := chart.Load()
	if err != nil {
		o.t.Fatal(err)
	}
	install := action.NewInstall(o.helm)
	install.ReleaseName = "podlock"
	install.Namespace = chart.Namespace
	install.CreateNamespace = true
	install.WaitStrategy = kube.HookOnlyStrategy
	install.Timeout = 2 * time.Minute
	if _, err := install.Run(ch, o.values); err != nil {
		o.t.Fatalf("helm install: %v", err)
	}
}

// firstAdmittedPod creates a pod bound to the quickstart profile, in a dry
// run, until the webhooks admit one (the first is refused while no
// controller answers, or before the API server trusts it), and returns
// when that happened.
func (o *operator) firstAdmittedPod() time.Time {
	o.t.Helper()
	p := pod("first", "true", withProfile("demo"))
	cluster.PodDefaults(p)
	p.APIVersion, p.Kind = "v1", "Pod"
	body, err := json.Marshal(p)
	if err != nil {
		o.t.Fatal(err)
	}
	var last string
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		status, resp, err := o.c.API.Do(http.MethodPost, "/api/v1/namespaces/default/pods?dryRun=All", body)
		if err != nil || status != http.StatusCreated {
			last = fmt.Sprintf("%d %v %s", status, err, resp)
			continue
		}
		at := time.Now()
		var admitted corev1.Pod
		if err := json.Unmarshal(resp, &admitted); err != nil {
			o.t.Fatal(err)
		}
		if admitted.Spec.RuntimeClassName == nil || *admitted.Spec.RuntimeClassName != cluster.RuntimeClassPodlock {
			o.t.Fatalf("a labelled pod admitted without the webhooks: %s", resp)
		}
		return at
	}
	o.t.Fatalf("no pod admitted within 3 minutes of the install; last: %s", last)
	return time.Time{}
}

// podsOf lists the pods of a component of the chart.
func (o *operator) podsOf(component string) []corev1.Pod {
	o.t.Helper()
	status, body, err := o.c.API.Do(http.MethodGet, "/api/v1/namespaces/"+chart.Namespace+"/pods?labelSelector=app.kubernetes.io%2Fcomponent%3D"+component, nil)
	if err != nil || status != http.StatusOK {
		o.t.Fatalf("listing the %s pods: %d %v %s", component, status, err, body)
	}
	var list corev1.PodList
	if err := json.Unmarshal(body, &list); err != nil {
		o.t.Fatal(err)
	}
	return list.Items
}

// readyOn tells whether a pod runs image ref and is ready.
func readyOn(p corev1.Pod, ref string) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Spec.Containers {
		if c.Image != ref {
			return false
		}
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitPods waits until exactly n pods of a component run image ref and
// are ready, and no other is left.
func (o *operator) waitPods(component, ref string, n int) []corev1.Pod {
	o.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		pods := o.podsOf(component)
		ready := 0
		for _, p := range pods {
			if readyOn(p, ref) {
				ready++
			}
		}
		if ready == n && len(pods) == n {
			return pods
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for i := range pods {
				fmt.Fprintf(&b, "%s (%s): %s", pods[i].Name, pods[i].Spec.Containers[0].Image, cluster.DescribePod(&pods[i]))
			}
			o.t.Fatalf("%d of %d %s pods ready on %s after 3 minutes:\n%s", ready, n, component, ref, b.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitNodeAgent waits until the DaemonSet's pod, which ran podlock-node
// setup and podlock-install, is ready (its readiness probe: the binaries
// installed, the token written, the audit socket held).
func (o *operator) waitNodeAgent(ref string) {
	o.t.Helper()
	o.waitPods("node", ref, 1)
	for _, name := range []string{"podlock-runtime", "podlock-runtime-confine", "podlock-helper", "podlock-interpose"} {
		if _, err := os.Stat(filepath.Join(o.hostBin, name)); err != nil {
			o.t.Errorf("the DaemonSet installed no %s: %v", name, err)
		}
	}
}

// waitControllers waits until both replicas of the controller run image
// ref and are ready, and one holds the leader-election lease.
func (o *operator) waitControllers(ref string) {
	o.t.Helper()
	o.waitPods("controller", ref, 2)
	deadline := time.Now().Add(time.Minute)
	for {
		status, body, _ := o.c.API.Do(http.MethodGet, "/apis/coordination.k8s.io/v1/namespaces/"+chart.Namespace+"/leases/podlock-controller.podlock.kubewarden.io", nil)
		var lease struct {
			Spec struct {
				HolderIdentity string `json:"holderIdentity"`
			} `json:"spec"`
		}
		if status == http.StatusOK && json.Unmarshal(body, &lease) == nil && lease.Spec.HolderIdentity != "" {
			return
		}
		if time.Now().After(deadline) {
			o.t.Fatalf("no replica leads: %d %s", status, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// upgrade installs a second build of the image while a confined pod runs:
// the pod goes on, confined; new pods get the new helper.
func (o *operator) upgrade(t *testing.T, quickstart func(string) *corev1.Pod) {
	// A confined pod that keeps reading a file its profile allows and one
	// it denies, started before the upgrade.
	running := start(t, o.c, pod("running", `trap 'exit 0' TERM; while true; do
  if h=$(/bin/cat /etc/hostname); then echo allowed; fi
  if ! p=$(/bin/cat /etc/passwd 2>&1); then echo denied; fi
  sleep 1
done`, withProfile("demo")))
	id := cluster.ContainerID(running, "app")
	confinedExec := func(when string) {
		res, err := o.c.CRIExec(id, 10*time.Second, "/bin/sh", "-c", "/bin/cat /etc/hostname && /bin/cat /etc/passwd")
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 1 || !strings.Contains(res.Stderr, "cat: can't open '/etc/passwd': Permission denied") || res.Stdout == "" {
			t.Errorf("%s: an exec session of the listed /bin/sh: %+v; want /etc/hostname read and /etc/passwd denied", when, res)
		}
	}
	confinedExec("before the upgrade")
	before := waitLog(t, o.c, running, "app", 0, func(l cluster.Log) bool { return strings.Count(l.Stdout, "denied") >= 1 })

	// Another build: the same binaries, but a helper built without
	// -trimpath, which makes it another file.
	bin := t.TempDir()
	for _, name := range []string{"podlock-runtime", "podlock-runtime-confine", "podlock-interpose", "podlock-install", "podlock-node", "podlock-controller"} {
		data, err := os.ReadFile(filepath.Join(testenv.Binaries(t), name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-ldflags", "-s -w", "-o", filepath.Join(bin, "podlock-helper"), "./cmd/podlock-helper")
	build.Dir = testenv.ModuleRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building another podlock-helper: %v\n%s", err, out)
	}
	newHelper := fileHash(t, filepath.Join(bin, "podlock-helper"))
	if newHelper == fileHash(t, filepath.Join(o.hostBin, "podlock-helper")) {
		t.Fatal("the second build's helper is the first's")
	}
	archive, err := testenv.BuildImage(t.TempDir(), bin, "podlock:e2e-upgrade")
	if err != nil {
		t.Fatal(err)
	}
	ref := imageName(t, archive)
	o.c.ImportImage(t, archive, ref)

	repository, tag := splitRef(ref)
	o.values["image"] = map[string]any{"repository": repository, "tag": tag}
	ch, err := chart.Load()
	if err != nil {
		t.Fatal(err)
	}
	upgrade := action.NewUpgrade(o.helm)
	upgrade.Namespace = chart.Namespace
	upgrade.WaitStrategy = kube.HookOnlyStrategy
	upgrade.Timeout = 2 * time.Minute
	upgraded := time.Now()
	if _, err := upgrade.Run("podlock", ch, o.values); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	o.waitNodeAgent(ref)
	o.waitControllers(ref)
	t.Logf("upgraded to %s in %v", ref, time.Since(upgraded).Round(time.Millisecond))
	if got := fileHash(t, filepath.Join(o.hostBin, "podlock-helper")); got != newHelper {
		t.Fatal("the upgrade did not install the new helper on the node")
	}

	// The running pod goes on, confined.
	after := waitLog(t, o.c, running, "app", 0, func(l cluster.Log) bool {
		return strings.Count(l.Stdout, "denied") >= strings.Count(before.Stdout, "denied")+2
	})
	if strings.Count(after.Stdout, "allowed") <= strings.Count(before.Stdout, "allowed") {
		t.Errorf("the running pod stopped reading /etc/hostname after the upgrade:\n%s", after.Stdout)
	}
	if p, err := o.c.GetPod(running.Namespace, running.Name); err != nil || p.Status.Phase != corev1.PodRunning || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("the running pod after the upgrade: %v\n%s", err, cluster.DescribePod(p))
	}
	confinedExec("after the upgrade")

	// A new pod gets the new helper.
	fresh := start(t, o.c, pod("fresh", longRunning, withProfile("demo")))
	if got := o.helperOf(t, cluster.ContainerID(fresh, "app")); got != newHelper {
		t.Errorf("a pod started after the upgrade has the helper %s, not the new build's %s", got, newHelper)
	}
	quickstart("after-upgrade")
}

// helperOf returns the hash of the helper mounted into a container, read
// from the host through its init process.
func (o *operator) helperOf(t *testing.T, id string) string {
	out, err := exec.Command(o.c.RuncBinary(), "--root", filepath.Join(o.c.RuncRoot(), "k8s.io"), "state", id).Output()
	if err != nil {
		t.Fatalf("runc state %s: %v", id, err)
	}
	var state struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal(out, &state); err != nil {
		t.Fatal(err)
	}
	return fileHash(t, fmt.Sprintf("/proc/%d/root/.podlock/helper", state.Pid))
}

// uninstall removes the release, then the handler, with podlock-install
// on the node, as the chart's notes say: from the image, in a pod like the
// one `kubectl debug node/NODE --profile=sysadmin` creates (the host's
// root filesystem at /host).
func (o *operator) uninstall(ref string) {
	o.t.Helper()
	uninstall := action.NewUninstall(o.helm)
	uninstall.WaitStrategy = kube.StatusWatcherStrategy
	uninstall.Timeout = 2 * time.Minute
	if _, err := uninstall.Run("podlock"); err != nil {
		o.t.Fatalf("helm uninstall: %v", err)
	}
	privileged := true
	debug := pod("node-debugger", "", func(p *corev1.Pod) {
		p.Spec.HostPID, p.Spec.HostIPC = true, true
		p.Spec.Containers[0].Image = ref
		p.Spec.Containers[0].Command = []string{"/podlock/podlock-install", "uninstall", "--root=/host", "--config=" + o.c.ContainerdConfig()}
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &privileged}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "host-root", MountPath: "/host"}}
		p.Spec.Volumes = []corev1.Volume{{Name: "host-root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	})
	_, log := run(o.t, o.c, debug)
	o.t.Logf("podlock-install uninstall:\n%s%s", log.Stdout, log.Stderr)
}

// engineConfig reads containerd's configuration: the main file and the
// drop-ins of conf.d, by name.
func engineConfig(t *testing.T, c *cluster.Cluster) map[string]string {
	t.Helper()
	files := map[string]string{}
	main := c.ContainerdConfig()
	data, err := os.ReadFile(main)
	if err != nil {
		t.Fatal(err)
	}
	files[filepath.Base(main)] = string(data)
	entries, err := os.ReadDir(filepath.Join(filepath.Dir(main), "conf.d"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(filepath.Dir(main), "conf.d", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(data)
	}
	return files
}

func equalFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// imageName returns the name an image archive gives its image in
// containerd (its index's io.containerd.image.name).
func imageName(t *testing.T, archive string) string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no index.json: %v", archive, err)
		}
		if hdr.Name != "index.json" {
			continue
		}
		var index struct {
			Manifests []struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"manifests"`
		}
		if err := json.NewDecoder(tr).Decode(&index); err != nil || len(index.Manifests) != 1 {
			t.Fatalf("%s: index.json: %v", archive, err)
		}
		return index.Manifests[0].Annotations["io.containerd.image.name"]
	}
}

// splitRef splits an image reference into repository and tag.
func splitRef(ref string) (string, string) {
	i := strings.LastIndex(ref, ":")
	return ref[:i], ref[i+1:]
}

func fileHash(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
