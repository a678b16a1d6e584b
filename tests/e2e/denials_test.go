package e2e_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/tests/internal/cluster"
	"github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/podlockctl"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// A denial in a confined pod becomes exactly one Event on the pod, naming
// the binary, the path and the access right, however often it happens;
// podlock-node's metric counts every one. A pod that podlock does not
// confine cannot post one on another namespace's pod.
func TestDenialEvents(t *testing.T) {
	if landlock.KernelABI() < 7 {
		testenv.Require(t, func() string { return "needs Landlock ABI 7 for audit records" })
	}
	c := cluster.Start(t, cluster.Options{Kube: kube.Options{Tokens: map[string][]string{podlockctl.AgentUser: nil}}})
	podlockctl.Start(t, c.API, controllerConfig)
	// A profile name of its own: other tests' containers, in parallel,
	// are denied the same accesses, and the counter must be this test's.
	c.API.Apply(t, []byte(strings.Replace(testenv.QuickstartProfile, "name: demo", "name: e2e-denials", 1)))
	testenv.LockAudit(t)

	agent := podlockctl.StartNodeAgent(t, c.API, cluster.NodeName, c.PodlockIndexDir())

	p, log := run(t, c, pod("denied", "cat /etc/passwd; cat /etc/passwd; cat /etc/passwd; sleep 1", withProfile("e2e-denials")))
	wantLines(t, "stderr", log.Stderr, []string{
		"cat: can't open '/etc/passwd': Permission denied",
		"cat: can't open '/etc/passwd': Permission denied",
		"cat: can't open '/etc/passwd': Permission denied",
	})
	want := "container app: /bin/busybox was denied fs.read_file on /etc/passwd (profile e2e-denials)"
	var got []string
	eventually(t, "the denial's Event", func() bool {
		got = denialEvents(t, c, p.Name)
		return len(got) > 0
	})
	time.Sleep(time.Second) // a duplicate would have come by now
	if got = denialEvents(t, c, p.Name); len(got) != 1 || got[0] != want {
		t.Errorf("events %q, want exactly %q", got, want)
	}
	eventually(t, "the denials to be counted", func() bool {
		return agent.Counted(`podlock_denials_total{access="fs.read_file",binary="/bin/busybox",container="app",namespace="default",profile="e2e-denials"} 3`)
	})

	t.Run("a pod podlock does not confine forges no owner", func(t *testing.T) {
		// In namespace attacker, a hostNetwork pod of the plain runtime
		// writes the policy podlock mounts into confined containers,
		// naming a pod of namespace default, and denies itself a read
		// with Landlock.
		bin := filepath.Dir(testenv.TestProgram(t, "self-confine"))
		forged := `{"owner":{"namespace":"default","pod":"victim","podUID":"forged","container":"app","profile":"forged"}}`
		forger := pod("forger", "mkdir -p /.podlock && echo '"+forged+"' > /.podlock/policy.json && /opt/test/self-confine 2 /etc/hostname")
		forger.Namespace = "attacker"
		forger.Spec.Volumes = []corev1.Volume{{Name: "test", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: bin}}}}
		forger.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "test", MountPath: "/opt/test", ReadOnly: true}}
		if _, log := run(t, c, forger); !strings.Contains(log.Stderr, "open /etc/hostname: permission denied") {
			t.Fatalf("the forger was not denied: %q", log.Stderr)
		}
		// Audit records are read in order: once the victim's own denial
		// is reported, the forger's was read.
		victim, _ := run(t, c, pod("victim", "cat /etc/passwd; sleep 1", withProfile("e2e-denials")))
		eventually(t, "the victim's Event", func() bool { return len(denialEvents(t, c, victim.Name)) > 0 })
		if got := denialEvents(t, c, victim.Name); len(got) != 1 || got[0] != want {
			t.Errorf("events on default/victim %q, want only %q", got, want)
		}
		if agent.Counted(`profile="forged"`) {
			t.Error("the forged owner's denial was counted")
		}
	})
}

func denialEvents(t *testing.T, c *cluster.Cluster, pod string) []string {
	t.Helper()
	var out []string
	for _, e := range c.Events(t, "default", pod) {
		if e.Reason == "PodlockDenied" {
			out = append(out, e.Message)
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
