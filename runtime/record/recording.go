// Package record is podlock's learning mode: it observes a container
// through runc's seccomp user notifications (linux.seccomp.listenerPath)
// and writes the LandlockProfile and SeccompProfile that would let the
// container do again what it did.
package record

import (
	"maps"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/helpercalls"
)

// Access is what a binary was seen doing to a path.
type Access uint8

// Accesses, combined with |.
const (
	Read Access = 1 << iota
	Write
	Exec
)

// Recording collects what the processes of one container did. It is safe
// for concurrent use: each seccomp listener of the container (the
// entrypoint's and each exec session's) adds to it.
//
// What it holds is chosen by the container, which can make up paths by
// the million: a recording holds at most maxSize bytes of entries (paths,
// ports, system calls, binaries), and counts what is new beyond that as
// dropped, for the recorded profile to say it is incomplete.
type Recording struct {
	mu       sync.Mutex
	news     int // things seen for the first time
	syscalls map[string]bool
	binaries map[string]*binary
	size     int // estimated bytes held by the entries
	maxSize  int
	dropped  int
	// full is called once, when the first entry is dropped.
	full func()
	// counted holds the rules whose evidence counted this recording's
	// run already: a recording is saved many times.
	counted map[string]bool
}

// MaxSize bounds the memory of a recording: 64 MiB hold about half a
// million paths of typical length, more than any program uses, and bound
// what a hostile container can make the agent keep.
const MaxSize = 64 << 20

// entryCost estimates the memory of an entry besides its name: its slot in
// a Go map.
const entryCost = 64

// binary is what the processes started from one binary did, themselves
// and through the processes they started: Landlock domains stack along
// exec, so a binary's rules must allow everything below it.
type binary struct {
	paths   map[string]Access
	connect map[uint16]bool
	bind    map[uint16]bool
}

// NewRecording returns an empty recording that holds at most MaxSize.
func NewRecording() *Recording { return newRecording(MaxSize, nil) }

func newRecording(maxSize int, full func()) *Recording {
	return &Recording{syscalls: map[string]bool{}, binaries: map[string]*binary{}, maxSize: maxSize, full: full}
}

// admit accounts for a new entry named name, or counts it as dropped when
// the recording is full. r.mu must be held.
func (r *Recording) admit(name string) bool {
	cost := len(name) + entryCost
	if r.size+cost > r.maxSize {
		r.dropped++
		if r.dropped == 1 && r.full != nil {
			r.full()
		}
		return false
	}
	r.size += cost
	r.news++
	return true
}

// Dropped counts the entries the recording left out because it was full.
func (r *Recording) Dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// binary returns what exe did, or nil when it is new and the recording is
// full.
func (r *Recording) binary(exe string) *binary {
	b := r.binaries[exe]
	if b == nil {
		if !r.admit(exe) {
			return nil
		}
		b = newBinary()
		r.binaries[exe] = b
	}
	return b
}

// Syscall records a system call by name.
func (r *Recording) Syscall(name string) {
	r.mu.Lock()
	if !r.syscalls[name] && r.admit(name) {
		r.syscalls[name] = true
	}
	r.mu.Unlock()
}

// syscallNames returns the system calls seen.
func (r *Recording) syscallNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.syscalls))
}

// countOnce reports whether the rule named key is counted for this
// recording for the first time. Its memory is bounded by the rules the
// recording's own entries can produce.
func (r *Recording) countOnce(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counted[key] {
		return false
	}
	if r.counted == nil {
		r.counted = map[string]bool{}
	}
	r.counted[key] = true
	return true
}

// changes counts what the recording has seen for the first time, so that
// a recording is saved only when it changed.
func (r *Recording) changes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.news
}

