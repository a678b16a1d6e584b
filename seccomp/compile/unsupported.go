//go:build !cgo || !linux

package compile

import (
	"fmt"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp"
	"github.com/kubewarden/podlock/seccomp/profile"
)

// Compile returns ErrNotSupported: this binary has no libseccomp.
func Compile(*v1alpha1.SeccompProfileSpec) (seccomp.Program, error) {
	return seccomp.Program{}, fmt.Errorf("compiling seccomp profile: %w", ErrNotSupported)
}

// Validate checks what needs no libseccomp (profile.Validate), then returns
// ErrNotSupported, since system call names cannot be checked.
func Validate(s *v1alpha1.SeccompProfileSpec) error {
	if err := profile.Validate(s); err != nil {
		return err
	}
	return fmt.Errorf("checking system call names: %w", ErrNotSupported)
}

// Decide returns ErrNotSupported: system call names cannot be resolved.
func Decide(seccomp.Program, string, [6]uint64) (uint32, error) {
	return 0, fmt.Errorf("running a seccomp filter: %w", ErrNotSupported)
}
