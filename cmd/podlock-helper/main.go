// Command podlock-helper confines a process and executes it. podlock-runtime
// mounts it read-only into confined containers: at /.podlock/helper, where
// it starts the entrypoint and exec sessions of containers confined as a
// whole, and over each binary that a profile lists.
//
// It takes no instructions from its arguments or environment, which the pod
// author controls: what it enforces is in /.podlock/policy.json, written by
// the runtime and mounted read-only, and which rules apply is decided by
// the path it was executed as, which /proc/self/exe reports as the mount
// point. It never runs a program unconfined: any failure ends it with one
// line on stderr and exit status 126, as a shell reports a program that
// cannot be executed.
package main

import (
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	goruntime "runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/landlock"
)

func init() {
	// Seccomp filters are per thread: load on this one, then execve from
	// it.
	goruntime.LockOSThread()
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "podlock-helper: %v\n", err)
		os.Exit(126)
	}
}

func run() error {
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("finding which binary was executed: %w", err)
	}
	policy, err := landlock.ReadPolicy(landlock.PolicyPath)
	if err != nil {
		return err
	}
	argv := os.Args
	var target string
	var rules *landlock.Ruleset
	if self == landlock.HelperPath {
		if len(argv) < 2 {
			return errors.New("no command to run")
		}
		argv = argv[1:]
		if target, err = osexec.LookPath(argv[0]); err != nil {
			return err
		}
		rules = policy.Container
	} else {
		binary, ok := policy.Binaries[self]
		if !ok {
			return fmt.Errorf("%s is not in the policy", self)
		}
		target, rules = binary.Exec, &binary.Rules
	}
	exec, err := prepareExec(target, argv, os.Environ())
	if err != nil {
		return err
	}
	if rules != nil {
		if err := rules.Restrict(policy.ABI, policy.BestEffort); err != nil {
			return fmt.Errorf("confining %s: %w", self, err)
		}
	}
	return exec.run()
}

// execve is prepared in full before the process is confined, so that
// nothing between the seccomp filter and the system call allocates or makes
// another system call that the filter might refuse.
type execve struct {
	path *byte
	argv []*byte
	env  []*byte
	name string
}

func prepareExec(target string, argv, env []string) (*execve, error) {
	path, err := unix.BytePtrFromString(target)
	if err != nil {
		return nil, err
	}
	e := &execve{path: path, name: target}
	if e.argv, err = cStrings(argv); err != nil {
		return nil, err
	}
	if e.env, err = cStrings(env); err != nil {
		return nil, err
	}
	return e, nil
}

func cStrings(ss []string) ([]*byte, error) {
	out := make([]*byte, len(ss)+1) // NULL-terminated
	for i, s := range ss {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

func (e *execve) run() error {
	_, _, errno := unix.RawSyscall(unix.SYS_EXECVE,
		uintptr(unsafe.Pointer(e.path)),
		uintptr(unsafe.Pointer(&e.argv[0])),
		uintptr(unsafe.Pointer(&e.env[0])))
	goruntime.KeepAlive(e)
	return fmt.Errorf("executing %s: %w", e.name, errno)
}
