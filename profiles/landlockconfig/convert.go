package landlockconfig

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// levels are the access levels of AccessRules, in the order documents list
// them.
var levels = []struct {
	name   string
	access landlock.Access
	paths  func(*v1alpha1.AccessRules) *[]string
}{
	{"readOnly", landlock.ReadOnly, func(r *v1alpha1.AccessRules) *[]string { return &r.ReadOnly }},
	{"readExec", landlock.ReadExec, func(r *v1alpha1.AccessRules) *[]string { return &r.ReadExec }},
	{"readWrite", landlock.ReadWrite, func(r *v1alpha1.AccessRules) *[]string { return &r.ReadWrite }},
	{"readWriteExec", landlock.ReadWriteExec, func(r *v1alpha1.AccessRules) *[]string { return &r.ReadWriteExec }},
}

// Export writes rules as a document that means the same: one ruleset
// handling the filesystem rights of ABI 3 (and TCP, and the scopes, when
// the rules have them), a pathBeneath per access level and a netPort each
// for the bind and connect ports.
func Export(rules v1alpha1.AccessRules) (*Document, error) {
	if err := rules.Validate("rules"); err != nil {
		return nil, fmt.Errorf("exporting to landlockconfig: %w", err)
	}
	rs := Ruleset{HandledAccessFs: fsKind.list(handledFS)}
	if rules.Network != nil {
		rs.HandledAccessNet = netKind.list(handledNet)
	}
	if scoped := scopeBits(rules.Scope); scoped != 0 {
		rs.Scoped = scopeKind.list(scoped)
	}
	d := &Document{Ruleset: []Ruleset{rs}}
	for _, l := range levels {
		paths := *l.paths(&rules)
		if len(paths) == 0 {
			continue
		}
		parents := make([]string, len(paths))
		for i, p := range paths {
			parents[i] = escape(p)
		}
		d.PathBeneath = append(d.PathBeneath, PathBeneath{AllowedAccess: fsKind.list(uint64(l.access)), Parent: parents})
	}
	if n := rules.Network; n != nil {
		for _, list := range []struct {
			bit   uint64
			ports []int32
		}{{ll.AccessNetBindTCP, n.BindTCP}, {ll.AccessNetConnectTCP, n.ConnectTCP}} {
			if len(list.ports) == 0 {
				continue
			}
			ports := make([]uint64, len(list.ports))
			for i, p := range list.ports {
				ports[i] = uint64(p)
			}
			d.NetPort = append(d.NetPort, NetPort{AllowedAccess: netKind.list(list.bit), Port: ports})
		}
	}
	return d, nil
}

func scopeBits(s *v1alpha1.ScopeRules) uint64 {
	var bits uint64
	if s != nil && s.AbstractUnixSocket {
		bits |= ll.ScopeAbstractUnixSocket
	}
	if s != nil && s.Signal {
		bits |= ll.ScopeSignal
	}
	return bits
}

// Import reads a document as rules that mean the same, or says every
// reason why there are none.
func Import(d *Document) (v1alpha1.AccessRules, error) {
	var rules v1alpha1.AccessRules
	r, err := resolve(d)
	if err != nil {
		return rules, fmt.Errorf("importing landlockconfig: %w", err)
	}
	var errs []error
	if r.fs != handledFS {
		var why []string
		if missing := handledFS &^ r.fs; missing != 0 {
			why = append(why, "it leaves "+fsKind.names(missing)+" allowed everywhere")
		}
		if extra := r.fs &^ handledFS; extra != 0 {
			why = append(why, "it denies "+fsKind.names(extra)+", which podlock never restricts")
		}
		errs = append(errs, fmt.Errorf("the document handles the filesystem rights [%s]; podlock always handles exactly the rights of Landlock ABI 3 [%s], and %s; handle exactly those (abi 3 with abi.all): %w",
			fsKind.names(r.fs), fsKind.names(handledFS), strings.Join(why, ", and "), ErrNotExact))
	}
	if r.net != 0 && r.net != handledNet {
		errs = append(errs, fmt.Errorf("the document handles the network right %s alone; podlock's network rules handle bind_tcp and connect_tcp together: handle both, and allow the other on the ports that need it: %w",
			netKind.names(r.net), ErrNotExact))
	}
	for _, path := range slices.Sorted(maps.Keys(r.paths)) {
		access := landlock.Access(r.paths[path])
		placed := false
		for _, l := range levels {
			if access == l.access {
				list := l.paths(&rules)
				*list = append(*list, path)
				placed = true
			}
		}
		if !placed {
			errs = append(errs, fmt.Errorf("%s is allowed [%s], which is none of podlock's access levels%s: %w", path, fsKind.names(uint64(access)), hint(access), ErrNotExact))
		}
	}
	if r.net != 0 {
		rules.Network = &v1alpha1.NetworkRules{}
		for _, port := range slices.Sorted(maps.Keys(r.ports)) {
			if port > 65535 {
				errs = append(errs, fmt.Errorf("port %d is not a TCP port (0-65535): %w", port, ErrInvalid))
				continue
			}
			if r.ports[port]&ll.AccessNetBindTCP != 0 {
				rules.Network.BindTCP = append(rules.Network.BindTCP, int32(port))
			}
			if r.ports[port]&ll.AccessNetConnectTCP != 0 {
				rules.Network.ConnectTCP = append(rules.Network.ConnectTCP, int32(port))
			}
		}
	}
	if r.scoped != 0 {
		rules.Scope = &v1alpha1.ScopeRules{
			AbstractUnixSocket: r.scoped&ll.ScopeAbstractUnixSocket != 0,
			Signal:             r.scoped&ll.ScopeSignal != 0,
		}
	}
	if err := errors.Join(errs...); err != nil {
		return v1alpha1.AccessRules{}, fmt.Errorf("importing landlockconfig: %w", err)
	}
	if err := rules.Validate("rules"); err != nil {
		return v1alpha1.AccessRules{}, fmt.Errorf("importing landlockconfig: %w: %w", err, ErrNotExact)
	}
	return rules, nil
}

