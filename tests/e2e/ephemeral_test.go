package e2e_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubewarden/podlock/tests/internal/cluster"
)

// debuggableProfile confines container app as a whole, and names the
// debug container debug, confined the same way.
const debuggableProfile = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: debuggable
  namespace: default
spec:
  containerWide:
    app:
      readExec: [/bin]
      readOnly: [/etc/hostname]
    debug:
      readExec: [/bin]
      readOnly: [/etc/hostname]
`

// snoop is what a debug container runs: it reads the app container's
// files through /proc, as kubectl debug --target=app allows.
const snoop = "cat /proc/1/root/etc/passwd | head -1; cat /etc/hostname; echo done"

// addEphemeral adds a debug container targeting container app to a pod,
// as kubectl debug does: an UPDATE of pods/ephemeralcontainers. It returns
// the API server's refusal, or nil.
func addEphemeral(t *testing.T, c *cluster.Cluster, p *corev1.Pod, name, script string) error {
	t.Helper()
	current, err := c.GetPod(p.Namespace, p.Name)
	if err != nil {
		t.Fatal(err)
	}
	list := append(current.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name:                     name,
			Image:                    cluster.BusyboxImage,
			ImagePullPolicy:          corev1.PullNever,
			Command:                  []string{"sh", "-c", script},
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		},
		TargetContainerName: "app",
	})
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"ephemeralContainers": list}})
	if err != nil {
		t.Fatal(err)
	}
	status, resp, err := c.API.Do(http.MethodPatch, "/api/v1/namespaces/"+p.Namespace+"/pods/"+p.Name+"/ephemeralcontainers", body)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		return &refusal{status: status, body: string(resp)}
	}
	return nil
}

type refusal struct {
	status int
	body   string
}

func (r *refusal) Error() string { return http.StatusText(r.status) + ": " + r.body }

// ephemeralLog waits until a debug container has run to completion and
// returns its log.
func ephemeralLog(t *testing.T, c *cluster.Cluster, p *corev1.Pod, name string) cluster.Log {
	t.Helper()
	done := c.WaitPod(t, p.Namespace, p.Name, 2*time.Minute, "with debug container "+name+" terminated", func(p *corev1.Pod) bool {
		for _, cs := range p.Status.EphemeralContainerStatuses {
			if cs.Name == name && cs.State.Terminated != nil {
				return true
			}
		}
		return false
	})
	log, ok := c.Logs(t, done, name, 0)
	if !ok {
		t.Fatalf("debug container %s: no log at %s", name, c.LogPath(done, name, 0))
	}
	return log
}

// kubectl debug on a pod bound to a profile: a debug container the profile
// does not name would run unconfined next to the confined container and
// read its files through /proc (shown on a pod without profile), so the
// API server refuses it; one the profile names runs confined.
func testEphemeralContainers(t *testing.T, c *cluster.Cluster, hostname string) {
	c.API.Apply(t, []byte(debuggableProfile))

	// The attack, where podlock has no say: a debug container reads the
	// target's /etc/passwd through /proc.
	plain := start(t, c, pod("undebugged", longRunning))
	if err := addEphemeral(t, c, plain, "debugger", snoop); err != nil {
		t.Fatalf("debug container in a pod without profile: %v", err)
	}
	wantLines(t, "unconfined debug container's stdout", ephemeralLog(t, c, plain, "debugger").Stdout,
		[]string{"root:x:0:0:root:/root:/bin/sh", hostname, "done"})

	p := start(t, c, pod("debugged", longRunning, withProfile("debuggable")))
	err := addEphemeral(t, c, p, "debugger", snoop)
	if err == nil || !strings.Contains(err.Error(), `denied the request: ephemeral container \"debugger\" is not named by LandlockProfile \"debuggable\"`) {
		t.Fatalf("debug container not named by the profile: %v", err)
	}
	if got, err := c.GetPod(p.Namespace, p.Name); err != nil || len(got.Spec.EphemeralContainers) != 0 {
		t.Fatalf("ephemeral containers after the refusal: %v %v", got.Spec.EphemeralContainers, err)
	}

	if err := addEphemeral(t, c, p, "debug", snoop); err != nil {
		t.Fatalf("debug container named by the profile: %v", err)
	}
	log := ephemeralLog(t, c, p, "debug")
	wantLines(t, "confined debug container's stdout", log.Stdout, []string{hostname, "done"})
	wantLines(t, "confined debug container's stderr", log.Stderr, []string{"cat: can't open '/proc/1/root/etc/passwd': Permission denied"})
}
