// Package sectest runs test code that installs seccomp filters in a separate
// process: a filter can never be removed, so it must not outlive the test
// that installed it.
package sectest

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// envVar names the test that a re-executed test binary must run for real.
const envVar = "PODLOCK_SECCOMP_SUBPROCESS"

// RunInSubprocess runs f in a copy of the test binary that runs only the
// calling test, and fails the test if f returns an error there. In the
// copy, f runs in its own goroutine locked to its OS thread, so the filters
// it installs never reach the threads of the test framework.
func RunInSubprocess(t *testing.T, f func() error) {
	t.Helper()
	if os.Getenv(envVar) == t.Name() {
		errc := make(chan error)
		go func() {
			// Never unlocked: the filtered thread exits with the goroutine.
			runtime.LockOSThread()
			errc <- f()
		}()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run="+runPattern(t.Name()), "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), envVar+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("subprocess: %v\n%s", err, out)
	}
	// Guard against a pattern that matched nothing: that would pass silently.
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("subprocess did not run %s:\n%s", t.Name(), out)
	}
	t.Logf("subprocess output:\n%s", out)
}

func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// SetNoNewPrivs sets no_new_privs on the calling thread, as runc does for a
// container whose process.noNewPrivileges is true.
func SetNoNewPrivs() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	return nil
}

// RequireRoot fails, rather than skips, a test that needs root: podlock's
// tests run as root, and a silent skip would hide a broken environment.
func RequireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root")
	}
}
