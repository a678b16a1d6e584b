package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// PodDefaults fills in what every pod of this cluster needs and what a
// test should not have to repeat: the node (no scheduler runs), the host
// network (the CNI network of this node reaches nothing on purpose), no
// service account token (no controller-manager issues them), DNS from the
// host (no cluster DNS), the local images only (no registry), and a short
// grace period.
func PodDefaults(pod *corev1.Pod) {
	if pod.Namespace == "" {
		pod.Namespace = "default"
	}
	pod.Spec.NodeName = NodeName
	pod.Spec.HostNetwork = true
	no := false
	pod.Spec.AutomountServiceAccountToken = &no
	pod.Spec.EnableServiceLinks = &no
	if pod.Spec.DNSPolicy == "" {
		pod.Spec.DNSPolicy = corev1.DNSDefault
	}
	if pod.Spec.TerminationGracePeriodSeconds == nil {
		grace := int64(1)
		pod.Spec.TerminationGracePeriodSeconds = &grace
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Image == "" {
				list[i].Image = BusyboxImage
			}
			list[i].ImagePullPolicy = corev1.PullNever
		}
	}
}

// CreatePod creates a pod (after PodDefaults) and returns it as stored.
func (c *Cluster) CreatePod(t testing.TB, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	PodDefaults(pod)
	c.Namespace(t, pod.Namespace)
	created, err := c.TryCreatePod(pod)
	if err != nil {
		t.Fatal(err)
	}
	return created
}

// TryCreatePod creates a pod in an existing namespace, returning the API
// server's refusal as an error with its message.
func (c *Cluster) TryCreatePod(pod *corev1.Pod) (*corev1.Pod, error) {
	PodDefaults(pod)
	return c.postPod(pod)
}

// CreateUnboundPod creates a pod that no node runs until BindPod: no
// scheduler runs here. It lets a test act between the pod's admission and
// the creation of its containers.
func (c *Cluster) CreateUnboundPod(t testing.TB, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	PodDefaults(pod)
	c.Namespace(t, pod.Namespace)
	pod.Spec.NodeName = ""
	created, err := c.postPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	return created
}

// BindPod assigns a pod to the node, as the scheduler would.
func (c *Cluster) BindPod(t testing.TB, namespace, name string) {
	t.Helper()
	binding := fmt.Sprintf(`{"apiVersion":"v1","kind":"Binding","metadata":{"name":%q},"target":{"apiVersion":"v1","kind":"Node","name":%q}}`, name, NodeName)
	status, body, err := c.API.Do(http.MethodPost, "/api/v1/namespaces/"+namespace+"/pods/"+name+"/binding", []byte(binding))
	if err != nil || status != http.StatusCreated {
		t.Fatalf("binding pod %s/%s: %d %v %s", namespace, name, status, err, body)
	}
}

func (c *Cluster) postPod(pod *corev1.Pod) (*corev1.Pod, error) {
	pod.APIVersion, pod.Kind = "v1", "Pod"
	body, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	status, resp, err := c.API.Do(http.MethodPost, "/api/v1/namespaces/"+pod.Namespace+"/pods", body)
	if err != nil || status != http.StatusCreated {
		return nil, fmt.Errorf("creating pod %s/%s: %d %v %s", pod.Namespace, pod.Name, status, err, resp)
	}
	var created corev1.Pod
	if err := json.Unmarshal(resp, &created); err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return &created, nil
}

// ErrNotFound is returned by GetPod for a pod that does not exist.
var ErrNotFound = errors.New("not found")

// GetPod reads a pod as the admin.
func (c *Cluster) GetPod(namespace, name string) (*corev1.Pod, error) {
	status, body, err := c.API.Do(http.MethodGet, "/api/v1/namespaces/"+namespace+"/pods/"+name, nil)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", namespace, name, err)
	}
	if status == http.StatusNotFound {
		return nil, fmt.Errorf("pod %s/%s: %w", namespace, name, ErrNotFound)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("pod %s/%s: %d %s", namespace, name, status, body)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(body, &pod); err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", namespace, name, err)
	}
	return &pod, nil
}

