// Package compile turns a LandlockProfile into the policy that podlock's
// helper enforces, resolving every path against the container's rootfs on
// the host. It runs in podlock-runtime, never in the container.
package compile

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// ErrKernel means the node's kernel cannot enforce the profile.
var ErrKernel = errors.New("kernel cannot enforce the profile")

// DefaultPath is the PATH runc uses when the container's environment has
// none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Container is what the compiler needs to know of the container.
type Container struct {
	Name   string
	Rootfs string // host path
	Args   []string
	Env    []string
	Cwd    string
}

// Result is the compiled policy and the mounts that put the helper in front
// of the listed binaries.
type Result struct {
	Policy landlock.Policy
	// Originals are regular files that Covers hide; each must be mounted
	// at landlock.Original(i) first, for the helper to execute.
	Originals []string
	// Covers are the canonical container paths to mount the helper on.
	Covers []string
}

// Compile computes the policy of one container. kernelABI is the node's
// Landlock ABI: a profile that needs more fails here, before the container
// exists, with an error that says so.
func Compile(spec *v1alpha1.LandlockProfileSpec, c Container, kernelABI int) (*Result, error) {
	binaries := spec.ProfilesByContainer[c.Name]
	wide, hasWide := spec.ContainerWide[c.Name]
	res := &Result{Policy: landlock.Policy{ABI: landlock.MinABI, BestEffort: spec.BestEffort}}
	if len(binaries) == 0 && !hasWide {
		return res, nil
	}
	r, err := openRoot(c.Rootfs)
	if err != nil {
		return nil, err
	}
	defer r.Close()

	// Resolve every listed binary before building rules: which of them
	// need their original kept depends on all the others.
	type listed struct {
		entry entry
		rules v1alpha1.AccessRules
	}
	byKey := map[string]listed{}
	for _, name := range slices.Sorted(maps.Keys(binaries)) {
		e, err := r.lookup(name)
		if err != nil {
			return nil, fmt.Errorf("binary %s listed for container %q: %w", name, c.Name, notInImage(err))
		}
		if e.TargetMode&unix.S_IFMT != unix.S_IFREG {
			return nil, fmt.Errorf("binary %s listed for container %q is not a regular file in the image", name, c.Name)
		}
		if prev, dup := byKey[e.Path]; dup {
			return nil, fmt.Errorf("binaries listed for container %q name the same file %s twice (%v and %v rules)", c.Name, e.Path, prev.rules, binaries[name])
		}
		byKey[e.Path] = listed{entry: e, rules: binaries[name]}
	}
	originals := map[string]string{} // canonical file -> its copy under landlock.OriginalsDir
	keep := func(file string) string {
		if o, ok := originals[file]; ok {
			return o
		}
		o := landlock.Original(len(res.Originals))
		originals[file] = o
		res.Originals = append(res.Originals, file)
		return o
	}
	if len(byKey) > 0 {
		res.Policy.Binaries = map[string]landlock.Binary{}
	}
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		l := byKey[key]
		exec := l.entry.Target
		if _, covered := byKey[exec]; covered {
			exec = keep(exec)
		}
		rules, err := r.rules(l.rules, l.entry.Target)
		if err != nil {
			return nil, fmt.Errorf("binary %s of container %q: %w", key, c.Name, err)
		}
		res.Policy.Binaries[key] = landlock.Binary{Exec: exec, Rules: rules}
		res.Covers = append(res.Covers, key)
	}

	if hasWide {
		entry, err := r.lookPath(firstArg(c.Args), pathOf(c.Env), cwdOf(c.Cwd))
		if err != nil {
			return nil, fmt.Errorf("entrypoint of container %q: %w", c.Name, notInImage(err))
		}
		rules, err := r.rules(wide, entry.Target)
		if err != nil {
			return nil, fmt.Errorf("container-wide rules of container %q: %w", c.Name, err)
		}
		res.Policy.Container = &rules
	}

	for _, rs := range res.rulesets() {
		res.Policy.ABI = max(res.Policy.ABI, rs.ABI())
	}
	if kernelABI < res.Policy.ABI && !spec.BestEffort || kernelABI == 0 {
		return nil, fmt.Errorf("the node's kernel supports Landlock ABI %d, the profile needs ABI %d (Linux %s or later with Landlock enabled in the lsm= boot parameter); run the pod on such a node or set spec.bestEffort: %w",
			kernelABI, res.Policy.ABI, linuxWithABI[res.Policy.ABI], ErrKernel)
	}
	return res, nil
}

// linuxWithABI is the first Linux release of each Landlock ABI.
var linuxWithABI = map[int]string{1: "5.13", 2: "5.19", 3: "6.2", 4: "6.7", 5: "6.10", 6: "6.12", 7: "6.15"}

func (res *Result) rulesets() []*landlock.Ruleset {
	var out []*landlock.Ruleset
	if res.Policy.Container != nil {
		out = append(out, res.Policy.Container)
	}
	for _, b := range res.Policy.Binaries {
		out = append(out, &b.Rules)
	}
	return out
}

// rules turns profile rules into a ruleset for a process that runs binary,
// adding what it cannot run without: the binary and what loads it, and the
// helper with its policy, which it runs whenever it starts a listed binary.
func (r *root) rules(profile v1alpha1.AccessRules, binary string) (landlock.Ruleset, error) {
	loadable, err := r.loadable(binary)
	if err != nil {
		return landlock.Ruleset{}, err
	}
	implicit := append([]string{landlock.Dir, landlock.HelperPath}, loadable...)
	var rs landlock.Ruleset
	if n := profile.Network; n != nil {
		rs.Network = &landlock.Network{BindTCP: ports(n.BindTCP), ConnectTCP: ports(n.ConnectTCP)}
	}
	if s := profile.Scope; s != nil {
		if s.AbstractUnixSocket {
			rs.Scoped = append(rs.Scoped, landlock.ScopeAbstractUnixSocket)
		}
		if s.Signal {
			rs.Scoped = append(rs.Scoped, landlock.ScopeSignal)
		}
	}
	for _, rule := range []struct {
		access   landlock.Access
		implicit []string
		paths    []string
	}{
		{landlock.ReadOnly, nil, profile.ReadOnly},
		{landlock.ReadWrite, nil, profile.ReadWrite},
		{landlock.ReadExec, implicit, profile.ReadExec},
		{landlock.ReadWriteExec, nil, profile.ReadWriteExec},
	} {
		paths := rule.implicit
		for _, p := range rule.paths {
			canon, err := r.canonical(p)
			if err != nil {
				return landlock.Ruleset{}, fmt.Errorf("resolving %s in the image: %w", p, err)
			}
			paths = append(paths, canon)
		}
		if len(paths) > 0 {
			rs.Rules = append(rs.Rules, landlock.Rule{Access: rule.access, Paths: paths})
		}
	}
	return rs, nil
}

// ports converts validated port numbers.
func ports(list []int32) []uint16 {
	out := make([]uint16, len(list))
	for i, p := range list {
		out[i] = uint16(p)
	}
	return out
}

func notInImage(err error) error {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("does not exist in the image: %w", err)
	}
	return err
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

func pathOf(env []string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "PATH="); ok {
			return v
		}
	}
	return DefaultPath
}

func cwdOf(cwd string) string {
	if cwd == "" {
		return "/"
	}
	return cwd
}