// Path records an access to an absolute, clean path by a process whose
// ancestry ran the binaries of chain.
func (r *Recording) Path(chain []string, p string, a Access) {
	p = generalise(p)
	a |= Read // every rule of a profile grants reading
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, exe := range chain {
		b := r.binary(exe)
		if b == nil {
			continue
		}
		seen, ok := b.paths[p]
		switch {
		case ok && seen|a != seen:
			b.paths[p] |= a
			r.news++
		case !ok && r.admit(p):
			b.paths[p] = a
		}
	}
}

// Connect records a connect(2) to a TCP or UDP port.
func (r *Recording) Connect(chain []string, port uint16) {
	r.port(chain, port, func(b *binary) map[uint16]bool { return b.connect })
}

// Bind records a bind(2) to a TCP or UDP port.
func (r *Recording) Bind(chain []string, port uint16) {
	r.port(chain, port, func(b *binary) map[uint16]bool { return b.bind })
}

func (r *Recording) port(chain []string, port uint16, set func(*binary) map[uint16]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, exe := range chain {
		b := r.binary(exe)
		if b == nil {
			continue
		}
		if ports := set(b); !ports[port] && r.admit("") {
			ports[port] = true
		}
	}
}

// generalise replaces the paths whose names change from run to run by the
// directory that holds them all: a process's own /proc entries, whose
// names are process IDs, and terminals.
func generalise(p string) string {
	for _, dir := range []string{"/proc", "/dev/pts"} {
		rest, ok := strings.CutPrefix(p, dir+"/")
		if !ok {
			continue
		}
		first, _, _ := strings.Cut(rest, "/")
		if dir == "/dev/pts" || first == "self" || first == "thread-self" || isNumber(first) {
			return dir
		}
	}
	return p
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// CollapseAt is how many entries of one directory a binary must have used
// for its rules to name the directory instead: a program that reads four
// files of a directory is likely to read a fifth on its next run.
const CollapseAt = 4

// baselineSyscalls are allowed whether or not they were seen: write(2)
// cannot be observed (runc refuses to have it notified), and the others
// happen at times a recording cannot count on, such as the return from a
// signal handler or the end of a thread.
var baselineSyscalls = []string{"execve", "exit", "exit_group", "restart_syscall", "rt_sigreturn", "write"}

// BinaryRules returns the Landlock rules of each binary seen, added to
// those of earlier recordings, or nil when there are none.
func (r *Recording) BinaryRules(earlier v1alpha1.BinaryRules) v1alpha1.BinaryRules {
	r.mu.Lock()
	defer r.mu.Unlock()
	all := map[string]*binary{}
	for exe, rules := range earlier {
		all[exe] = binaryOf(rules)
	}
	for exe, b := range r.binaries {
		if all[exe] == nil {
			all[exe] = newBinary()
		}
		all[exe].add(b)
	}
	if len(all) == 0 {
		return nil
	}
	rules := v1alpha1.BinaryRules{}
	for exe, b := range all {
		rules[exe] = b.rules()
	}
	return rules
}

func newBinary() *binary {
	return &binary{paths: map[string]Access{}, connect: map[uint16]bool{}, bind: map[uint16]bool{}}
}

// binaryOf reads rules back into what a recording saw.
func binaryOf(rules v1alpha1.AccessRules) *binary {
	b := newBinary()
	for _, list := range []struct {
		paths  []string
		access Access
	}{
		{rules.ReadOnly, Read},
		{rules.ReadWrite, Read | Write},
		{rules.ReadExec, Read | Exec},
		{rules.ReadWriteExec, Read | Write | Exec},
	} {
		for _, p := range list.paths {
			b.paths[p] |= list.access
		}
	}
	if rules.Network != nil {
		for _, p := range rules.Network.BindTCP {
			b.bind[uint16(p)] = true
		}
		for _, p := range rules.Network.ConnectTCP {
			b.connect[uint16(p)] = true
		}
	}
	return b
}

func (b *binary) add(other *binary) {
	for p, a := range other.paths {
		b.paths[p] |= a
	}
	maps.Copy(b.bind, other.bind)
	maps.Copy(b.connect, other.connect)
}

func (b *binary) rules() v1alpha1.AccessRules {
	var rules v1alpha1.AccessRules
	for p, a := range collapse(b.paths) {
		switch {
		case a&Write != 0 && a&Exec != 0:
			rules.ReadWriteExec = append(rules.ReadWriteExec, p)
		case a&Write != 0:
			rules.ReadWrite = append(rules.ReadWrite, p)
		case a&Exec != 0:
			rules.ReadExec = append(rules.ReadExec, p)
		default:
			rules.ReadOnly = append(rules.ReadOnly, p)
		}
	}
	for _, list := range []*[]string{&rules.ReadOnly, &rules.ReadWrite, &rules.ReadExec, &rules.ReadWriteExec} {
		slices.Sort(*list)
	}
	// Every recorded binary gets network rules, empty when it made no
	// connection: what a recording did not see is what the profile
	// denies.
	rules.Network = &v1alpha1.NetworkRules{BindTCP: ports(b.bind), ConnectTCP: ports(b.connect)}
	return rules
}

func ports(set map[uint16]bool) []int32 {
	var list []int32
	for _, p := range slices.Sorted(maps.Keys(set)) {
		list = append(list, int32(p))
	}
	return list
}

// collapse replaces the entries of every directory (other than /) that has
// CollapseAt entries or more by the directory, with the union of their
// accesses, and then drops every entry that a directory above it already
// grants.
func collapse(paths map[string]Access) map[string]Access {
	children := map[string][]string{}
	for p := range paths {
		if parent := path.Dir(p); parent != "/" && p != "/" {
			children[parent] = append(children[parent], p)
		}
	}
	out := maps.Clone(paths)
	for dir, entries := range children {
		if len(entries) < CollapseAt {
			continue
		}
		for _, p := range entries {
			out[dir] |= paths[p]
			delete(out, p)
		}
	}
	for p, a := range out {
		for dir := path.Dir(p); ; dir = path.Dir(dir) {
			if above, ok := out[dir]; ok && dir != p && above&a == a {
				delete(out, p)
				break
			}
			if dir == "/" {
				break
			}
		}
	}
	return out
}

// SeccompSpec returns a SeccompProfile that allows the system calls seen,
// those an earlier recording (nil for none) allows, and those of
// baselineSyscalls, and fails every other with EPERM. With helper, for a
// container with listed binaries, the rules of the calls podlock-helper
// makes to start them follow, with their arguments.
//
// An earlier recording's rules for the helper are left out of the calls
// seen: they are written again as rules of their own, and folding their
// argument conditions into an unconditional allow would widen them.
func (r *Recording) SeccompSpec(earlier *v1alpha1.SeccompProfileSpec, helper bool) v1alpha1.SeccompProfileSpec {
	r.mu.Lock()
	names := slices.Collect(maps.Keys(r.syscalls))
	r.mu.Unlock()
	helperRules := helpercalls.Rules()
	if earlier != nil {
		for _, rule := range earlier.Syscalls {
			// The recorder writes rules with arguments for the helper
			// only.
			if rule.Action != v1alpha1.ActionAllow || len(rule.Args) > 0 ||
				slices.ContainsFunc(helperRules, func(h v1alpha1.SyscallRule) bool { return reflect.DeepEqual(h, rule) }) {
				continue
			}
			names = append(names, rule.Names...)
		}
	}
	names = append(names, baselineSyscalls...)
	slices.Sort(names)
	names = slices.Compact(names)
	spec := v1alpha1.SeccompProfileSpec{
		DefaultAction: v1alpha1.ActionErrno,
		Syscalls:      []v1alpha1.SyscallRule{{Names: names, Action: v1alpha1.ActionAllow}},
	}
	if helper {
		spec.Syscalls = append(spec.Syscalls, helperRules...)
	}
	return spec
}
