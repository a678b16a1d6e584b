package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kubewarden/podlock/profiles"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/compile"
	"github.com/kubewarden/podlock/seccomp/helpercalls"
	"github.com/kubewarden/podlock/seccomp/profile"
)

// seccompBinding is a SeccompProfile that filters a container, and what
// binds it there.
type seccompBinding struct {
	name  string
	field string
	// namespace: the namespace binds it to every pod.
	namespace bool
}

// seccompBindings returns the SeccompProfiles that filter the container:
// the one its LandlockProfile binds, the one the LandlockProfile of its
// namespace binds (annotation NamespaceProfileKey), and the one its
// namespace binds to every pod (annotation SeccompKey), all stacked. The
// namespace's are the administrator's, which a pod's LandlockProfile
// cannot lift. They come last: the helper loads the filters in this order,
// and of two equally strict results (two errnos) the kernel keeps that of
// the filter loaded last.
func seccompBindings(id identity, spec, nsSpec *v1alpha1.LandlockProfileSpec) []seccompBinding {
	var bindings []seccompBinding
	if name, ok := spec.SeccompByContainer[id.Container]; ok {
		bindings = append(bindings, seccompBinding{name: string(name), field: "spec.seccompByContainer[" + id.Container + "]"})
	}
	if name, ok := nsSpec.SeccompByContainer[id.Container]; ok {
		bindings = append(bindings, seccompBinding{name: string(name),
			field: "spec.seccompByContainer[" + id.Container + "] of LandlockProfile " + id.NamespaceProfile + " (annotation " + v1alpha1.NamespaceProfileKey + ")"})
	}
	if id.Seccomp != "" {
		bindings = append(bindings, seccompBinding{name: id.Seccomp, field: "annotation " + v1alpha1.SeccompKey, namespace: true})
	}
	return bindings
}

// addSeccomp compiles the SeccompProfiles bound to the container into c,
// in the order of bindings, which the helper loads them in, and names them
// in the policy's owner for the reports of denials.
func (r *Runtime) addSeccomp(ctx context.Context, id identity, c *confinement, bindings []seccompBinding) error {
	c.seccomp = map[string][]byte{}
	var loaded []string
	for _, sb := range bindings {
		switch {
		case sb.namespace:
			c.owner.NamespaceSeccomp = sb.name
		case c.owner.Seccomp == "":
			c.owner.Seccomp = sb.name
		}
		if slices.Contains(loaded, sb.name) {
			continue // the same filter twice would only cost time
		}
		loaded = append(loaded, sb.name)
		data, err := r.compileSeccomp(ctx, id.Namespace, sb.name, len(c.Policy.Binaries) > 0)
		if err != nil {
			return fmt.Errorf("%s, %s: %w", id, sb.field, err)
		}
		file := fmt.Sprintf("seccomp%d.bpf", len(c.Policy.Seccomp))
		c.seccomp[file] = data
		c.Policy.Seccomp = append(c.Policy.Seccomp, file)
	}
	return nil
}

// compileSeccomp resolves a SeccompProfile (built-in, or of the pod's
// namespace) with its base profiles and compiles it for the helper. With
// listed binaries, the helper runs under the filter each time one of them
// starts, and the filter must let its system calls through: podlock adds
// no allows for them, which would widen what every process of the
// container may do.
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
	prog, err := compile.Compile(spec)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", name, err)
	}
	if listedBinaries {
		refused, err := helpercalls.Refused(prog)
		if err != nil {
			return nil, fmt.Errorf("seccomp profile %s: %w", name, err)
		}
		if len(refused) > 0 {
			return nil, fmt.Errorf("seccomp profile %s refuses system calls that podlock-helper makes to start the container's listed binaries: %s; allow them in the SeccompProfile (profiles/README.md lists them under SeccompProfile), or list no binaries for the container",
				name, strings.Join(refused, ", "))
		}
	}
	return prog.MarshalBinary()
}
