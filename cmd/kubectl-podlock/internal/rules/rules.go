// Package rules lays a LandlockProfile and its SeccompProfiles out as a
// flat list of rules, one per path, port, scope or system call, in the
// terms of the evidence podlock-node publishes with a recording
// (crd.RuleEvidence), and compares two such lists rule by rule: what a
// review of a recording shows before it is promoted.
package rules

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// Kinds of rules: those of crd.RuleEvidence, and scope, which a recording
// never produces but a profile written by hand may hold.
const (
	KindPath       = "path"
	KindBindTCP    = "bindTCP"
	KindConnectTCP = "connectTCP"
	KindSyscall    = "syscall"
	KindScope      = "scope"
)

// Rule is one thing a profile grants (or, for scope, restricts).
type Rule struct {
	// Container is the container name, or v1alpha1.AllContainers.
	Container string `json:"container"`
	// Binary is the binary of a profilesByContainer rule; empty for a
	// container-wide rule and for system calls.
	Binary string `json:"binary,omitempty"`
	Kind   string `json:"kind"`
	// Value is the path, the port, the scope or the system call.
	Value string `json:"value"`
	// Access is the Landlock access of a path (readOnly, readWrite,
	// readExec, readWriteExec); for a system call, the action of a rule
	// that is not a plain SCMP_ACT_ALLOW, with " if args" when it has
	// argument conditions.
	Access string `json:"access,omitempty"`
}

// Landlock returns the Landlock rules of a profile's spec, sorted.
func Landlock(s *v1alpha1.LandlockProfileSpec) []Rule {
	var out []Rule
	for container, binaries := range s.ProfilesByContainer {
		for binary, rules := range binaries {
			out = appendAccess(out, container, binary, rules)
		}
	}
	for container, rules := range s.ContainerWide {
		out = appendAccess(out, container, "", rules)
	}
	Sort(out)
	return out
}

func appendAccess(out []Rule, container, binary string, r v1alpha1.AccessRules) []Rule {
	add := func(kind, value, access string) {
		out = append(out, Rule{Container: container, Binary: binary, Kind: kind, Value: value, Access: access})
	}
	for _, set := range []struct {
		access string
		paths  []string
	}{{"readOnly", r.ReadOnly}, {"readWrite", r.ReadWrite}, {"readExec", r.ReadExec}, {"readWriteExec", r.ReadWriteExec}} {
		for _, p := range set.paths {
			add(KindPath, p, set.access)
		}
	}
	if r.Network != nil {
		for _, p := range r.Network.BindTCP {
			add(KindBindTCP, strconv.Itoa(int(p)), "")
		}
		for _, p := range r.Network.ConnectTCP {
			add(KindConnectTCP, strconv.Itoa(int(p)), "")
		}
	}
	if r.Scope != nil {
		if r.Scope.AbstractUnixSocket {
			add(KindScope, "abstractUnixSocket", "")
		}
		if r.Scope.Signal {
			add(KindScope, "signal", "")
		}
	}
	return out
}

// Seccomp returns the system call rules of a container's SeccompProfile,
// sorted. A plain allow rule has no Access, as in a recording's evidence.
func Seccomp(container string, s *v1alpha1.SeccompProfileSpec) []Rule {
	var out []Rule
	for _, sc := range s.Syscalls {
		access := ""
		if sc.Action != v1alpha1.ActionAllow {
			access = string(sc.Action)
		}
		if len(sc.Args) > 0 {
			access = strings.TrimSpace(cmp.Or(access, string(v1alpha1.ActionAllow)) + " if args")
		}
		for _, name := range sc.Names {
			out = append(out, Rule{Container: container, Kind: KindSyscall, Value: name, Access: access})
		}
	}
	Sort(out)
	return slices.Compact(out)
}

// Sort orders rules by container, binary, kind, value and access.
func Sort(r []Rule) {
	slices.SortFunc(r, compare)
}

func compare(a, b Rule) int {
	return cmp.Or(
		cmp.Compare(a.Container, b.Container),
		cmp.Compare(a.Binary, b.Binary),
		cmp.Compare(a.Kind, b.Kind),
		comparePorts(a, b),
		cmp.Compare(a.Access, b.Access),
	)
}

// comparePorts orders ports as numbers, other values as strings.
func comparePorts(a, b Rule) int {
	if a.Kind == KindBindTCP || a.Kind == KindConnectTCP {
		x, errX := strconv.Atoi(a.Value)
		y, errY := strconv.Atoi(b.Value)
		if errX == nil && errY == nil {
			return cmp.Compare(x, y)
		}
	}
	return cmp.Compare(a.Value, b.Value)
}

// Change says how a rule of the recorded profile relates to the profile in
// force.
type Change string

// Changes of a Line.
const (
	// Added: the recording has it, the profile in force does not.
	Added Change = "added"
	// Removed: the profile in force has it, the recording does not.
	Removed Change = "removed"
	// Same: both have it.
	Same Change = "same"
)

// Line is one rule of a diff, with what was seen of it.
type Line struct {
	Change Change `json:"change"`
	Rule   `json:",inline"`
	// Evidence is what the recording saw of the rule; nil for a rule the
	// recording lacks, or that it holds without evidence.
	Evidence *crd.RuleEvidence `json:"evidence,omitempty"`
}

// Diff compares the rules of the profile in force with the recorded ones,
// rule by rule, and attaches each recorded rule's evidence. Both lists
// must be sorted (as Landlock and Seccomp return them).
func Diff(current, recorded []Rule, evidence []crd.RuleEvidence) []Line {
	seen := map[Rule]*crd.RuleEvidence{}
	for i := range evidence {
		e := &evidence[i]
		seen[Rule{Container: e.Container, Binary: e.Binary, Kind: e.Kind, Value: e.Value, Access: e.Access}] = e
	}
	var out []Line
	i, j := 0, 0
	for i < len(current) || j < len(recorded) {
		switch {
		case j == len(recorded) || i < len(current) && compare(current[i], recorded[j]) < 0:
			out = append(out, Line{Change: Removed, Rule: current[i]})
			i++
		case i == len(current) || compare(current[i], recorded[j]) > 0:
			out = append(out, Line{Change: Added, Rule: recorded[j], Evidence: seen[recorded[j]]})
			j++
		default:
			out = append(out, Line{Change: Same, Rule: recorded[j], Evidence: seen[recorded[j]]})
			i++
			j++
		}
	}
	return out
}
