package runtime_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/landlock/audit"
	"github.com/kubewarden/podlock/runtime/index"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// The kernel's Landlock audit records of a confined container's denials
// are read as the audit daemon and traced back to the pod, container and
// profile (through the container's cgroup and podlock-runtime's index),
// each with the binary, the path and the access right.
func TestDenialsReported(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", testenv.QuickstartProfile)
	if landlock.KernelABI() < 7 {
		testenv.Require(t, func() string { return "needs Landlock ABI 7 for audit records" })
	}
	testenv.LockAudit(t)
	conn, err := audit.Listen()
	if err != nil {
		t.Fatal(err)
	}
	containers := index.NewReader(e.rt.IndexDir)
	ownerOf, err := audit.CgroupOwner("/proc", func(cgroups []string) (landlock.Owner, bool) {
		c, ok := containers.Container(cgroups)
		return c.Owner, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	denials := make(chan audit.Denial, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a := audit.NewAssembler(ownerOf)
		for {
			rec, err := conn.Receive()
			if errors.Is(err, audit.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			for _, d := range a.Add(rec) {
				denials <- d
			}
		}
	}()
	defer func() {
		if err := conn.Close(); err != nil {
			t.Error(err)
		}
		<-done
	}()

	b := testenv.NewBundle(t, "sh", "-c", testenv.QuickstartScript+"sleep 1\n").Annotate("default", "app", "demo")
	b.Write(t)
	if res := e.rt.Run(b, "denials"); res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	want := map[string]bool{
		"/bin/busybox was denied fs.execute,fs.read_file on /opt/bin/id": true,
		"/bin/busybox was denied fs.make_reg on /":                       true,
		"/bin/busybox was denied fs.read_file on /etc/passwd":            true,
	}
	owner := landlock.Owner{Namespace: "default", Pod: "test-pod", Container: "app", Profile: "demo"}
	timeout := time.After(5 * time.Second)
	for len(want) > 0 {
		select {
		case d := <-denials:
			if !want[d.String()] {
				t.Errorf("unexpected denial: %s", d)
				continue
			}
			if d.Owner != owner {
				t.Errorf("%s: owner %+v, want %+v", d, d.Owner, owner)
			}
			delete(want, d.String())
		case <-timeout:
			t.Fatalf("denials not reported: %v", want)
		}
	}
}
