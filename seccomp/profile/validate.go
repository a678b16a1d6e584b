package profile

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp"
)

// Limits of the values that the kernel keeps: an errno is at most
// MAX_ERRNO, a trace message fills SECCOMP_RET_DATA (libseccomp takes it
// as a signed 16-bit number).
const (
	maxErrno    = 4095
	maxTraceMsg = 0x7fff
	maxArgIndex = 5
)

// defaultErrno is what an SCMP_ACT_ERRNO without errnoRet returns: EPERM.
const defaultErrno = 1

// isSyscallName accepts what libseccomp could know as a name; a regular
// expression would be compiled at every start of podlock-runtime.
func isSyscallName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

var knownOps = []v1alpha1.Operator{
	v1alpha1.OpNotEqual, v1alpha1.OpLessThan, v1alpha1.OpLessEqual, v1alpha1.OpEqualTo,
	v1alpha1.OpGreaterEqual, v1alpha1.OpGreaterThan, v1alpha1.OpMaskedEqual,
}

// Flags that name seccomp(2) filter flags podlock can honour.
const (
	FlagLog       v1alpha1.Flag = "SECCOMP_FILTER_FLAG_LOG"
	FlagSpecAllow v1alpha1.Flag = "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
	FlagTSync     v1alpha1.Flag = "SECCOMP_FILTER_FLAG_TSYNC"
)

// ActionNotify is the OCI action that hands a system call to a user-space
// agent; podlock runs none.
const ActionNotify v1alpha1.Action = "SCMP_ACT_NOTIFY"

// Validate checks every field of a resolved profile (one whose base
// profiles Resolve has merged) and reports all problems at once, each
// naming its field and wrapping ErrInvalid. Beyond the fields, it rejects a
// profile whose rules cannot be compiled as written (see Rules), and one
// that does not let the helper execute the container's program.
//
// System call names are only checked for their syntax here: whether the
// kernel knows them is checked by compile.Validate, which needs libseccomp.
func Validate(s *v1alpha1.SeccompProfileSpec) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalid))
	}
	if s.BaseProfileName != "" {
		add("spec.baseProfileName", "base profile %q is not resolved", s.BaseProfileName)
	}
	checkAction(add, "spec.defaultAction", s.DefaultAction, s.DefaultErrnoRet, "spec.defaultErrnoRet")
	for i, a := range s.Architectures {
		if !KnownArch(a) {
			add(fmt.Sprintf("spec.architectures[%d]", i), "unknown architecture %q", a)
		}
	}
	for i, f := range s.Flags {
		if _, err := flagBits(f); err != nil {
			add(fmt.Sprintf("spec.flags[%d]", i), "%v", err)
		}
	}
	for i, r := range s.Syscalls {
		field := fmt.Sprintf("spec.syscalls[%d]", i)
		if len(r.Names) == 0 {
			add(field+".names", "lists no system call")
		}
		for j, n := range r.Names {
			if !isSyscallName(n) {
				add(fmt.Sprintf("%s.names[%d]", field, j), "%q is not a system call name", n)
			}
		}
		if r.Action == "" {
			add(field+".action", "no action")
		} else {
			checkAction(add, field+".action", r.Action, r.ErrnoRet, field+".errnoRet")
		}
		for j, a := range r.Args {
			afield := fmt.Sprintf("%s.args[%d]", field, j)
			if a.Index > maxArgIndex {
				add(afield+".index", "argument index %d is out of range (system calls have 6 arguments, 0 to 5)", a.Index)
			}
			if !slices.Contains(knownOps, a.Op) {
				add(afield+".op", "unknown operator %q", a.Op)
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	rules, err := Rules(s)
	if err != nil {
		return err
	}
	return checkExecve(s, rules)
}

// checkAction checks an action and its errnoRet; the empty action is the
// default action's default, SCMP_ACT_ERRNO.
func checkAction(add func(field, format string, args ...any), field string, a v1alpha1.Action, errnoRet *uint, errnoField string) {
	switch a {
	case "", v1alpha1.ActionErrno:
		if errnoRet != nil && *errnoRet > maxErrno {
			add(errnoField, "errno %d is larger than the largest errno, %d", *errnoRet, maxErrno)
		}
		return
	case v1alpha1.ActionTrace:
		// As in OCI, errnoRet of SCMP_ACT_TRACE is the message the tracer
		// receives; without a tracer the system call fails with ENOSYS.
		if errnoRet != nil && *errnoRet > maxTraceMsg {
			add(errnoField, "trace message %d is larger than %d", *errnoRet, maxTraceMsg)
		}
		return
	case v1alpha1.ActionAllow, v1alpha1.ActionLog, v1alpha1.ActionKillProcess,
		v1alpha1.ActionKillThread, v1alpha1.ActionKill, v1alpha1.ActionTrap:
	case ActionNotify:
		add(field, "action %s is not supported: podlock runs no seccomp notification agent", a)
	default:
		add(field, "unknown action %q", a)
	}
	if errnoRet != nil {
		add(errnoField, "errnoRet is only allowed with SCMP_ACT_ERRNO (or SCMP_ACT_TRACE, as its message), not with %s", a)
	}
}

// checkExecve refuses a profile under which the helper could not execute
// the container's program: the filter is installed right before execve.
func checkExecve(s *v1alpha1.SeccompProfileSpec, rules []Rule) error {
	v := defaultVerdict(s)
	for _, r := range rules {
		if r.Syscall == "execve" && len(r.Args) == 0 {
			v = r.verdict()
		}
	}
	if v.action != v1alpha1.ActionAllow && v.action != v1alpha1.ActionLog {
		return fmt.Errorf("profile forbids execve: the container could not start its entrypoint (execve's action is %s; allow it without argument conditions): %w", v.action, ErrInvalid)
	}
	return nil
}

// Flags converts the profile's flags to the seccomp(2) flags that
// seccomp.LoadWithFlags takes.
func Flags(s *v1alpha1.SeccompProfileSpec) (uint, error) {
	var bits uint
	for i, f := range s.Flags {
		b, err := flagBits(f)
		if err != nil {
			return 0, fmt.Errorf("spec.flags[%d]: %w: %w", i, err, ErrInvalid)
		}
		bits |= b
	}
	return bits, nil
}

func flagBits(f v1alpha1.Flag) (uint, error) {
	switch f {
	case FlagLog:
		return seccomp.FlagLog, nil
	case FlagSpecAllow:
		return seccomp.FlagSpecAllow, nil
	case FlagTSync:
		return 0, fmt.Errorf("flag %s is not supported: the filter applies to the helper's thread that executes the program, never to the Go runtime's other threads", f)
	case "SECCOMP_FILTER_FLAG_NEW_LISTENER", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_TSYNC_ESRCH":
		return 0, fmt.Errorf("flag %s is not supported: podlock runs no seccomp notification agent", f)
	}
	return 0, fmt.Errorf("unknown flag %q", f)
}
