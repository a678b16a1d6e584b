package profile

import (
	"fmt"
	"strings"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/builtin"
)

// maxChain bounds a chain of base profiles; real chains have two or three
// links, and the bound keeps a malicious chain from costing much.
const maxChain = 16

// Lookup returns the SeccompProfile spec of that name in the namespace of
// the pod being confined. It returns an error wrapping ErrNotFound (or the
// caller's own not-found error) when there is none.
type Lookup func(name string) (*v1alpha1.SeccompProfileSpec, error)

// Resolve returns the profile called name with its base profiles merged
// into it. Each name of the chain, name included, is a built-in profile
// (see package builtin), which takes precedence, or is found by lookup;
// lookup may be nil when only built-in profiles may be used.
//
// Merging a profile onto its base puts the base's rules first and the
// profile's own rules after them (see Rules for what that order means);
// the profile's defaultAction, architectures and flags replace the base's
// when they are set, and its defaultErrnoRet goes with its defaultAction.
// The result is a new spec without baseProfileName; nothing that Get or
// lookup returned is modified.
func Resolve(name string, lookup Lookup) (*v1alpha1.SeccompProfileSpec, error) {
	var chain []*v1alpha1.SeccompProfileSpec
	var names []string
	for n := name; n != ""; n = chain[len(chain)-1].BaseProfileName {
		for i, seen := range names {
			if seen == n {
				return nil, fmt.Errorf("seccomp profile %s: base profiles form a cycle: %s: %w",
					name, strings.Join(append(names[i:], n), " -> "), ErrInvalid)
			}
		}
		names = append(names, n)
		if len(names) > maxChain {
			return nil, fmt.Errorf("seccomp profile %s: more than %d base profiles: %s: %w", name, maxChain, strings.Join(names, " -> "), ErrInvalid)
		}
		s, err := get(n, lookup)
		if err != nil {
			if len(names) == 1 {
				return nil, fmt.Errorf("seccomp profile %s: %w", n, err)
			}
			return nil, fmt.Errorf("seccomp profile %s: base profile %s (%s): %w", name, n, strings.Join(names, " -> "), err)
		}
		chain = append(chain, s)
	}
	merged := Clone(chain[len(chain)-1])
	for i := len(chain) - 2; i >= 0; i-- {
		merged = merge(merged, chain[i])
	}
	merged.BaseProfileName = ""
	return merged, nil
}

func get(name string, lookup Lookup) (*v1alpha1.SeccompProfileSpec, error) {
	if s, ok := builtin.Get(name); ok {
		return s, nil
	}
	// Names reach the API server and file paths: check them first.
	if err := v1alpha1.ValidateName(name); err != nil {
		return nil, err
	}
	if lookup == nil {
		return nil, fmt.Errorf("%w: not a built-in profile (%s)", ErrNotFound, strings.Join(builtin.Names(), ", "))
	}
	s, err := lookup(name)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, ErrNotFound
	}
	return s, nil
}

// merge returns ext applied onto base, which it may modify.
func merge(base, ext *v1alpha1.SeccompProfileSpec) *v1alpha1.SeccompProfileSpec {
	e := Clone(ext)
	if e.DefaultAction != "" {
		base.DefaultAction, base.DefaultErrnoRet = e.DefaultAction, e.DefaultErrnoRet
	} else if e.DefaultErrnoRet != nil {
		base.DefaultErrnoRet = e.DefaultErrnoRet
	}
	if len(e.Architectures) > 0 {
		base.Architectures = e.Architectures
	}
	if len(e.Flags) > 0 {
		base.Flags = e.Flags
	}
	base.Syscalls = append(base.Syscalls, e.Syscalls...)
	base.BaseProfileName = e.BaseProfileName
	return base
}
