package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/tests/internal/cluster"
	"github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/podlockctl"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// A denial in a confined pod becomes exactly one Event on the pod, naming
// the binary, the path and the access right, however often it happens;
// podlock-node's metric counts every one.
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
