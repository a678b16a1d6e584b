package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/kubewarden/podlock/profiles"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/compile"
	"github.com/kubewarden/podlock/seccomp/profile"
)

// seccompFile is the compiled filter's name in the podlock state directory.
const seccompFile = "seccomp.bpf"

// helperSyscalls are the system calls podlock-helper makes when it starts
// a listed binary under the container's filter, which it loaded when it
// started the entrypoint: those of the Go runtime's start, of checking
// and reading /.podlock (openat2, statx, fstatfs) and the rule paths, and
// of Landlock, as strace shows them, and the exits and writes of its
// error path.
var helperSyscalls = []string{
	"arch_prctl", "clone", "clone3", "close", "epoll_create1", "epoll_ctl", "epoll_pwait",
	"eventfd2", "execve", "exit", "exit_group", "fcntl", "fstat", "fstatfs", "futex",
	"getpid", "getrandom", "gettid", "landlock_add_rule", "landlock_create_ruleset",
	"landlock_restrict_self", "madvise", "mmap", "munmap", "nanosleep", "newfstatat",
	"openat", "openat2", "prctl", "prlimit64", "read", "readlinkat", "rt_sigaction",
	"rt_sigprocmask", "rt_sigreturn", "sched_getaffinity", "sched_yield", "sigaltstack",
	"statx", "tgkill", "write",
}

// compileSeccomp resolves a SeccompProfile (built-in, or of the pod's
// namespace) with its base profiles and compiles it for the helper. With
// listed binaries, the helper runs again under the filter each time one
// of them starts: its own calls are allowed unless the profile's rules
// say otherwise, as later rules win.
func (r *Runtime) compileSeccomp(ctx context.Context, namespace, name string, listedBinaries bool) ([]byte, error) {
	spec, err := profile.Resolve(name, func(name string) (*v1alpha1.SeccompProfileSpec, error) {
		p, err := r.source.SeccompProfile(ctx, profiles.Ref{Namespace: namespace, Name: name})
		if errors.Is(err, profiles.ErrNotFound) {
			return nil, fmt.Errorf("%w: create SeccompProfile %s in namespace %s: %w", profile.ErrNotFound, name, namespace, err)
		}
		if err != nil {
			return nil, err
		}
		return &p.Spec, nil
	})
	if err != nil {
		return nil, err
	}
	if listedBinaries {
		helper := v1alpha1.SyscallRule{Names: helperSyscalls, Action: v1alpha1.ActionAllow}
		spec.Syscalls = append([]v1alpha1.SyscallRule{helper}, spec.Syscalls...)
	}
	prog, err := compile.Compile(spec)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", name, err)
	}
	return prog.MarshalBinary()
}
