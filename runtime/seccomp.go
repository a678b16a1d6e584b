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

// compileSeccomp resolves a SeccompProfile (built-in, or of the pod's
// namespace) with its base profiles and compiles it for the helper.
func (r *Runtime) compileSeccomp(ctx context.Context, namespace, name string) ([]byte, error) {
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
	prog, err := compile.Compile(spec)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", name, err)
	}
	return prog.MarshalBinary()
}
