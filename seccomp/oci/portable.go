package oci

import (
	"errors"
	"fmt"
	"strings"

	kjson "sigs.k8s.io/json"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/profile"
)

// Portable converts an OCI or Docker seccomp JSON profile into the spec of
// a SeccompProfile that means the same on every node, for the API server,
// whose schema has OCI's fields only. Unlike Import, which evaluates moby's
// extensions on the node that runs the container, it keeps only what it
// can carry unchanged:
//
//   - syscalls[].name becomes names: [name]; comments are left out;
//   - includes and excludes that are empty ({}) are no condition;
//   - archMap, and includes or excludes with conditions, are refused: they
//     depend on the node's architecture and kernel and on the container's
//     capabilities, which a SeccompProfile cannot express. Such files work
//     unchanged from the nodes' profilesDir/seccomp/ directory, where
//     podlock evaluates them on each node;
//   - listenerPath and listenerMetadata are refused: podlock runs no
//     seccomp agent but its own.
//
// An unknown or repeated field, or one spelt with other capitals, is an
// error, as it is for the API server under kubectl's strict field
// validation. The result is validated as the runtime will (system call
// names for their syntax only: whether the kernel knows them is checked
// when a container starts).
func Portable(data []byte) (*v1alpha1.SeccompProfileSpec, error) {
	s, err := portable(data)
	if err != nil {
		return nil, fmt.Errorf("converting seccomp profile: %w", err)
	}
	return s, nil
}

func portable(data []byte) (*v1alpha1.SeccompProfileSpec, error) {
	var f file
	strict, err := kjson.UnmarshalStrict(data, &f, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err = errors.Join(append([]error{err}, strict...)...); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w: %w", err, profile.ErrInvalid)
	}
	var errs []error
	refuse := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format+": %w", append(args, profile.ErrInvalid)...))
	}
	if len(f.ArchMap) > 0 {
		refuse("archMap chooses the architectures by the node's own, which a SeccompProfile cannot: list them in architectures " +
			"(for x86_64 nodes: SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32), or leave both out for the node's native and compat architectures")
	}
	if f.ListenerPath != "" || f.ListenerMetadata != "" {
		refuse("listenerPath and listenerMetadata name a seccomp agent, and podlock runs none but its own: remove them")
	}
	var conditions []string
	for i, sc := range f.Syscalls {
		if !sc.Includes.empty() {
			conditions = append(conditions, fmt.Sprintf("syscalls[%d].includes", i))
		}
		if !sc.Excludes.empty() {
			conditions = append(conditions, fmt.Sprintf("syscalls[%d].excludes", i))
		}
	}
	if len(conditions) > 0 {
		refuse("%s: conditions on the node's architecture or kernel or on the container's capabilities cannot be carried into a SeccompProfile: "+
			"decide whether each rule applies to your containers, then keep or remove it without the condition", strings.Join(conditions, ", "))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w; or put the file unchanged in the nodes' profilesDir/seccomp/, where podlock evaluates these on each node", err)
	}
	s, err := convertFile(&f, host{})
	if err != nil {
		return nil, err
	}
	if err := profile.Validate(s); err != nil {
		return nil, err
	}
	return s, nil
}

func (f *filter) empty() bool {
	return f == nil || len(f.Arches) == 0 && len(f.Caps) == 0 && f.MinKernel == ""
}
