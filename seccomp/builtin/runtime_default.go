package builtin

import (
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// runtimeDefault builds the profile that containerd v2 generates for
// Kubernetes' RuntimeDefault (contrib/seccomp), evaluated for a container
// that has containerd's default capabilities:
//
//   - the capability-gated groups are left out, except chroot, since
//     CAP_SYS_CHROOT is a default capability; without CAP_SYS_ADMIN, clone
//     may not create namespaces and clone3 fails with ENOSYS, so that C
//     libraries fall back to clone, whose flags the filter can inspect;
//   - ptrace is allowed, as containerd does on kernels from 4.8, which
//     every kernel with Landlock is;
//   - the architectures are left empty: podlock then uses the native one
//     and its compat ones, as containerd lists them for amd64 and arm64.
//
// System calls newer than the node's libseccomp are still compiled; see
// package seccomp/compile.
func runtimeDefault() *v1alpha1.SeccompProfileSpec {
	allowed := append([]string(nil), commonAllowed...)
	allowed = append(allowed, archAllowed[runtime.GOARCH]...)
	p := &v1alpha1.SeccompProfileSpec{
		DefaultAction: v1alpha1.ActionErrno,
		Syscalls: []v1alpha1.SyscallRule{
			{Names: allowed, Action: v1alpha1.ActionAllow},
		},
	}
	// personality(2) only with the personas that containerd lets through:
	// PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32 and the query
	// 0xffffffff.
	for _, persona := range []uint64{0x0, 0x8, 0x20000, 0x20008, 0xffffffff} {
		p.Syscalls = append(p.Syscalls, v1alpha1.SyscallRule{
			Names:  []string{"personality"},
			Action: v1alpha1.ActionAllow,
			Args:   []v1alpha1.ArgCondition{{Index: 0, Value: persona, Op: v1alpha1.OpEqualTo}},
		})
	}
	// clone(2) without namespace flags. s390 passes the flags second.
	flagsArg := uint(0)
	if runtime.GOARCH == "s390x" {
		flagsArg = 1
	}
	const namespaces = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
		unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP
	enosys := uint(unix.ENOSYS)
	p.Syscalls = append(p.Syscalls,
		v1alpha1.SyscallRule{
			Names:  []string{"clone"},
			Action: v1alpha1.ActionAllow,
			// OCI's SCMP_CMP_MASKED_EQ: (arg & Value) == ValueTwo.
			Args: []v1alpha1.ArgCondition{{Index: flagsArg, Value: namespaces, ValueTwo: 0, Op: v1alpha1.OpMaskedEqual}},
		},
		v1alpha1.SyscallRule{Names: []string{"clone3"}, Action: v1alpha1.ActionErrno, ErrnoRet: &enosys},
	)
	return p
}

// archAllowed are the system calls that exist on one architecture only.
var archAllowed = map[string][]string{
	"amd64": {"arch_prctl", "modify_ldt", "uretprobe"},
	"arm64": {"arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush", "set_tls", "sync_file_range2"},
	"s390x": {"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"},
}

// commonAllowed is containerd's unconditional allow list, with the system
// calls its later releases added (up to Linux 6.13), plus ptrace and chroot
// (see runtimeDefault). Names that do not exist on an architecture, such as
// the 32-bit variants on x86_64, are skipped there by the compiler.
var commonAllowed = []string{
	// Files and directories.
	"access", "chdir", "chmod", "chown", "chown32", "chroot", "close", "close_range",
	"copy_file_range", "creat", "dup", "dup2", "dup3", "faccessat", "faccessat2",
	"fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod",
	"fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64",
	"fdatasync", "flock", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64",
	"fsync", "ftruncate", "ftruncate64", "futimesat", "getcwd", "getdents",
	"getdents64", "lchown", "lchown32", "link", "linkat", "_llseek", "lseek", "lstat",
	"lstat64", "mkdir", "mkdirat", "mknod", "mknodat", "newfstatat", "open", "openat",
	"openat2", "pread64", "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2",
	"read", "readahead", "readlink", "readlinkat", "readv", "rename", "renameat",
	"renameat2", "rmdir", "sendfile", "sendfile64", "splice", "stat", "stat64",
	"statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
	"syncfs", "tee", "truncate", "truncate64", "umask", "unlink", "unlinkat", "utime",
	"utimensat", "utimensat_time64", "utimes", "vmsplice", "write", "writev",
	"cachestat", "statmount", "listmount",

	// Extended attributes.
	"fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "lgetxattr",
	"listxattr", "llistxattr", "lremovexattr", "lsetxattr", "removexattr", "setxattr",
	"getxattrat", "listxattrat", "removexattrat", "setxattrat",

	// Events, polling and asynchronous I/O.
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
	"epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
	"inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
	"io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
	"io_setup", "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup",
	"ioctl", "_newselect", "pause", "pipe", "pipe2", "poll", "ppoll", "ppoll_time64", "pselect6",
	"pselect6_time64", "select", "signalfd", "signalfd4", "timerfd_create",
	"timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",

	// Processes, threads and credentials.
	"capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "getcpu",
	"getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
	"getgroups32", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
	"getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "getrusage",
	"getsid", "gettid", "getuid", "getuid32", "ioprio_get", "ioprio_set", "kill",
	"pidfd_open", "pidfd_send_signal", "prctl", "prlimit64", "process_mrelease",
	"ptrace", "rseq", "sched_get_priority_max", "sched_get_priority_min",
	"sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler",
	"sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
	"sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
	"set_robust_list", "get_robust_list", "set_thread_area", "get_thread_area",
	"set_tid_address", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid",
	"setgid32", "setgroups", "setgroups32", "setpgid", "setpriority", "setregid",
	"setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid",
	"setreuid32", "setrlimit", "setsid", "setuid", "setuid32", "tgkill", "tkill",
	"ugetrlimit", "vfork", "wait4", "waitid", "waitpid",
	"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
	"lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr",

	// Memory.
	"brk", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret",
	"mincore", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mremap",
	"mseal", "msync", "munlock", "munlockall", "munmap", "remap_file_pages",

	// Signals.
	"restart_syscall", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
	"rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sigaltstack", "sigprocmask",
	"sigreturn",

	// Time and timers.
	"adjtimex", "alarm", "clock_adjtime", "clock_adjtime64", "clock_getres",
	"clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
	"clock_nanosleep_time64", "getitimer", "gettimeofday", "nanosleep", "setitimer",
	"time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
	"timer_gettime64", "timer_settime", "timer_settime64", "times",

	// Synchronisation.
	"futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake",

	// Sockets.
	"accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
	"listen", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send",
	"sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown", "socket", "socketcall",
	"socketpair",

	// System V and POSIX IPC.
	"ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
	"mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink",
	"msgctl", "msgget", "msgrcv", "msgsnd", "semctl", "semget", "semop", "semtimedop",
	"semtimedop_time64", "shmat", "shmctl", "shmdt", "shmget",

	// System information.
	"getrandom", "sysinfo", "uname",
}
