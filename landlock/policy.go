// Package landlock holds the policy that podlock's helper enforces inside a
// container, and the code that enforces it. It is linked into the static
// helper, so it imports nothing but go-landlock, x/sys and podlock's
// sysread.
//
// The policy is computed on the host by package landlock/compile, written
// into the bundle, and bind-mounted read-only at Dir: the helper never takes
// instructions from its environment or arguments, which the pod author sets.
package landlock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
)

// Paths inside the container.
const (
	// Dir is where the runtime mounts the helper and its policy.
	Dir = "/.podlock"
	// HelperPath is the helper when it confines a container's entrypoint
	// and exec sessions.
	HelperPath = Dir + "/helper"
	// PolicyPath is the policy the helper reads.
	PolicyPath = Dir + "/policy.json"
	// OriginalsDir holds the regular files that the helper covers, so that
	// it can still execute them.
	OriginalsDir = Dir + "/orig"
)

// Policy is what the helper enforces. It is versioned by the helper that
// the runtime mounts next to it, so it needs no version of its own.
type Policy struct {
	// ABI is the Landlock ABI the rules need.
	ABI int `json:"abi"`
	// BestEffort enforces what the kernel supports when it is older than ABI.
	BestEffort bool `json:"bestEffort,omitempty"`
	// Container confines the entrypoint and exec sessions, when not empty.
	Container Rulesets `json:"container,omitempty"`
	// Binaries maps the canonical path of each covered binary, as
	// /proc/self/exe shows it, to what the helper does when it is run.
	Binaries map[string]Binary `json:"binaries,omitempty"`
	// Seccomp lists the files of the container-wide seccomp programs, in
	// the order the helper loads them: each filter stacks on the ones
	// before, and all of them hold.
	Seccomp []string `json:"seccomp,omitempty"`
}

// Owner is the pod and container a policy confines. podlock-runtime keeps
// it on the host (package runtime/index), out of the container's reach:
// denials are attributed from there.
type Owner struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod,omitempty"`
	PodUID    string `json:"podUID,omitempty"`
	Container string `json:"container"`
	Profile   string `json:"profile,omitempty"`
	// NamespaceProfile is the LandlockProfile that the namespace binds to
	// every pod, which stacks with Profile.
	NamespaceProfile string `json:"namespaceProfile,omitempty"`
	// Seccomp is the SeccompProfile that a LandlockProfile binds to the
	// container (the pod's, else the namespace's), NamespaceSeccomp the
	// one that the namespace binds to every pod; the container runs under
	// all the filters they and NamespaceProfile bind.
	Seccomp          string `json:"seccomp,omitempty"`
	NamespaceSeccomp string `json:"namespaceSeccomp,omitempty"`
}

// Profiles names the profiles that confine the container, for a report
// of its denials: its LandlockProfiles, or the SeccompProfile of its
// namespace when no LandlockProfile binds it.
func (o Owner) Profiles() string {
	var names []string
	if o.NamespaceProfile != "" {
		names = append(names, "namespace profile "+o.NamespaceProfile)
	}
	if o.Profile != "" {
		names = append(names, "profile "+o.Profile)
	}
	if len(names) == 0 {
		return "SeccompProfile " + o.NamespaceSeccomp
	}
	return strings.Join(names, ", ")
}

// Binary is a listed binary covered by the helper.
type Binary struct {
	// Exec is the file the helper executes once restricted, with argv
	// unchanged: the symlink target or the original's copy in OriginalsDir.
	Exec  string   `json:"exec"`
	Rules Rulesets `json:"rules"`
}

// MaxRulesets bounds the rulesets of a binary or of the container: one
// of the LandlockProfile that the namespace binds to every pod, one of
// the pod's own. Each is a Landlock layer of its own (a process holds at
// most 16), and a policy with more is refused.
const MaxRulesets = 2

