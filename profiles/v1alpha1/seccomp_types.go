package v1alpha1

// SeccompProfileSpec is a seccomp filter in the format of OCI and Docker
// seccomp JSON, so existing profiles load unchanged, plus BaseProfileName.
//
// +kubebuilder:validation:XValidation:rule="!has(self.defaultErrnoRet) || !has(self.defaultAction) || self.defaultAction in ['SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE']",fieldPath=".defaultErrnoRet",message="defaultErrnoRet is only allowed with defaultAction SCMP_ACT_ERRNO (or SCMP_ACT_TRACE, as its message)"
// +kubebuilder:validation:XValidation:rule="!has(self.defaultErrnoRet) || self.defaultErrnoRet <= 4095 || (has(self.defaultAction) ? self.defaultAction == 'SCMP_ACT_TRACE' : has(self.baseProfileName))",fieldPath=".defaultErrnoRet",message="defaultErrnoRet of SCMP_ACT_ERRNO must be an errno, at most 4095"
type SeccompProfileSpec struct {
	// BaseProfileName names a profile this one extends: a built-in profile
	// or a SeccompProfile in the same namespace. Rules of this profile are
	// added to those of the base.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="baseProfileName must be a DNS-1123 subdomain: lower-case alphanumerics, hyphens and dots"
	BaseProfileName string `json:"baseProfileName,omitempty"`

	// DefaultAction applies to every system call that no rule matches.
	// Defaults to SCMP_ACT_ERRNO.
	// +optional
	DefaultAction Action `json:"defaultAction,omitempty"`

	// DefaultErrnoRet is the errno that an ERRNO default action returns;
	// EPERM when unset.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=32767
	DefaultErrnoRet *uint `json:"defaultErrnoRet,omitempty"`

	// Architectures the filter accepts. Defaults to the native
	// architecture and its compat architectures.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Architectures []Arch `json:"architectures,omitempty"`

	// Syscalls are the rules. A later rule without argument conditions
	// overrides the earlier rules for the same system call, so the rules of
	// a profile override those of its base profile.
	// +optional
	// +kubebuilder:validation:MaxItems=1024
	Syscalls []SyscallRule `json:"syscalls,omitempty"`

	// Flags passed to seccomp(2) when the filter is loaded.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	Flags []Flag `json:"flags,omitempty"`
}

// Action is a seccomp action such as SCMP_ACT_ALLOW. SCMP_ACT_NOTIFY is not
// one: the only seccomp agent podlock runs is learning mode's, which
// podlock-runtime sets up itself.
//
// +kubebuilder:validation:Enum=SCMP_ACT_ALLOW;SCMP_ACT_ERRNO;SCMP_ACT_KILL_PROCESS;SCMP_ACT_KILL_THREAD;SCMP_ACT_KILL;SCMP_ACT_TRAP;SCMP_ACT_TRACE;SCMP_ACT_LOG
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
//
// +kubebuilder:validation:Enum=SCMP_ARCH_X86;SCMP_ARCH_X86_64;SCMP_ARCH_X32;SCMP_ARCH_ARM;SCMP_ARCH_AARCH64;SCMP_ARCH_MIPS;SCMP_ARCH_MIPS64;SCMP_ARCH_MIPS64N32;SCMP_ARCH_MIPSEL;SCMP_ARCH_MIPSEL64;SCMP_ARCH_MIPSEL64N32;SCMP_ARCH_PPC;SCMP_ARCH_PPC64;SCMP_ARCH_PPC64LE;SCMP_ARCH_S390;SCMP_ARCH_S390X;SCMP_ARCH_PARISC;SCMP_ARCH_PARISC64;SCMP_ARCH_RISCV64;SCMP_ARCH_LOONGARCH64;SCMP_ARCH_M68K;SCMP_ARCH_SH;SCMP_ARCH_SHEB
type Arch string

// Flag is a seccomp(2) filter flag such as SECCOMP_FILTER_FLAG_LOG. Of the
// flags OCI names, SECCOMP_FILTER_FLAG_TSYNC and the notification flags are
// not supported.
//
// +kubebuilder:validation:Enum=SECCOMP_FILTER_FLAG_LOG;SECCOMP_FILTER_FLAG_SPEC_ALLOW
type Flag string

// SyscallRule applies one action to the named system calls, optionally only
// when their arguments match.
//
// +kubebuilder:validation:XValidation:rule="!has(self.errnoRet) || self.action in ['SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE']",fieldPath=".errnoRet",message="errnoRet is only allowed with SCMP_ACT_ERRNO (or SCMP_ACT_TRACE, as its message)"
// +kubebuilder:validation:XValidation:rule="!has(self.errnoRet) || self.action != 'SCMP_ACT_ERRNO' || self.errnoRet <= 4095",fieldPath=".errnoRet",message="errnoRet of SCMP_ACT_ERRNO must be an errno, at most 4095"
type SyscallRule struct {
	// Names of the system calls, as libseccomp knows them.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:Pattern=`^[a-z_][a-z0-9_]*$`
	Names  []string `json:"names"`
	Action Action   `json:"action"`
	// ErrnoRet is the errno returned by an SCMP_ACT_ERRNO rule (EPERM when
	// unset), or the trace message of SCMP_ACT_TRACE.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=32767
	ErrnoRet *uint `json:"errnoRet,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Args []ArgCondition `json:"args,omitempty"`
}

// ArgCondition compares one system call argument.
type ArgCondition struct {
	// Index of the argument, 0 to 5.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=5
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
//
// +kubebuilder:validation:Enum=SCMP_CMP_NE;SCMP_CMP_LT;SCMP_CMP_LE;SCMP_CMP_EQ;SCMP_CMP_GE;SCMP_CMP_GT;SCMP_CMP_MASKED_EQ
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
