//go:build !cgo || !linux

package compile

import (
	"errors"
	"testing"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp"
	"github.com/kubewarden/podlock/seccomp/profile"
)

func TestWithoutCgo(t *testing.T) {
	if _, err := Compile(&v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Compile: error %v, want ErrNotSupported", err)
	}
	if err := Validate(&v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Validate: error %v, want ErrNotSupported", err)
	}
	if err := Validate(&v1alpha1.SeccompProfileSpec{}); !errors.Is(err, profile.ErrInvalid) {
		t.Fatalf("Validate of a profile forbidding execve: error %v, want ErrInvalid", err)
	}
	if _, err := Decide(seccomp.Program{}, "read", [6]uint64{}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Decide: error %v, want ErrNotSupported", err)
	}
}