// Rulesets are Landlock rulesets that all hold: the helper restricts the
// process with each in turn, in its own landlock_restrict_self(2) layer,
// so that a later one can only narrow what an earlier one allows.
type Rulesets []Ruleset

// UnmarshalJSON reads a list, or the single ruleset that podlock wrote
// before rulesets were stacked: podlock-runtime reads the policy of a
// container created by the release before it when it confines an exec
// session (and a policy read as no ruleset would not confine it).
func (rs *Rulesets) UnmarshalJSON(data []byte) error {
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		var one Ruleset
		if err := json.Unmarshal(trimmed, &one); err != nil {
			return err
		}
		*rs = Rulesets{one}
		return nil
	}
	var list []Ruleset
	if err := json.Unmarshal(data, &list); err != nil {
		return err
	}
	*rs = list
	return nil
}

// Ruleset lists what a confined process may access: every filesystem
// access of Landlock ABI 3 outside Rules is denied; with Network, so is
// every TCP bind and connect to a port it does not list; and the IPC that
// Scoped names cannot reach out of the process's domain.
type Ruleset struct {
	Rules   []Rule   `json:"rules,omitempty"`
	Network *Network `json:"network,omitempty"`
	Scoped  []Scope  `json:"scoped,omitempty"`
}

// Network lists the TCP ports a confined process may bind and connect to.
type Network struct {
	BindTCP    []uint16 `json:"bindTCP,omitempty"`
	ConnectTCP []uint16 `json:"connectTCP,omitempty"`
}

// Scope is an IPC scope of Landlock ABI 6.
type Scope string

// The scopes.
const (
	ScopeAbstractUnixSocket Scope = "abstractUnixSocket"
	ScopeSignal             Scope = "signal"
)

// ABI returns the Landlock ABI the ruleset needs.
func (r *Ruleset) ABI() int {
	switch {
	case len(r.Scoped) > 0:
		return 6
	case r.Network != nil:
		return 4
	}
	return MinABI
}

// Rule grants Access beneath each of Paths.
type Rule struct {
	Access Access   `json:"access"`
	Paths  []string `json:"paths"`
}

// Wraps reports whether the container's entrypoint and exec sessions must
// start through the helper.
func (p *Policy) Wraps() bool {
	return len(p.Container) > 0 || len(p.Seccomp) > 0
}

// The policy file holds one JSON object per line: the first is the
// policy without its binaries, each further one a listed binary, its path
// first. The helper runs at every start of a listed binary and of the
// container, and decodes only the lines it applies: a policy of hundreds
// of listed binaries is hundreds of kilobytes, which encoding/json would
// otherwise scan twice at each of those starts. Policies written before
// hold one object with every binary under "binaries"; the runtime still
// reads them, for exec sessions into containers created then.

// binaryLine is the line of a listed binary.
type binaryLine struct {
	Path string `json:"binary"`
	Binary
}

