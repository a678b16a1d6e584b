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

// Profile is one LandlockProfile that confines the container.
type Profile struct {
	// Name says which profile it is in errors, such as "LandlockProfile
	// default/demo".
	Name string
	Spec *v1alpha1.LandlockProfileSpec
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

// Compile computes the policy of one container under profiles, which all
// hold: each gives its own ruleset to the container as a whole and to each
// binary it lists, and the helper stacks them in this order (the
// namespace's profile first, then the pod's), each in a Landlock layer of
// its own. kernelABI is the node's Landlock ABI: a profile that needs more
// fails here, before the container exists, with an error that says so.
func Compile(profiles []Profile, c Container, kernelABI int) (*Result, error) {
	if len(profiles) > landlock.MaxRulesets {
		return nil, fmt.Errorf("%d LandlockProfiles for container %q, at most %d stack", len(profiles), c.Name, landlock.MaxRulesets)
	}
	res := &Result{Policy: landlock.Policy{ABI: landlock.MinABI}}
	confines := false
	for _, p := range profiles {
		_, wide := p.Spec.ContainerWideRules(c.Name)
		confines = confines || wide || len(p.Spec.ProfilesByContainer[c.Name]) > 0
	}
	if !confines {
		return res, nil
	}
	r, err := openRoot(c.Rootfs)
	if err != nil {
		return nil, err
	}
	defer r.Close()

	// Resolve every listed binary of every profile before building rules:
	// which of them need their original kept depends on all the others,
	// and which originals a ruleset may execute on what it grants.
	type listed struct {
		entry entry
		// rules has one entry per profile that lists the binary, in the
		// order of profiles.
		rules []v1alpha1.AccessRules
		from  []int
	}
	byKey := map[string]*listed{}
	for i, p := range profiles {
		binaries := p.Spec.ProfilesByContainer[c.Name]
		for _, name := range slices.Sorted(maps.Keys(binaries)) {
			e, err := r.lookup(name)
			if err != nil {
				return nil, fmt.Errorf("%s: binary %s listed for container %q: %w", p.Name, name, c.Name, notInImage(err))
			}
			if e.TargetMode&unix.S_IFMT != unix.S_IFREG {
				return nil, fmt.Errorf("%s: binary %s listed for container %q is not a regular file in the image", p.Name, name, c.Name)
			}
			l, seen := byKey[e.Path]
			switch {
			case !seen:
				l = &listed{entry: e}
				byKey[e.Path] = l
			case l.from[len(l.from)-1] == i:
				return nil, fmt.Errorf("%s: binaries listed for container %q name the same file %s twice (%v and %v rules)", p.Name, c.Name, e.Path, l.rules[len(l.rules)-1], binaries[name])
			}
			l.rules, l.from = append(l.rules, binaries[name]), append(l.from, i)
		}
	}
	originals := map[string]string{} // canonical file -> its copy under landlock.OriginalsDir
	execs := map[string]string{}     // listed binary -> what the helper executes
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		exec := byKey[key].entry.Target
		if _, covered := byKey[exec]; covered {
			if o, ok := originals[exec]; ok {
				exec = o
			} else {
				o = landlock.Original(len(res.Originals))
				originals[exec] = o
				res.Originals = append(res.Originals, exec)
				exec = o
			}
		}
		execs[key] = exec
	}
	if len(byKey) > 0 {
		res.Policy.Binaries = map[string]landlock.Binary{}
	}
	abis := make([]int, len(profiles))
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		l := byKey[key]
		b := landlock.Binary{Exec: execs[key]}
		for j, rules := range l.rules {
			p := profiles[l.from[j]]
			rs, err := r.rules(rules, l.entry.Target, originals)
			if err != nil {
				return nil, fmt.Errorf("%s: binary %s of container %q: %w", p.Name, key, c.Name, err)
			}
			abis[l.from[j]] = max(abis[l.from[j]], rs.ABI())
			b.Rules = append(b.Rules, rs)
		}
		res.Policy.Binaries[key] = b
		res.Covers = append(res.Covers, key)
	}

	var entrypoint *entry
	for i, p := range profiles {
		wide, ok := p.Spec.ContainerWideRules(c.Name)
		if !ok {
			continue
		}
		if entrypoint == nil {
			e, err := r.lookPath(firstArg(c.Args), pathOf(c.Env), cwdOf(c.Cwd))
			if err != nil {
				return nil, fmt.Errorf("%s: entrypoint of container %q: %w", p.Name, c.Name, notInImage(err))
			}
			entrypoint = &e
		}
		rs, err := r.rules(wide, entrypoint.Target, originals)
		if err != nil {
			return nil, fmt.Errorf("%s: container-wide rules of container %q: %w", p.Name, c.Name, err)
		}
		abis[i] = max(abis[i], rs.ABI())
		res.Policy.Container = append(res.Policy.Container, rs)
	}

	// Each profile's own bestEffort decides for its own rules: a pod's
	// profile cannot make the namespace's run with less than it needs.
	for i, p := range profiles {
		res.Policy.ABI = max(res.Policy.ABI, abis[i])
		if kernelABI < abis[i] && !p.Spec.BestEffort || kernelABI == 0 {
			return nil, fmt.Errorf("%s: the node's kernel supports Landlock ABI %d, the profile needs ABI %d (Linux %s or later with Landlock enabled in the lsm= boot parameter); run the pod on such a node or set spec.bestEffort: %w",
				p.Name, kernelABI, abis[i], linuxWithABI[abis[i]], ErrKernel)
		}
		res.Policy.BestEffort = res.Policy.BestEffort || p.Spec.BestEffort
	}
	return res, nil
}

