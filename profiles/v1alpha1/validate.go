package v1alpha1

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// ErrInvalid is the class of every validation error of this package.
var ErrInvalid = errors.New("invalid")

// isLabel reports whether s is a DNS-1123 label: lower-case alphanumerics
// and '-', starting and ending with an alphanumeric. It is written out
// rather than a regular expression because compiling one costs every start
// of podlock-runtime.
func isLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isSubdomain reports whether s is labels joined by dots.
func isSubdomain(s string) bool {
	for _, label := range strings.Split(s, ".") {
		if !isLabel(label) {
			return false
		}
	}
	return true
}

// ValidateName checks that name is a DNS-1123 subdomain, which is what the
// API server requires of a custom resource's name and what makes it safe to
// use as a path component.
func ValidateName(name string) error {
	if len(name) == 0 || len(name) > 253 || !isSubdomain(name) {
		return fmt.Errorf("name %q is not a DNS-1123 subdomain (lower-case alphanumerics, '-' and '.'): %w", name, ErrInvalid)
	}
	return nil
}

// ValidateLabel checks that s is a DNS-1123 label, as namespace and
// container names are.
func ValidateLabel(what, s string) error {
	if len(s) == 0 || len(s) > 63 || !isLabel(s) {
		return fmt.Errorf("%s %q is not a DNS-1123 label (at most 63 lower-case alphanumerics or '-'): %w", what, s, ErrInvalid)
	}
	return nil
}

// Validate reports every problem of the spec in one error, each naming the
// field it is about.
func (s *LandlockProfileSpec) Validate() error {
	var errs []error
	switch s.Mode {
	case "", ModeEnforce:
	case ModeRecord:
		if len(s.ProfilesByContainer)+len(s.ContainerWide)+len(s.SeccompByContainer) > 0 {
			errs = append(errs, fmt.Errorf("spec.mode: a profile in mode Record confines nothing: remove its rules, or set mode Enforce: %w", ErrInvalid))
		}
	default:
		errs = append(errs, fmt.Errorf("spec.mode: %q is neither %s nor %s: %w", s.Mode, ModeEnforce, ModeRecord, ErrInvalid))
	}
	for _, container := range slices.Sorted(maps.Keys(s.ProfilesByContainer)) {
		field := "spec.profilesByContainer[" + container + "]"
		if err := ValidateLabel("container name", container); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
		binaries := s.ProfilesByContainer[container]
		if len(binaries) == 0 {
			errs = append(errs, fmt.Errorf("%s: lists no binary: %w", field, ErrInvalid))
		}
		for _, binary := range slices.Sorted(maps.Keys(binaries)) {
			bfield := field + "[" + binary + "]"
			if err := validatePath(binary); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", bfield, err))
			}
			if strings.HasSuffix(binary, deletedSuffix) {
				errs = append(errs, fmt.Errorf("%s: binary names must not end in %q, which the kernel appends to the path of a replaced executable: %w", bfield, deletedSuffix, ErrInvalid))
			}
			errs = append(errs, binaries[binary].validate(bfield)...)
		}
	}
	for _, container := range slices.Sorted(maps.Keys(s.ContainerWide)) {
		field := "spec.containerWide[" + container + "]"
		if err := ValidateLabel("container name", container); err != nil && container != AllContainers {
			errs = append(errs, fmt.Errorf("%s: %w (or %s, for every container the profile does not name)", field, err, AllContainers))
		}
		errs = append(errs, s.ContainerWide[container].validate(field)...)
	}
	for _, container := range slices.Sorted(maps.Keys(s.SeccompByContainer)) {
		field := "spec.seccompByContainer[" + container + "]"
		if err := ValidateLabel("container name", container); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
		if err := ValidateName(string(s.SeccompByContainer[container])); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	return errors.Join(errs...)
}

// Validate reports every problem of the rules in one error; field names
// them in the messages.
func (r AccessRules) Validate(field string) error { return errors.Join(r.validate(field)...) }

func (r AccessRules) validate(field string) []error {
	var errs []error
	for _, list := range []struct {
		name  string
		paths []string
	}{
		{"readOnly", r.ReadOnly},
		{"readWrite", r.ReadWrite},
		{"readExec", r.ReadExec},
		{"readWriteExec", r.ReadWriteExec},
	} {
		for i, p := range list.paths {
			if err := validatePath(p); err != nil {
				errs = append(errs, fmt.Errorf("%s.%s[%d]: %w", field, list.name, i, err))
			}
		}
	}
	if r.Network != nil {
		for _, list := range []struct {
			name  string
			ports []int32
		}{{"bindTCP", r.Network.BindTCP}, {"connectTCP", r.Network.ConnectTCP}} {
			for i, port := range list.ports {
				if port < 0 || port > 65535 {
					errs = append(errs, fmt.Errorf("%s.network.%s[%d]: port %d is not in 0-65535: %w", field, list.name, i, port, ErrInvalid))
				}
			}
		}
	}
	return errs
}

// ValidatePath checks that p can be a path of AccessRules.
func ValidatePath(p string) error { return validatePath(p) }

// deletedSuffix is what the kernel appends to /proc/self/exe when the
// executable has been replaced. The helper strips it to identify itself
// after an upgrade of the node's helper (see cmd/podlock-helper), which
// is unambiguous only while no binary is named with it.
const deletedSuffix = " (deleted)"

// validatePath accepts absolute, clean paths only: rules are applied inside
// the container, where a relative path would depend on the working directory
// and ".." would make the rule say something else than it reads.
func validatePath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is not absolute: %w", p, ErrInvalid)
	case path.Clean(p) != p || strings.Contains(p, "/../") || strings.HasSuffix(p, "/.."):
		return fmt.Errorf("path %q is not clean (no '..', '.', '//' or trailing '/'): %w", p, ErrInvalid)
	}
	return nil
}