// hint says how to write a set of rights that is close to a level.
func hint(access landlock.Access) string {
	switch {
	case access == landlock.ReadExec|ll.AccessFSRefer:
		return " (abi.read_execute includes refer from ABI 2 on; readExec is [" + fsKind.names(uint64(landlock.ReadExec)) + "])"
	case access&^landlock.ReadExec == 0:
		return " (for a file, read_dir grants nothing: readOnly is [" + fsKind.names(uint64(landlock.ReadOnly)) +
			"], readExec [" + fsKind.names(uint64(landlock.ReadExec)) + "])"
	}
	return ""
}

// resolved is what a document asks of Landlock, with its variables and
// groups resolved, and the rights of rules on the same path or port put
// together.
type resolved struct {
	fs, net, scoped uint64
	paths           map[string]uint64
	ports           map[uint64]uint64
}

func resolve(d *Document) (*resolved, error) {
	r := &resolved{paths: map[string]uint64{}, ports: map[uint64]uint64{}}
	var errs []error
	values := map[string][]string{}
	for _, v := range d.Variable {
		values[v.Name] = append(values[v.Name], v.Literal...)
	}
	for i, rs := range d.Ruleset {
		for _, list := range []struct {
			field string
			k     kind
			names []string
			into  *uint64
		}{
			{"handledAccessFs", fsKind, rs.HandledAccessFs, &r.fs},
			{"handledAccessNet", netKind, rs.HandledAccessNet, &r.net},
			{"scoped", scopeKind, rs.Scoped, &r.scoped},
		} {
			bits, err := list.k.bits(list.names, d.ABI)
			if err != nil {
				errs = append(errs, fmt.Errorf("ruleset[%d].%s: %w", i, list.field, err))
			}
			*list.into |= bits
		}
	}
	for i, pb := range d.PathBeneath {
		field := fmt.Sprintf("pathBeneath[%d]", i)
		access, err := fsKind.bits(pb.AllowedAccess, d.ABI)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.allowedAccess: %w", field, err))
			continue
		}
		if access == 0 {
			continue // the format drops rules that allow nothing
		}
		r.fs |= access
		for _, parent := range pb.Parent {
			paths, err := resolveParent(parent, values)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.parent: %w", field, err))
				continue
			}
			for _, p := range paths {
				r.paths[p] |= access
			}
		}
	}
	for i, np := range d.NetPort {
		access, err := netKind.bits(np.AllowedAccess, d.ABI)
		if err != nil {
			errs = append(errs, fmt.Errorf("netPort[%d].allowedAccess: %w", i, err))
			continue
		}
		if access == 0 {
			continue
		}
		r.net |= access
		for _, port := range np.Port {
			r.ports[port] |= access
		}
	}
	return r, errors.Join(errs...)
}

// resolveParent returns the paths a parent stands for, each of which must
// be a path a LandlockProfile can hold.
func resolveParent(parent string, values map[string][]string) ([]string, error) {
	tokens, err := parseTemplate(parent)
	if err != nil {
		return nil, err
	}
	for _, t := range tokens {
		if t.variable == "" {
			continue
		}
		vs, declared := values[t.variable]
		switch {
		case !declared:
			return nil, fmt.Errorf("%q names variable %q, which the document does not declare: %w", parent, t.variable, ErrInvalid)
		case len(vs) == 0:
			return nil, fmt.Errorf("%q names variable %q, which the document declares without a literal value: its values would come from outside the document; give them in literal: %w",
				parent, t.variable, ErrNotExact)
		}
	}
	paths := expand(tokens, values)
	for _, p := range paths {
		if err := v1alpha1.ValidatePath(p); err != nil {
			if p != parent {
				err = fmt.Errorf("from %q: %w", parent, err)
			}
			return nil, fmt.Errorf("%w: a LandlockProfile's paths are absolute and clean, and are looked up in the container: %w", err, ErrNotExact)
		}
	}
	return paths, nil
}
