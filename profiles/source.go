// Package profiles finds the profiles that confine a container.
//
// A Source answers for one namespace at a time: callers take the namespace
// from the container runtime's own annotations, never from anything the pod
// author controls, so a pod can only ever name profiles of its own namespace.
package profiles

import (
	"context"
	"errors"
	"fmt"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

var (
	// ErrNotFound means the source answered and has no such profile.
	ErrNotFound = errors.New("profile not found")
	// ErrUnavailable means the source could not answer; the profile may
	// or may not exist.
	ErrUnavailable = errors.New("profile source unavailable")
)

// Ref names a namespaced profile.
type Ref struct {
	Namespace string
	Name      string
}

func (r Ref) String() string { return r.Namespace + "/" + r.Name }

// Validate checks that both parts are well-formed Kubernetes names, so that
// a Ref is safe to use in an URL or a file path.
func (r Ref) Validate() error {
	if err := v1alpha1.ValidateLabel("namespace", r.Namespace); err != nil {
		return err
	}
	if err := v1alpha1.ValidateName(r.Name); err != nil {
		return fmt.Errorf("profile %w", err)
	}
	return nil
}

// Source looks profiles up by namespace and name. Implementations return
// errors that wrap ErrNotFound or ErrUnavailable where those apply.
type Source interface {
	LandlockProfile(ctx context.Context, ref Ref) (*v1alpha1.LandlockProfile, error)
	SeccompProfile(ctx context.Context, ref Ref) (*v1alpha1.SeccompProfile, error)
}
