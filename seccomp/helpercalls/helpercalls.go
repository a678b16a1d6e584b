// Package helpercalls lists the system calls that podlock-helper makes when
// it starts a listed binary, and the argument values it makes them with.
//
// A listed binary is the helper, mounted over it. When it runs, the
// container's seccomp filters are already loaded (the helper loaded them
// when it started the entrypoint or the exec session), so the helper runs
// under them: they must let its calls through, and podlock never adds
// allows for them, which would let every process of the container make the
// same calls with any arguments. podlock-runtime refuses a container whose
// filters would stop the helper (Refused), and learning mode writes these
// calls into the profiles it records (Rules).
//
// The list is what `strace -f` shows of the helper (Go 1.26, Linux 6.18,
// amd64): the Go runtime's start (memory, signals, threads, the
// container-aware GOMAXPROCS), checking /.podlock and reading the policy (openat2, statx, fstatfs),
// Landlock (go-landlock
// applies it to every thread, signalling each), the execve of the program,
// and the write and exit_group of its error path.
package helpercalls

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp"
	"github.com/kubewarden/podlock/seccomp/compile"
)

// Call is a system call of the helper.
type Call struct {
	Name string
	// Arg is the argument that says what the call does (flags, a command,
	// an option), when the helper passes it only Values. A call without
	// Values is listed by its name alone.
	Arg    uint
	Values []uint64
}

// Values the helper passes that golang.org/x/sys does not name.
const (
	archSetFS        = 0x1002 // ARCH_SET_FS
	futexWaitPrivate = 0x80   // FUTEX_WAIT | FUTEX_PRIVATE_FLAG
	futexWakePrivate = 0x81   // FUTEX_WAKE | FUTEX_PRIVATE_FLAG
	// sigPerThreadSyscall is the signal with which the Go runtime makes
	// every thread run prctl and landlock_restrict_self (SIGRTMIN+1).
	sigPerThreadSyscall = 33
	// threadClone are the flags of the Go runtime's clone of a thread.
	threadClone = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
		unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_THREAD
)

// Calls returns the helper's system calls on the architecture this binary
// runs on, which is the helper's.
func Calls() []Call {
	// s390 passes clone's flags second.
	cloneFlags := uint(0)
	if runtime.GOARCH == "s390x" {
		cloneFlags = 1
	}
	calls := []Call{
		{Name: "clone", Arg: cloneFlags, Values: []uint64{threadClone}},
		{Name: "close"},
		{Name: "epoll_create1", Arg: 0, Values: []uint64{unix.EPOLL_CLOEXEC}},
		{Name: "epoll_ctl", Arg: 1, Values: []uint64{unix.EPOLL_CTL_ADD}},
		{Name: "epoll_pwait"},
		{Name: "eventfd2", Arg: 1, Values: []uint64{unix.EFD_CLOEXEC | unix.EFD_NONBLOCK}},
		{Name: "execve"},
		{Name: "exit_group"},
		{Name: "fcntl", Arg: 1, Values: []uint64{unix.F_GETFD, unix.F_GETFL, unix.F_SETFL}},
		{Name: "fstat"},
		{Name: "fstatfs"},
		{Name: "futex", Arg: 1, Values: []uint64{futexWaitPrivate, futexWakePrivate}},
		{Name: "getpid"},
		{Name: "gettid"},
		{Name: "landlock_add_rule"},
		{Name: "landlock_create_ruleset"},
		{Name: "landlock_restrict_self"},
		{Name: "madvise"},
		{Name: "mmap", Arg: 2, Values: []uint64{unix.PROT_NONE, unix.PROT_READ | unix.PROT_WRITE}},
		{Name: "nanosleep"},
		{Name: "newfstatat"},
		{Name: "openat2"},
		{Name: "openat", Arg: 2, Values: []uint64{unix.O_RDONLY, unix.O_RDONLY | unix.O_CLOEXEC, unix.O_PATH | unix.O_CLOEXEC, unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC}},
		{Name: "prctl", Arg: 0, Values: []uint64{unix.PR_SET_NO_NEW_PRIVS, unix.PR_SET_VMA}},
		{Name: "pread64"},
		{Name: "prlimit64", Arg: 1, Values: []uint64{unix.RLIMIT_NOFILE}},
		{Name: "read"},
		{Name: "readlinkat"},
		{Name: "rt_sigaction"},
		{Name: "rt_sigprocmask"},
		{Name: "rt_sigreturn"},
		{Name: "sched_getaffinity"},
		{Name: "sched_yield"},
		{Name: "sigaltstack"},
		{Name: "statx"},
		{Name: "tgkill", Arg: 2, Values: []uint64{uint64(unix.SIGURG), sigPerThreadSyscall}},
		{Name: "write"},
	}
	if runtime.GOARCH == "amd64" {
		calls = append(calls, Call{Name: "arch_prctl", Arg: 0, Values: []uint64{archSetFS}})
	}
	slices.SortFunc(calls, func(a, b Call) int { return strings.Compare(a.Name, b.Name) })
	return calls
}

// Rules returns SeccompProfile rules that allow the helper's calls and
// nothing more: one rule for the calls listed by name, then a rule per
// argument value of the others (one rule each, so that no reader takes
// several conditions for a conjunction).
func Rules() []v1alpha1.SyscallRule {
	var byName []string
	var byValue []v1alpha1.SyscallRule
	for _, c := range Calls() {
		if len(c.Values) == 0 {
			byName = append(byName, c.Name)
			continue
		}
		for _, v := range c.Values {
			byValue = append(byValue, v1alpha1.SyscallRule{
				Names:  []string{c.Name},
				Action: v1alpha1.ActionAllow,
				Args:   []v1alpha1.ArgCondition{{Index: c.Arg, Value: v, Op: v1alpha1.OpEqualTo}},
			})
		}
	}
	return append([]v1alpha1.SyscallRule{{Names: byName, Action: v1alpha1.ActionAllow}}, byValue...)
}

// Refused returns the helper's calls that the program does not let
// through, each with the argument value that is refused, such as
// "clone with args[0]=0xd0f00"; none when the helper can run under it.
// A call passes when the filter allows or only logs it; its other
// arguments are simulated as zero, so a filter that compares addresses or
// sizes can still stop the helper when it runs, which fails the listed
// binary (exit status 126) and never runs anything unconfined.
func Refused(p seccomp.Program) ([]string, error) {
	var refused []string
	for _, c := range Calls() {
		if len(c.Values) == 0 {
			ok, err := passes(p, c.Name, [6]uint64{})
			if err != nil {
				return nil, err
			}
			if !ok {
				refused = append(refused, c.Name)
			}
			continue
		}
		for _, v := range c.Values {
			var args [6]uint64
			args[c.Arg] = v
			ok, err := passes(p, c.Name, args)
			if err != nil {
				return nil, err
			}
			if !ok {
				refused = append(refused, fmt.Sprintf("%s with args[%d]=%#x", c.Name, c.Arg, v))
			}
		}
	}
	return refused, nil
}

func passes(p seccomp.Program, name string, args [6]uint64) (bool, error) {
	ret, err := compile.Decide(p, name, args)
	if err != nil {
		return false, fmt.Errorf("checking podlock-helper's system calls against the filter: %w", err)
	}
	switch ret & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_LOG:
		return true, nil
	}
	return false, nil
}