// MarshalPolicy encodes p as the helper reads it: a line for p without
// its binaries, then a line for each binary, in the order of their paths.
func MarshalPolicy(p *Policy) ([]byte, error) {
	head := *p
	head.Binaries = nil
	data, err := json.Marshal(&head)
	if err != nil {
		return nil, fmt.Errorf("encoding policy: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(p.Binaries)) {
		line, err := json.Marshal(binaryLine{Path: name, Binary: p.Binaries[name]})
		if err != nil {
			return nil, fmt.Errorf("encoding policy of %s: %w", name, err)
		}
		data = append(append(data, '\n'), line...)
	}
	return append(data, '\n'), nil
}

// ReadPolicy reads a policy file on the host, where podlock-runtime wrote
// it. The helper reads its policy with StateDir.ReadPolicy instead.
func ReadPolicy(file string) (*Policy, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	return parsePolicy(data, file)
}

func parsePolicy(data []byte, file string) (*Policy, error) {
	p, binaries, rest, err := parsePolicyHead(data, file)
	if err != nil {
		return nil, err
	}
	for name := range binaries {
		if err := p.addBinary(name, binaries[name], file); err != nil {
			return nil, err
		}
	}
	for line := range bytes.Lines(rest) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var b binaryLine
		if err := json.Unmarshal(line, &b); err != nil {
			return nil, fmt.Errorf("parsing policy %s: %w", file, err)
		}
		if _, dup := p.Binaries[b.Path]; dup || b.Path == "" {
			return nil, fmt.Errorf("policy %s: binary %q listed twice or without a path", file, b.Path)
		}
		if err := p.setBinary(b.Path, b.Binary, file); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// parsePolicyFor is parsePolicy for the helper started as self: it
// decodes the policy's first object and self's line, if self is listed.
func parsePolicyFor(data []byte, file, self string) (*Policy, error) {
	p, binaries, rest, err := parsePolicyHead(data, file)
	if err != nil {
		return nil, err
	}
	if raw, ok := binaries[self]; ok {
		return p, p.addBinary(self, raw, file)
	}
	if self == HelperPath {
		return p, nil // the container's own start: no binary's rules
	}
	line, ok, err := findBinaryLine(rest, self)
	if err != nil || !ok {
		return p, err
	}
	var b binaryLine
	if err := json.Unmarshal(line, &b); err != nil {
		return nil, fmt.Errorf("parsing policy %s: binary %s: %w", file, self, err)
	}
	return p, p.setBinary(self, b.Binary, file)
}

// findBinaryLine returns the line of lines that starts with binary's
// path. A JSON string holds no raw newline, so a line cannot start inside
// another.
func findBinaryLine(lines []byte, binary string) ([]byte, bool, error) {
	name, err := json.Marshal(binary)
	if err != nil {
		return nil, false, err
	}
	prefix := append(append([]byte(`{"binary":`), name...), ',')
	for line := range bytes.Lines(lines) {
		if bytes.HasPrefix(line, prefix) {
			return line, true, nil
		}
	}
	return nil, false, nil
}

// parsePolicyHead decodes the policy's first object. It returns the
// binaries of a policy written in one object, undecoded, and the lines
// after the first object.
func parsePolicyHead(data []byte, file string) (p *Policy, binaries map[string]json.RawMessage, rest []byte, err error) {
	var head struct {
		Policy
		Binaries map[string]json.RawMessage `json:"binaries,omitempty"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&head); err != nil {
		return nil, nil, nil, fmt.Errorf("parsing policy %s: %w", file, err)
	}
	rest = data[dec.InputOffset():]
	p = &head.Policy
	if p.ABI < 1 {
		return nil, nil, nil, fmt.Errorf("policy %s: no Landlock ABI", file)
	}
	if len(p.Container) > MaxRulesets {
		return nil, nil, nil, fmt.Errorf("policy %s: %d container rulesets, at most %d", file, len(p.Container), MaxRulesets)
	}
	if head.Binaries != nil && len(bytes.TrimSpace(rest)) > 0 {
		return nil, nil, nil, fmt.Errorf("policy %s: binaries both in the first line and after it", file)
	}
	return p, head.Binaries, rest, nil
}

func (p *Policy) addBinary(name string, raw json.RawMessage, file string) error {
	var b Binary
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("parsing policy %s: binary %s: %w", file, name, err)
	}
	return p.setBinary(name, b, file)
}

// setBinary adds a listed binary to p, if it has rulesets.
func (p *Policy) setBinary(name string, b Binary, file string) error {
	// A binary without a ruleset would run unconfined.
	if len(b.Rules) == 0 || len(b.Rules) > MaxRulesets {
		return fmt.Errorf("policy %s: binary %s has %d rulesets, want 1 to %d", file, name, len(b.Rules), MaxRulesets)
	}
	if p.Binaries == nil {
		p.Binaries = map[string]Binary{}
	}
	p.Binaries[name] = b
	return nil
}

// Original is the path in the container of the n-th covered regular file.
func Original(n int) string {
	return path.Join(OriginalsDir, fmt.Sprint(n))
}
