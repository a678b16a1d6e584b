// Package e2e_test runs podlock in a real single-node cluster
// (tests/internal/cluster): etcd, kube-apiserver, a kubelet and a private
// containerd whose runtime handler podlock calls podlock-runtime, reading
// LandlockProfile and SeccompProfile objects from the apiserver with the
// node identity of install/kubernetes/node-rbac.yaml.
//
// One cluster serves every test of TestPodlock (bringing one up takes a
// few seconds, the tests a few more each); BenchmarkPodStartup starts its
// own. As root, with the components built:
//
//	tests/tools/build.sh .cache/tools apiserver node
//	PODLOCK_NO_SKIP=1 go test -count=1 ./tests/e2e/
//	go test -run '^$' -bench PodStartup -benchtime 1x ./tests/e2e/
//
// PODLOCK_KEEP_CLUSTER=1 keeps the node's files and logs (containerd.log,
// kubelet.log, pods/) for a look after the test.
package e2e_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubewarden/podlock/tests/internal/cluster"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// The label users put on a pod, and the annotation of the same name the
// runtime reads (containerd passes pod annotations matching the handler's
// pod_annotations into config.json; labels never reach it).
const profileKey = "podlock.kubewarden.io/profile"

// namespaceProfileKey is the annotation the webhook sets on every pod of
// a namespace labelled podlock.kubewarden.io/landlock-profile.
const namespaceProfileKey = "podlock.kubewarden.io/namespace-profile"

// controllerConfig is podlock-controller's policy in the tests: the
// shipped default.
const controllerConfig = "runtimeClassName: podlock\n"

// pod builds a pod of one container "app" (or name) running script with
// sh -c.
func pod(name, script string, opts ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"e2e": "podlock"}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:    "app",
				Command: []string{"sh", "-c", script},
			}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// withProfile labels the pod with a profile, as a user does.
func withProfile(profile string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		labels := maps.Clone(p.Labels)
		labels[profileKey] = profile
		p.Labels = labels
	}
}

// withAnnotation annotates the pod.
func withAnnotation(key, value string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[key] = value
	}
}

// get returns an object as the admin sees it.
func get(t *testing.T, c *cluster.Cluster, path string) string {
	t.Helper()
	status, body, err := c.API.Do("GET", path, nil)
	if err != nil || status != 200 {
		t.Fatalf("GET %s: %d %v %s", path, status, err, body)
	}
	return string(body)
}

// withRuntimeClass sets the pod's runtime class.
func withRuntimeClass(rc string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.RuntimeClassName = &rc }
}

// withContainerName renames the pod's container.
func withContainerName(name string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.Containers[0].Name = name }
}

// withRestartAlways makes the kubelet re-create the container whenever it
// exits.
func withRestartAlways(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyAlways }

// run creates the pod, waits until it has run to
// completion, and returns it and its container's log.
func run(t *testing.T, c *cluster.Cluster, p *corev1.Pod) (*corev1.Pod, cluster.Log) {
	t.Helper()
	created := c.CreatePod(t, p)
	t.Cleanup(func() { c.DeletePod(t, created.Namespace, created.Name, false) })
	done := c.WaitPodPhase(t, created.Namespace, created.Name, 2*time.Minute, corev1.PodSucceeded, corev1.PodFailed)
	if done.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("pod %s did not succeed:\n%s", p.Name, cluster.DescribePod(done))
	}
	log, ok := c.Logs(t, done, done.Spec.Containers[0].Name, 0)
	if !ok {
		t.Fatalf("pod %s: no log at %s", p.Name, c.LogPath(done, done.Spec.Containers[0].Name, 0))
	}
	return done, log
}

// start creates the pod and waits until it runs.
func start(t *testing.T, c *cluster.Cluster, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	created := c.CreatePod(t, p)
	t.Cleanup(func() { c.DeletePod(t, created.Namespace, created.Name, false) })
	return c.WaitPodPhase(t, created.Namespace, created.Name, 2*time.Minute, corev1.PodRunning)
}

// waitLog waits until the log of a container instance satisfies cond (a
// running container writes it as it goes) and returns it.
func waitLog(t *testing.T, c *cluster.Cluster, p *corev1.Pod, container string, restart int, cond func(cluster.Log) bool) cluster.Log {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		log, _ := c.Logs(t, p, container, restart)
		if cond(log) {
			return log
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s container %s: log not as expected after 30s:\nstdout %q\nstderr %q", p.Name, container, log.Stdout, log.Stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wantLines compares output line by line.
func wantLines(t *testing.T, what, got string, want []string) {
	t.Helper()
	lines := testenv.Lines(got)
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got: %q\nwant: %q", what, lines, want)
	}
}

// longRunning is a command that runs until the pod is deleted and then
// exits within a second: sh as PID 1 would ignore SIGTERM, making every
// deletion wait for the grace period. Not `sleep & wait`: a non-interactive
// shell opens /dev/null for a background job, which a container-wide
// Landlock ruleset denies.
const longRunning = `trap 'exit 0' TERM; while true; do sleep 1; done`
