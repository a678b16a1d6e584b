// Package daemon starts and stops the long-running processes of the test
// harnesses (etcd, kube-apiserver, containerd, kubelet), each with its
// output appended to a log file.
package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a started daemon.
type Proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	once sync.Once
}

// Start starts binary with args, its output appended to logPath after a
// "==== time command" line. env is the whole environment; nil means the
// test's own without proxy settings (everything here is loopback).
func Start(binary, logPath string, env []string, args ...string) (*Proc, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "==== %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(append([]string{binary}, args...), " "))
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if env == nil {
		env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
			k, _, _ := strings.Cut(kv, "=")
			return strings.EqualFold(k, "http_proxy") || strings.EqualFold(k, "https_proxy") || strings.EqualFold(k, "no_proxy")
		})
	}
	cmd.Env = env
	// Own process group, and killed if the test binary dies: a crashed
	// test must not leave a daemon behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	p := &Proc{name: filepath.Base(binary), cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, then SIGKILL to the process group after timeout,
// and waits for the exit.
func (p *Proc) Stop(timeout time.Duration) {
	if p == nil {
		return
	}
	p.once.Do(func() {
		if p.Exited() {
			return
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(timeout):
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// WaitFor polls ready every interval until it returns nil, the process
// exits or timeout passes; the error says which, with ready's last error.
func (p *Proc) WaitFor(timeout, interval time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before it was ready: %w", p.name, p.err, err)
		case <-time.After(interval):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %w", p.name, timeout, err)
		}
	}
}

// ErrNotReady is what a readiness check without more to say returns.
var ErrNotReady = errors.New("not ready")

// Tail returns the last n lines of a file.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "(no " + filepath.Base(path) + ")"
		}
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
