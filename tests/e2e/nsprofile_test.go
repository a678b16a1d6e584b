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

// lockedNamespace is labelled with a LandlockProfile for every pod.
const lockedNamespace = "locked"

// namespaceProfiles are the LandlockProfiles of namespace locked: base,
// which the namespace binds to every pod and which confines every
// container ("*"), and loose, which a pod may ask for and which allows
// container app everything.
const namespaceProfiles = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: base
  namespace: locked
spec:
  containerWide:
    "*":
      readExec: [/bin]
      readWrite: [/tmp]
      readOnly: [/etc/hostname]
---
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: loose
  namespace: locked
spec:
  containerWide:
    app:
      readWriteExec: [/]
`

// withNamespace puts the pod in a namespace.
func withNamespace(ns string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Namespace = ns }
}

// A namespace labelled podlock.kubewarden.io/landlock-profile confines
// every new pod: an unlabelled one, its exec sessions and its debug
// containers; and a pod labelled with a looser profile of its own is
// still denied what the namespace's profile denies.
func testNamespaceProfile(t *testing.T, c *cluster.Cluster, hostname string) {
	c.Namespace(t, lockedNamespace)
	c.API.Apply(t, []byte(namespaceProfiles))
	label := `{"metadata":{"labels":{"podlock.kubewarden.io/landlock-profile":"base"}}}`
	if status, body, err := c.API.Do(http.MethodPatch, "/api/v1/namespaces/"+lockedNamespace, []byte(label)); err != nil || status != http.StatusOK {
		t.Fatalf("labelling namespace %s: %d %v %s", lockedNamespace, status, err, body)
	}
	// The webhook reads namespaces from its cache: wait until it binds.
	eventually(t, "the webhook to bind the namespace's profile", func() bool {
		probe := pod("probe", "true", withNamespace(lockedNamespace), cluster.PodDefaults)
		probe.APIVersion, probe.Kind = "v1", "Pod"
		body, err := json.Marshal(probe)
		if err != nil {
			t.Fatal(err)
		}
		status, resp, err := c.API.Do(http.MethodPost, "/api/v1/namespaces/"+lockedNamespace+"/pods?dryRun=All", body)
		return err == nil && status == http.StatusCreated && strings.Contains(string(resp), `"podlock.kubewarden.io/namespace-profile":"base"`)
	})

	const script = "cat /etc/hostname; cat /etc/passwd; echo x > /tmp/x && echo wrote; echo done"
	wantOut, wantErr := []string{hostname, "wrote", "done"}, []string{"cat: can't open '/etc/passwd': Permission denied"}
	t.Run("an unlabelled pod is confined", func(t *testing.T) {
		p, log := run(t, c, pod("ns-plain", script, withNamespace(lockedNamespace)))
		wantLines(t, "stdout", log.Stdout, wantOut)
		wantLines(t, "stderr", log.Stderr, wantErr)
		if p.Annotations[namespaceProfileKey] != "base" || p.Spec.RuntimeClassName == nil || *p.Spec.RuntimeClassName != cluster.RuntimeClassPodlock {
			t.Errorf("pod not bound to the namespace's profile: annotations %v, runtime class %v", p.Annotations, p.Spec.RuntimeClassName)
		}
	})
	t.Run("a pod labelled with a looser profile is still denied what the namespace's denies", func(t *testing.T) {
		p, log := run(t, c, pod("ns-loose", script, withNamespace(lockedNamespace), withProfile("loose")))
		wantLines(t, "stdout", log.Stdout, wantOut)
		wantLines(t, "stderr", log.Stderr, wantErr)
		if p.Annotations[profileKey] != "loose" || p.Annotations[namespaceProfileKey] != "base" {
			t.Errorf("pod not bound to both profiles: annotations %v", p.Annotations)
		}
	})
	t.Run("exec sessions and debug containers are confined", func(t *testing.T) {
		p := start(t, c, pod("ns-running", longRunning, withNamespace(lockedNamespace), withProfile("loose")))
		res, err := c.CRIExec(cluster.ContainerID(p, "app"), 10*time.Second, "cat", "/etc/passwd")
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode == 0 || res.Stderr != "cat: can't open '/etc/passwd': Permission denied\n" {
			t.Errorf("exec session: %+v, want the namespace's denial", res)
		}
		// Neither profile names the debug container, but the namespace's
		// "*" entry confines it: it is admitted, and runs confined.
		if err := addEphemeral(t, c, p, "debugger", snoop); err != nil {
			t.Fatalf("debug container in a pod of the namespace: %v", err)
		}
		log := ephemeralLog(t, c, p, "debugger")
		wantLines(t, "debug container's stdout", log.Stdout, []string{hostname, "done"})
		wantLines(t, "debug container's stderr", log.Stderr, []string{"cat: can't open '/proc/1/root/etc/passwd': Permission denied"})
	})
	t.Run("the namespace's profile is in use", func(t *testing.T) {
		start(t, c, pod("ns-user", longRunning, withNamespace(lockedNamespace)))
		eventually(t, "the in-use finalizer on the namespace's profile", func() bool {
			return strings.Contains(get(t, c, "/apis/podlock.kubewarden.io/v1alpha1/namespaces/"+lockedNamespace+"/landlockprofiles/base"), "podlock.kubewarden.io/in-use")
		})
	})
}
