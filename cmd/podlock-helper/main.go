// Command podlock-helper confines a process and executes it. podlock-runtime
// mounts it read-only into confined containers: at /.podlock/helper, where
// it starts the entrypoint and exec sessions of containers confined as a
// whole, and over each binary that a profile lists.
//
// It takes no instructions from its arguments or environment, which the pod
// author controls: what it enforces is in /.podlock/policy.json, written by
// the runtime and mounted read-only (it refuses a /.podlock that is not
// that mount, see landlock.OpenStateDir), and which rules apply is decided
// by the path it was executed as, which /proc/self/exe reports as the
// mount point (see executedAs). It never runs a program unconfined: any
// failure ends it with one line on stderr and exit status 126, as a shell
// reports a program that cannot be executed.
package main

import (
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path"
	"strings"
	"syscall"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/seccomp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "podlock-helper: %v\n", err)
		os.Exit(126)
	}
}

func run() error {
	self, err := executedAs()
	if err != nil {
		return err
	}
	dir, err := landlock.OpenStateDir()
	if err != nil {
		return err
	}
	defer dir.Close()
	policy, err := dir.ReadPolicy(self)
	if err != nil {
		return err
	}
	argv := os.Args
	var target string
	var rules landlock.Rulesets
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
		target, rules = binary.Exec, binary.Rules
	}
	var filters []seccomp.Program
	if self == landlock.HelperPath {
		if filters, err = readFilters(dir, policy.Seccomp); err != nil {
			return err
		}
	}
	if len(rules) > 0 {
		// The thread only: the execve below, from this goroutine,
		// which the restriction keeps on this thread, is all that
		// follows.
		leftOut, err := rules.RestrictThread(policy.ABI, policy.BestEffort)
		if err != nil {
			return fmt.Errorf("confining %s: %w", self, err)
		}
		for _, e := range leftOut {
			fmt.Fprintf(os.Stderr, "podlock-helper: %v\n", e)
		}
	}
	// The filters come last, right before execve: the helper itself
	// must not run under filters written for the program.
	if len(filters) > 0 {
		return seccomp.Exec(filters, target, argv, os.Environ())
	}
	return fmt.Errorf("executing %s: %w", target, syscall.Exec(target, argv, os.Environ()))
}

// readFilters reads the container's seccomp programs, in the order the
// policy lists them, which is the order they are loaded in.
func readFilters(dir *landlock.StateDir, names []string) ([]seccomp.Program, error) {
	var filters []seccomp.Program
	for _, name := range names {
		p, err := readFilter(dir, name)
		if err != nil {
			return nil, err
		}
		filters = append(filters, *p)
	}
	return filters, nil
}

// maxFilterSize bounds a seccomp filter file: the kernel takes at most 4096
// instructions of 8 bytes.
const maxFilterSize = 64 << 10

func readFilter(dir *landlock.StateDir, name string) (*seccomp.Program, error) {
	data, err := dir.ReadFile(path.Base(name), maxFilterSize)
	if err != nil {
		return nil, fmt.Errorf("reading seccomp filter: %w", err)
	}
	var p seccomp.Program
	if err := p.UnmarshalBinary(data); err != nil {
		return nil, fmt.Errorf("reading seccomp filter %s: %w", name, err)
	}
	return &p, nil
}

// deletedSuffix is what the kernel appends to a path in /proc when the file
// it names has been unlinked.
const deletedSuffix = " (deleted)"

// executedAs returns the path the helper was executed as: its mount point,
// which is the listed binary it covers, or landlock.HelperPath. When the
// node's helper is upgraded (replaced by rename) while the container
// runs, its mounts keep the old file, now unlinked, and /proc/self/exe
// reports the mount point with deletedSuffix. Profile validation refuses
// binary names that end with it, so that stripping it is unambiguous.
func executedAs() (string, error) {
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return "", fmt.Errorf("finding which binary was executed: %w", err)
	}
	return strings.TrimSuffix(self, deletedSuffix), nil
}
