// Package builtin holds the seccomp profiles that every namespace can name
// without creating a SeccompProfile: RuntimeDefault and Audit.
package builtin

import (
	"slices"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// Names of the built-in profiles. A SeccompProfile of the same name in a
// namespace is shadowed by the built-in one.
const (
	// RuntimeDefault allows what containerd's RuntimeDefault profile allows
	// a container with the default capabilities, and nothing else.
	RuntimeDefault = "runtime-default"
	// Audit allows every system call and logs it (SCMP_ACT_LOG), to record
	// what a workload uses before writing a stricter profile.
	Audit = "audit"
)

var profiles = map[string]func() *v1alpha1.SeccompProfileSpec{
	RuntimeDefault: runtimeDefault,
	Audit: func() *v1alpha1.SeccompProfileSpec {
		return &v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionLog}
	},
}

// Get returns a new copy of the built-in profile called name, for the
// architecture this binary runs on, which the caller may modify.
func Get(name string) (*v1alpha1.SeccompProfileSpec, bool) {
	f, ok := profiles[name]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Names returns the names of the built-in profiles, sorted.
func Names() []string {
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
