//go:build cgo && linux

package compile

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp"
	"github.com/kubewarden/podlock/seccomp/builtin"
	"github.com/kubewarden/podlock/seccomp/internal/sectest"
	"github.com/kubewarden/podlock/seccomp/profile"
)

// These tests install compiled filters for real, each in a subprocess, on
// a thread with no_new_privs as the helper's is.

func compileOrFail(t *testing.T, s *v1alpha1.SeccompProfileSpec) seccomp.Program {
	t.Helper()
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func resolveOrFail(t *testing.T, name string) *v1alpha1.SeccompProfileSpec {
	t.Helper()
	s, err := profile.Resolve(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func load(p seccomp.Program) error {
	if err := sectest.SetNoNewPrivs(); err != nil {
		return err
	}
	return p.Load()
}

func expectErrno(what string, err error, want unix.Errno) error {
	if !errors.Is(err, want) {
		return fmt.Errorf("%s: got %v, want %v (errno %d)", what, err, want, int(want))
	}
	return nil
}

func TestEnforceErrno(t *testing.T) {
	p := compileOrFail(t, rulesAllowing(
		condRule("mkdirat", v1alpha1.ActionErrno, nil),
		condRule("mknodat", v1alpha1.ActionErrno, uintp(42)),
	))
	dir := t.TempDir()
	sectest.RunInSubprocess(t, func() error {
		if err := load(p); err != nil {
			return err
		}
		return errors.Join(
			expectErrno("mkdirat", unix.Mkdirat(unix.AT_FDCWD, filepath.Join(dir, "d"), 0o700), unix.EPERM),
			expectErrno("mknodat", unix.Mknodat(unix.AT_FDCWD, filepath.Join(dir, "f"), unix.S_IFREG|0o600, 0), unix.Errno(42)),
			unix.Symlinkat("d", unix.AT_FDCWD, filepath.Join(dir, "l")),
		)
	})
}

func TestEnforceAudit(t *testing.T) {
	p := compileOrFail(t, resolveOrFail(t, builtin.Audit))
	dir := t.TempDir()
	sectest.RunInSubprocess(t, func() error {
		if err := load(p); err != nil {
			return err
		}
		// Every system call is logged to the kernel log: keep them few.
		if err := unix.Mkdirat(unix.AT_FDCWD, filepath.Join(dir, "d"), 0o700); err != nil {
			return fmt.Errorf("mkdirat under SCMP_ACT_LOG: %w", err)
		}
		return nil
	})
}

// A normal process, and the processes it starts, survive runtime-default,
// which still refuses what containerd's RuntimeDefault refuses.
func TestEnforceRuntimeDefault(t *testing.T) {
	sectest.RequireRoot(t) // so that unshare would succeed without the filter
	p := compileOrFail(t, resolveOrFail(t, builtin.RuntimeDefault))
	dir := t.TempDir()
	sectest.RunInSubprocess(t, func() error {
		if err := load(p); err != nil {
			return err
		}
		// The child is started from this thread, so it inherits the filter.
		out, err := exec.Command("/bin/sh", "-c", "mkdir "+dir+"/d && grep '^Seccomp:' /proc/self/status").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Seccomp:\t2") {
			return fmt.Errorf("shell under runtime-default: %v: %s", err, out)
		}
		if err := os.WriteFile(filepath.Join(dir, "d", "f"), []byte("x"), 0o600); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
		_, _, errno := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
		return errors.Join(
			expectErrno("unshare(CLONE_NEWUSER)", unix.Unshare(unix.CLONE_NEWUSER), unix.EPERM),
			expectErrno("clone3", errno, unix.ENOSYS),
			expectErrno("mount", unix.Mount("none", dir, "tmpfs", 0, ""), unix.EPERM),
		)
	})
}
