// Package profile resolves and checks SeccompProfile specs before they are
// compiled: it follows baseProfileName chains, validates every field, and
// reduces the rules to one list of per-system-call rules with a defined
// order of precedence. It needs no cgo, so the admission webhook can use it
// as well as podlock-runtime; the checks that need libseccomp (system call
// names, the native architecture) are in package seccomp/compile.
package profile

import (
	"errors"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// ErrInvalid is the class of every validation error of the seccomp
// packages. errors.Is also matches it against v1alpha1.ErrInvalid, the
// class of the other profile validation errors.
var ErrInvalid error = invalidError{}

type invalidError struct{}

func (invalidError) Error() string { return "invalid seccomp profile" }

func (invalidError) Is(target error) bool { return target == v1alpha1.ErrInvalid }

// ErrNotFound is returned, wrapped, for a base profile that is neither a
// built-in profile nor found by the lookup function.
var ErrNotFound = errors.New("seccomp profile not found")

// Clone returns a deep copy of s, so that merging never writes through to
// a built-in or cached profile.
func Clone(s *v1alpha1.SeccompProfileSpec) *v1alpha1.SeccompProfileSpec {
	if s == nil {
		return nil
	}
	c := *s
	c.DefaultErrnoRet = cloneUint(s.DefaultErrnoRet)
	c.Architectures = append([]v1alpha1.Arch(nil), s.Architectures...)
	c.Flags = append([]v1alpha1.Flag(nil), s.Flags...)
	c.Syscalls = make([]v1alpha1.SyscallRule, len(s.Syscalls))
	for i, r := range s.Syscalls {
		c.Syscalls[i] = cloneRule(r)
	}
	if s.Syscalls == nil {
		c.Syscalls = nil
	}
	return &c
}

func cloneRule(r v1alpha1.SyscallRule) v1alpha1.SyscallRule {
	r.Names = append([]string(nil), r.Names...)
	r.ErrnoRet = cloneUint(r.ErrnoRet)
	r.Args = append([]v1alpha1.ArgCondition(nil), r.Args...)
	return r
}

func cloneUint(p *uint) *uint {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