// WaitPod polls the pod until cond holds and returns it; it fails the
// test after timeout, describing the pod's last state.
func (c *Cluster) WaitPod(t testing.TB, namespace, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *corev1.Pod
	var lastErr error
	for {
		pod, err := c.GetPod(namespace, name)
		if err == nil && cond(pod) {
			return pod
		}
		if err == nil {
			last = pod
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s: not %s after %v (%v)\n%s", namespace, name, what, timeout, lastErr, DescribePod(last))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitPodPhase waits until the pod is in one of phases.
func (c *Cluster) WaitPodPhase(t testing.TB, namespace, name string, timeout time.Duration, phases ...corev1.PodPhase) *corev1.Pod {
	t.Helper()
	return c.WaitPod(t, namespace, name, timeout, fmt.Sprintf("in phase %v", phases), func(p *corev1.Pod) bool {
		return slices.Contains(phases, p.Status.Phase)
	})
}

// DescribePod is a short text of a pod's phase and container states, for
// failure messages.
func DescribePod(pod *corev1.Pod) string {
	if pod == nil {
		return "(no pod)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase %s %s %s\n", pod.Status.Phase, pod.Status.Reason, pod.Status.Message)
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			switch s := cs.State; {
			case s.Waiting != nil:
				fmt.Fprintf(&b, "  %s: waiting %s: %s\n", cs.Name, s.Waiting.Reason, s.Waiting.Message)
			case s.Running != nil:
				fmt.Fprintf(&b, "  %s: running since %s, %d restarts\n", cs.Name, s.Running.StartedAt, cs.RestartCount)
			case s.Terminated != nil:
				fmt.Fprintf(&b, "  %s: terminated %s, exit %d: %s\n", cs.Name, s.Terminated.Reason, s.Terminated.ExitCode, s.Terminated.Message)
			}
		}
	}
	return b.String()
}

// DeletePod deletes a pod. With wait, it lets the kubelet stop it
// gracefully and waits until it is gone; without, it removes the pod from
// the API at once and the kubelet cleans up in the background.
func (c *Cluster) DeletePod(t testing.TB, namespace, name string, wait bool) {
	t.Helper()
	grace := "0"
	if wait {
		grace = "1"
	}
	status, body, err := c.API.Do(http.MethodDelete, "/api/v1/namespaces/"+namespace+"/pods/"+name+"?gracePeriodSeconds="+grace, nil)
	if err != nil || (status != http.StatusOK && status != http.StatusAccepted && status != http.StatusNotFound) {
		t.Fatalf("deleting pod %s/%s: %d %v %s", namespace, name, status, err, body)
	}
	if !wait {
		return
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := c.GetPod(namespace, name)
		if errors.Is(err, ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s not gone 60s after deletion: %v", namespace, name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ContainerID is the CRI ID of a container of the pod, from its status
// (without the containerd:// prefix), or "".
func ContainerID(pod *corev1.Pod, container string) string {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.Name == container {
				_, id, _ := strings.Cut(cs.ContainerID, "://")
				return id
			}
		}
	}
	return ""
}

// Log is what a container wrote, per stream.
type Log struct {
	Stdout, Stderr string
}

// LogPath is the kubelet's log file of a container's instance (restart
// counts from 0).
func (c *Cluster) LogPath(pod *corev1.Pod, container string, restart int) string {
	return filepath.Join(c.PodLogsDir(), pod.Namespace+"_"+pod.Name+"_"+string(pod.UID), container, strconv.Itoa(restart)+".log")
}

// Logs reads a container instance's log from the kubelet's log directory:
// the file exists even when the apiserver is down, and keeps stdout and
// stderr apart. A missing file is an empty log and ok false.
func (c *Cluster) Logs(t testing.TB, pod *corev1.Pod, container string, restart int) (log Log, ok bool) {
	t.Helper()
	data, err := os.ReadFile(c.LogPath(pod, container, restart))
	if errors.Is(err, fs.ErrNotExist) {
		return Log{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return ParseCRILog(data), true
}

// ParseCRILog parses the CRI log format (`<time> <stream> <P|F> <text>`),
// joining partial lines.
func ParseCRILog(data []byte) Log {
	var out, errOut strings.Builder
	for _, line := range bytes.Split(data, []byte("\n")) {
		fields := bytes.SplitN(line, []byte(" "), 4)
		if len(fields) < 3 {
			continue
		}
		text := []byte{}
		if len(fields) == 4 {
			text = fields[3]
		}
		w := &out
		if string(fields[1]) == "stderr" {
			w = &errOut
		}
		w.Write(text)
		if string(fields[2]) != "P" {
			w.WriteByte('\n')
		}
	}
	return Log{Stdout: out.String(), Stderr: errOut.String()}
}

// Events lists the events about a pod, oldest first.
func (c *Cluster) Events(t testing.TB, namespace, pod string) []corev1.Event {
	t.Helper()
	q := url.Values{"fieldSelector": {"involvedObject.kind=Pod,involvedObject.name=" + pod}}
	status, body, err := c.API.Do(http.MethodGet, "/api/v1/namespaces/"+namespace+"/events?"+q.Encode(), nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("events of %s/%s: %d %v %s", namespace, pod, status, err, body)
	}
	var list corev1.EventList
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(list.Items, func(a, b corev1.Event) int {
		return a.LastTimestamp.Time.Compare(b.LastTimestamp.Time)
	})
	return list.Items
}
