package node_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/runtime/index"
	kubetest "github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/podlockctl"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// denialsProfile lets /bin/sh of container app read /etc/hostname and
// execute cat: reading anything else is a denial. A profile name of its
// own: other tests' containers, in parallel, are denied the same
// accesses, and the counter must be this package's.
const denialsProfile = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: node-denials
spec:
  profilesByContainer:
    app:
      /bin/sh:
        readExec: [/bin/cat]
        readOnly: [/etc/hostname]
`

// denialsEnv is a control plane with podlock-node's RBAC, a node, and a
// podlock-runtime that confines containers with denialsProfile.
type denialsEnv struct {
	cp *kubetest.ControlPlane
	rt *testenv.Runtime
}

func newDenialsEnv(t *testing.T) *denialsEnv {
	t.Helper()
	testenv.Require(t, testenv.Root, testenv.Program("runc"), testenv.Busybox)
	if landlock.KernelABI() < 7 {
		testenv.Require(t, func() string { return "needs Landlock ABI 7 for audit records" })
	}
	cp := kubetest.StartControlPlane(t, kubetest.Options{Tokens: map[string][]string{agentUser: nil}})
	// After the control plane, whose cleanup must come after podlock-node's.
	testenv.LockAudit(t)
	for _, m := range manifests(t, "kubernetes/namespace.yaml", "kubernetes/node-rbac.yaml") {
		cp.Apply(t, m)
	}
	cp.Apply(t, []byte("apiVersion: v1\nkind: Node\nmetadata:\n  name: test-node\n"))
	cp.Apply(t, []byte("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n  namespace: default\n"))
	profiles := t.TempDir()
	if err := os.WriteFile(filepath.Join(profiles, "denials.yaml"), []byte(denialsProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	rt := testenv.NewRuntime(t, filepath.Join(testenv.Binaries(t), "podlock-runtime"),
		"PODLOCK_CONFIG=/dev/null", "PODLOCK_PROFILES_DIR="+profiles, "PODLOCK_RUNTIME=runc")
	return &denialsEnv{cp: cp, rt: rt}
}

// pod creates a pod of one container app in namespace default and returns
// its UID.
func (e *denialsEnv) pod(t *testing.T, name string) string {
	t.Helper()
	e.cp.Apply(t, []byte(fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: default\nspec:\n  automountServiceAccountToken: false\n  containers:\n  - name: app\n    image: busybox\n", name)))
	status, body, err := e.cp.Do("GET", "/api/v1/namespaces/default/pods/"+name, nil)
	if err != nil || status != 200 {
		t.Fatalf("%d %v %s", status, err, body)
	}
	var pod struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &pod); err != nil {
		t.Fatal(err)
	}
	return pod.Metadata.UID
}

// runConfined runs script in container app of the pod, confined by
// denialsProfile through podlock-runtime.
func (e *denialsEnv) runConfined(t *testing.T, pod, uid, id, script string) {
	t.Helper()
	b := testenv.NewBundle(t, "sh", "-c", script).Annotate("default", "app", "node-denials")
	b.Spec.Annotations["io.kubernetes.cri.sandbox-name"] = pod
	b.Spec.Annotations["io.kubernetes.cri.sandbox-uid"] = uid
	b.Write(t)
	if res := e.rt.Run(b, id); res.Err != nil || !strings.Contains(res.Stderr, "Permission denied") {
		t.Fatalf("run: %v %q %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
}

// A denial in a confined container becomes exactly one Event on its pod,
// naming the binary, the path and the access right, however often it
// happens, and a metric counts every one. The index entry of a container
// that has stopped is removed.
func TestDenialEvents(t *testing.T) {
	e := newDenialsEnv(t)
	uid := e.pod(t, "web")
	stopped := index.Entry{ID: "stopped-long-ago", Bundle: "/run/gone", Owner: landlock.Owner{Namespace: "default", Pod: "old", Container: "app"}}
	if err := index.Write(e.rt.IndexDir, stopped); err != nil {
		t.Fatal(err)
	}
	stoppedEntry := filepath.Join(e.rt.IndexDir, stopped.ID+".json")
	longAgo := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stoppedEntry, longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
	agent := podlockctl.StartNodeAgent(t, e.cp, "test-node", e.rt.IndexDir)
	waitFor(t, "the stopped container's index entry to be removed", func() bool {
		_, err := os.Stat(stoppedEntry)
		return os.IsNotExist(err)
	})
	e.runConfined(t, "web", uid, "denied", "cat /etc/passwd; cat /etc/passwd; cat /etc/passwd; sleep 1")

	want := `container app: /bin/busybox was denied fs.read_file on /etc/passwd (profile node-denials)`
	var events []string
	waitFor(t, "the denial's Event", func() bool {
		events = podlockEvents(t, e.cp, "web")
		return len(events) > 0
	})
	time.Sleep(time.Second) // any duplicate would have arrived by now
	if events = podlockEvents(t, e.cp, "web"); len(events) != 1 || events[0] != want {
		t.Errorf("events %q, want exactly %q", events, want)
	}
	waitFor(t, "the denials to be counted", func() bool {
		return agent.Counted(`podlock_denials_total{access="fs.read_file",binary="/bin/busybox",container="app",namespace="default",profile="node-denials"} 3`)
	})
}

// Denials are attributed from the host's view of a process, never from
// files in its container. A container that podlock does not confine
// plants /.podlock/policy.json, which podlock mounts into the containers
// it confines, and denies itself an access with Landlock: a policy whose
// owner names a pod of namespace default posts no Event there, and one
// that is a FIFO or a symlink to /dev/zero neither blocks podlock-node nor
// makes it grow. podlock-node then reports a confined container's denial
// as before.
func TestDenialAttribution(t *testing.T) {
	e := newDenialsEnv(t)
	selfConfine := testenv.TestProgram(t, "self-confine")
	plain := testenv.NewRuntime(t, "runc")
	for i, tc := range []struct {
		name  string
		plant func(t *testing.T, policy, uid string) error
	}{
		{"forged owner", func(t *testing.T, policy, uid string) error {
			forged := fmt.Sprintf(`{"owner":{"namespace":"default","pod":"victim-0","podUID":%q,"container":"app","profile":"forged"},"abi":1}`, uid)
			return os.WriteFile(policy, []byte(forged), 0o644)
		}},
		{"policy is a FIFO", func(t *testing.T, policy, _ string) error {
			return syscall.Mkfifo(policy, 0o644)
		}},
		{"policy is a symlink to /dev/zero", func(t *testing.T, policy, _ string) error {
			return os.Symlink("/dev/zero", policy)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := fmt.Sprintf("victim-%d", i)
			uid := e.pod(t, pod)
			agent := podlockctl.StartNodeAgent(t, e.cp, "test-node", e.rt.IndexDir)

			attacker := testenv.NewBundle(t, "/opt/bin/self-confine", "2", "/etc/hostname")
			rootfs := filepath.Join(attacker.Dir, "rootfs")
			install(t, selfConfine, filepath.Join(rootfs, "opt", "bin", "self-confine"))
			if err := os.Mkdir(filepath.Join(rootfs, ".podlock"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tc.plant(t, filepath.Join(rootfs, ".podlock", "policy.json"), uid); err != nil {
				t.Fatal(err)
			}
			attacker.Write(t)
			res := plain.Run(attacker, fmt.Sprintf("attacker-%d", i))
			if res.Err != nil || !strings.Contains(res.Stderr, "open /etc/hostname: permission denied") {
				t.Fatalf("the attacker was not denied: %v %q", res.Err, res.Stderr)
			}

			// Audit records are read in order: once the confined
			// container's denial is reported, the attacker's was read.
			e.runConfined(t, pod, uid, fmt.Sprintf("confined-%d", i), "cat /etc/passwd; sleep 1")
			want := "container app: /bin/busybox was denied fs.read_file on /etc/passwd (profile node-denials)"
			var events []string
			waitFor(t, "the confined container's Event", func() bool {
				events = podlockEvents(t, e.cp, pod)
				return len(events) > 0
			})
			if len(events) != 1 || events[0] != want {
				t.Errorf("events on %s: %q, want only %q", pod, events, want)
			}
			if agent.Counted(`profile="forged"`) {
				t.Error("the forged owner's denial was counted")
			}
			running, peakKB := agent.Running(t)
			if !running || peakKB > 256<<10 {
				t.Errorf("podlock-node running %v, peak memory %d kB", running, peakKB)
			}
		})
	}
}

func install(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// podlockEvents returns the messages of the Events podlock-node reported
// on a pod of namespace default.
func podlockEvents(t *testing.T, cp *kubetest.ControlPlane, pod string) []string {
	t.Helper()
	q := url.Values{"fieldSelector": {"involvedObject.name=" + pod + ",reason=PodlockDenied"}}
	status, body, err := cp.Do("GET", "/api/v1/namespaces/default/events?"+q.Encode(), nil)
	if err != nil || status != 200 {
		t.Fatalf("listing events: %d %v %s", status, err, body)
	}
	var list struct {
		Items []struct {
			Message string `json:"message"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Message)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