// linuxWithABI is the first Linux release of each Landlock ABI.
var linuxWithABI = map[int]string{1: "5.13", 2: "5.19", 3: "6.2", 4: "6.7", 5: "6.10", 6: "6.12", 7: "6.15"}

// rules turns profile rules into a ruleset for a process that runs binary,
// adding what it cannot run without: the binary and what loads it, and
// what the helper needs whenever it starts a listed binary: itself, its
// policy, and the originals (kept copies) of the listed regular files
// that the ruleset lets execute where they are. Nothing else of
// landlock.Dir: an original the ruleset does not let execute must stay
// out of reach, or a binary listed by another profile would lift the
// ruleset's denial.
func (r *root) rules(profile v1alpha1.AccessRules, binary string, originals map[string]string) (landlock.Ruleset, error) {
	loadable, err := r.loadable(binary)
	if err != nil {
		return landlock.Ruleset{}, err
	}
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
	var canon [4][]string // readOnly, readWrite, readExec, readWriteExec
	for i, paths := range [][]string{profile.ReadOnly, profile.ReadWrite, profile.ReadExec, profile.ReadWriteExec} {
		for _, p := range paths {
			c, err := r.canonical(p)
			if err != nil {
				return landlock.Ruleset{}, fmt.Errorf("resolving %s in the image: %w", p, err)
			}
			canon[i] = append(canon[i], c)
		}
	}
	executable := slices.Concat(loadable, canon[2], canon[3])
	runnable := append([]string{landlock.HelperPath}, loadable...)
	for _, file := range slices.Sorted(maps.Keys(originals)) {
		if slices.ContainsFunc(executable, func(p string) bool { return beneath(file, p) }) {
			runnable = append(runnable, originals[file])
		}
	}
	for _, rule := range []landlock.Rule{
		{Access: landlock.ReadOnly, Paths: append([]string{landlock.PolicyPath}, canon[0]...)},
		{Access: landlock.ReadWrite, Paths: canon[1]},
		{Access: landlock.ReadExec, Paths: append(runnable, canon[2]...)},
		{Access: landlock.ReadWriteExec, Paths: canon[3]},
	} {
		if rule.Paths = uniq(rule.Paths); len(rule.Paths) > 0 {
			rs.Rules = append(rs.Rules, rule)
		}
	}
	return rs, nil
}

// uniq drops repeated paths, keeping the first of each: applets of one
// multi-call binary all resolve to it, and the helper opens every path
// of a rule at every start.
func uniq(paths []string) []string {
	seen := make(map[string]bool, len(paths))
	return slices.DeleteFunc(paths, func(p string) bool {
		if seen[p] {
			return true
		}
		seen[p] = true
		return false
	})
}

// beneath reports whether a rule on dir covers file: Landlock grants a
// rule's access to the file or directory it names and to everything
// below it.
func beneath(file, dir string) bool {
	return file == dir || dir == "/" || strings.HasPrefix(file, dir+"/")
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
