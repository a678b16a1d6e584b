package v1alpha1

// SeccompProfileSpec is a seccomp filter in the format of OCI and Docker
// seccomp JSON, so existing profiles load unchanged, plus BaseProfileName.
type SeccompProfileSpec struct {
	// BaseProfileName names a profile this one extends: a built-in profile
	// or a SeccompProfile in the same namespace. Rules of this profile are
	// added to those of the base.
	// +optional
	BaseProfileName string `json:"baseProfileName,omitempty"`

	// DefaultAction applies to every system call that no rule matches.
	// Defaults to SCMP_ACT_ERRNO.
	// +optional
	DefaultAction Action `json:"defaultAction,omitempty"`

	// DefaultErrnoRet is the errno that an ERRNO default action returns;
	// EPERM when unset.
	// +optional
	DefaultErrnoRet *uint `json:"defaultErrnoRet,omitempty"`

	// Architectures the filter accepts. Defaults to the native
	// architecture and its compat architectures.
	// +optional
	Architectures []Arch `json:"architectures,omitempty"`

	// Syscalls are the rules. A later rule without argument conditions
	// overrides the earlier rules for the same system call, so the rules of
	// a profile override those of its base profile.
	// +optional
	Syscalls []SyscallRule `json:"syscalls,omitempty"`

	// Flags passed to seccomp(2) when the filter is loaded.
	// +optional
	Flags []Flag `json:"flags,omitempty"`
}

// Action is a seccomp action such as SCMP_ACT_ALLOW.
type Action string

// Actions a rule or the default may take.
const (
	ActionAllow       Action = "SCMP_ACT_ALLOW"
	ActionErrno       Action = "SCMP_ACT_ERRNO"
	ActionKillProcess Action = "SCMP_ACT_KILL_PROCESS"
	ActionKillThread  Action = "SCMP_ACT_KILL_THREAD"
	// ActionKill is the older spelling of ActionKillThread.
	ActionKill  Action = "SCMP_ACT_KILL"
	ActionTrap  Action = "SCMP_ACT_TRAP"
	ActionTrace Action = "SCMP_ACT_TRACE"
	ActionLog   Action = "SCMP_ACT_LOG"
)

// Arch is a seccomp architecture such as SCMP_ARCH_X86_64.
type Arch string

// Flag is a seccomp(2) filter flag such as SECCOMP_FILTER_FLAG_LOG.
type Flag string

// SyscallRule applies one action to the named system calls, optionally only
// when their arguments match.
type SyscallRule struct {
	Names  []string `json:"names"`
	Action Action   `json:"action"`
	// ErrnoRet is the errno returned by an SCMP_ACT_ERRNO rule (EPERM when
	// unset), or the trace message of SCMP_ACT_TRACE.
	// +optional
	ErrnoRet *uint `json:"errnoRet,omitempty"`
	// +optional
	Args []ArgCondition `json:"args,omitempty"`
}

// ArgCondition compares one system call argument.
type ArgCondition struct {
	// Index of the argument, 0 to 5.
	Index uint   `json:"index"`
	Value uint64 `json:"value"`
	// ValueTwo is used by SCMP_CMP_MASKED_EQ only, which matches when
	// (argument & Value) == ValueTwo: Value is the mask, as in OCI and
	// libseccomp.
	// +optional
	ValueTwo uint64   `json:"valueTwo,omitempty"`
	Op       Operator `json:"op"`
}

// Operator is a seccomp comparison such as SCMP_CMP_EQ.
type Operator string

// Comparison operators of ArgCondition.
const (
	OpNotEqual     Operator = "SCMP_CMP_NE"
	OpLessThan     Operator = "SCMP_CMP_LT"
	OpLessEqual    Operator = "SCMP_CMP_LE"
	OpEqualTo      Operator = "SCMP_CMP_EQ"
	OpGreaterEqual Operator = "SCMP_CMP_GE"
	OpGreaterThan  Operator = "SCMP_CMP_GT"
	OpMaskedEqual  Operator = "SCMP_CMP_MASKED_EQ"
)
