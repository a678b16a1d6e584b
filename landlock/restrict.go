package landlock

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	golandlock "github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// ErrUnsupported means the kernel cannot enforce what the policy asks for.
var ErrUnsupported = errors.New("landlock not supported")

// KernelABI returns the Landlock ABI of the running kernel, or 0 when
// Landlock is not available (not built in, not enabled at boot, or blocked by
// a seccomp filter).
func KernelABI() int {
	abi, err := ll.LandlockGetABIVersion()
	if err != nil {
		return 0
	}
	return abi
}

// RestrictThread confines the calling thread with each ruleset in turn,
// each in a Landlock layer of its own; every layer holds, so none can lift
// what another denies. It is for a program about to execute another, as
// the helper is: it locks the calling goroutine to its thread for good,
// so that the execve that follows, from that goroutine, starts the
// program confined (the kernel keeps the restriction across execve), and
// so do the processes the goroutine starts. Other threads stay as they
// were: nothing may run on the program's behalf there. Restricting one
// thread, rather than every thread of the Go runtime as go-landlock's
// Restrict does with one signal and one wake-up per thread, spares the
// helper that cost at every confined start, for threads that its execve
// ends anyway.
//
// It never fails open: unless bestEffort is set, a kernel older than abi
// is an error, and so is a Landlock call that the container's own seccomp
// filter refuses. It stops at the first failure: the caller must then not
// run the program. It returns the rule paths it left out because they
// lead through a symlink out of their directory (see pathWalk): they grant
// nothing, and the caller should say so.
func (rs Rulesets) RestrictThread(abi int, bestEffort bool) (leftOut []error, err error) {
	for i := range rs {
		more, err := rs[i].restrictThread(abi, bestEffort)
		if err != nil && len(rs) > 1 {
			return nil, fmt.Errorf("ruleset %d of %d: %w", i+1, len(rs), err)
		}
		if err != nil {
			return nil, err
		}
		leftOut = append(leftOut, more...)
	}
	return leftOut, nil
}

func (r *Ruleset) restrictThread(abi int, bestEffort bool) (leftOut []error, err error) {
	// Best effort enforces what an older kernel supports, but a kernel
	// without Landlock supports nothing, and nothing is not confinement.
	if have := KernelABI(); have < abi && !bestEffort || have == 0 {
		return nil, fmt.Errorf("kernel Landlock ABI is %d, the policy needs %d: %w", have, abi, ErrUnsupported)
	}
	if abi < r.ABI() || abi > MaxABI {
		return nil, fmt.Errorf("policy asks for Landlock ABI %d, its rules need %d to %d: %w", abi, r.ABI(), MaxABI, ErrUnsupported)
	}
	cfg, err := r.config()
	if err != nil {
		return nil, err
	}
	if bestEffort {
		cfg = cfg.BestEffort()
	}
	if KernelABI() >= 7 {
		// Audit the confined program's denials, not only the helper's
		// (the default stops logging at execve). Logging changes no
		// access decision, so older kernels simply go without.
		cfg = cfg.EnableLoggingForSubprocesses()
	}
	rules, opened, leftOut, err := r.pathRules()
	defer func() {
		for _, fd := range opened {
			unix.Close(fd)
		}
	}()
	if err != nil {
		return nil, err
	}
	if r.Network != nil {
		for _, p := range r.Network.BindTCP {
			rules = append(rules, golandlock.BindTCP(p))
		}
		for _, p := range r.Network.ConnectTCP {
			rules = append(rules, golandlock.ConnectTCP(p))
		}
	}
	if err := enforceOnThread(cfg, rules); err != nil {
		return nil, fmt.Errorf("applying Landlock ruleset: %w", err)
	}
	return leftOut, nil
}

// enforceOnThread builds the ruleset as go-landlock's Restrict does (its
// checks and best-effort downgrade included) and enforces it on the
// calling thread, as go-landlock documents for a program that executes
// another right after.
func enforceOnThread(cfg golandlock.Config, rules []golandlock.Rule) error {
	fd, flags, err := cfg.NewRulesetFD(rules...)
	if err != nil {
		return err
	}
	if fd < 0 {
		return nil // best effort, and nothing this kernel can enforce
	}
	defer unix.Close(fd)
	// Never unlocked: the goroutine must not move to a thread without
	// the restriction, and this thread must not be given to another
	// goroutine.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if err := ll.LandlockRestrictSelf(fd, flags); err != nil {
		return fmt.Errorf("landlock_restrict_self: %w", err)
	}
	return nil
}

// pathRules opens every rule path and grants its access on exactly the
// file opened. go-landlock takes paths, not file descriptors: each rule
// names /proc/self/fd/N, a magic link to the open file, which go-landlock
// opens again; the files must stay open until the ruleset is built.
func (r *Ruleset) pathRules() (rules []golandlock.Rule, opened []int, leftOut []error, err error) {
	var walk pathWalk
	defer walk.close()
	for _, rule := range r.Rules {
		for _, p := range rule.Paths {
			fd, mode, err := walk.open(p)
			switch {
			case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
				// A path that does not exist grants nothing, which is
				// the safe direction: skip it rather than fail the
				// container.
				continue
			case errors.Is(err, errSymlinkOut):
				leftOut = append(leftOut, fmt.Errorf("rule path %s left out: %w", p, err))
				continue
			case err != nil:
				return nil, opened, nil, fmt.Errorf("opening rule path %s: %w", p, err)
			}
			opened = append(opened, fd)
			access := rule.Access
			if mode&unix.S_IFMT != unix.S_IFDIR {
				access &= fileAccess
			}
			rules = append(rules, golandlock.PathAccess(golandlock.AccessFSSet(access), "/proc/self/fd/"+strconv.Itoa(fd)))
		}
	}
	return rules, opened, leftOut, nil
}

// errSymlinkOut means a rule path leads through a symlink that does not
// resolve beneath its own directory.
var errSymlinkOut = errors.New("it goes through a symlink that leads out of its directory")

// pathWalk opens rule paths (O_PATH), one component at a time, following
// only symlinks that resolve beneath their own directory. The runtime
// wrote rule paths with the image's symlinks resolved (see
// landlock/compile), so a symlink met here that points elsewhere was put
// there since, by whoever may write that directory, and following it
// would grant the rule on anything, / included. Symlinks that stay
// beneath their directory can only name what that directory already
// holds: they are how Kubernetes builds configMap, secret and projected
// volumes (key -> ..data/key), and what /proc/self is.
//
// A profile lists many paths in few directories, often directories the
// container lacks (a volume not mounted, a cache not created yet), and
// the helper walks them at every start. So the walk keeps each directory
// it went through open, keyed by the components that led there, and
// remembers each that failed: a path then costs the lookup of the
// components no earlier path walked. Each component is still resolved
// from the directory the same components led to, so what a path opens
// is what a walk of its own would open; a directory created while the
// walk runs may be missed, which grants less.
type pathWalk struct {
	dirs   map[string]int
	failed map[string]error
}

// open opens p and returns its descriptor and file mode.
func (w *pathWalk) open(p string) (int, uint32, error) {
	if w.dirs == nil {
		root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, 0, err
		}
		w.dirs = map[string]int{"": root}
		w.failed = map[string]error{}
	}
	names := strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
	if len(names) == 0 {
		// "/" itself, of which the walk keeps its own descriptor.
		var st unix.Stat_t
		if err := unix.Fstat(w.dirs[""], &st); err != nil {
			return -1, 0, err
		}
		fd, err := unix.FcntlInt(uintptr(w.dirs[""]), unix.F_DUPFD_CLOEXEC, 0)
		return fd, st.Mode, err
	}
	dir, key := w.dirs[""], ""
	for _, name := range names[:len(names)-1] {
		key += "/" + name
		if err := w.failed[key]; err != nil {
			return -1, 0, err
		}
		fd, ok := w.dirs[key]
		if !ok {
			var err error
			if fd, _, err = openComponent(dir, name); err != nil {
				w.failed[key] = err
				return -1, 0, err
			}
			w.dirs[key] = fd
		}
		dir = fd
	}
	return openComponent(dir, names[len(names)-1])
}

// close releases the directories the walk kept open.
func (w *pathWalk) close() {
	for _, fd := range w.dirs {
		unix.Close(fd)
	}
}

// openComponent opens name in dir, following it only if it is a symlink
// that resolves beneath dir, and returns its descriptor and file mode.
func openComponent(dir int, name string) (int, uint32, error) {
	fd, err := unix.Openat2(dir, name, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, 0, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return fd, st.Mode, nil
	}
	unix.Close(fd)
	fd, err = unix.Openat2(dir, name, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ELOOP) {
		return -1, 0, errSymlinkOut
	}
	if err != nil {
		return -1, 0, err
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	return fd, st.Mode, nil
}

// config restricts the filesystem rights of ABI 3 whatever the kernel:
// a profile keeps meaning the same on newer kernels (ABI 5, for example,
// would start denying ioctl on devices). TCP and IPC scopes are restricted
// only when the ruleset asks for them.
func (r *Ruleset) config() (golandlock.Config, error) {
	cfg := golandlock.Config{HandledAccessFS: golandlock.V3.HandledAccessFS}
	if r.Network != nil {
		cfg.HandledAccessNet = golandlock.V4.HandledAccessNet
	}
	for _, s := range r.Scoped {
		switch s {
		case ScopeAbstractUnixSocket:
			cfg.Scoped |= ll.ScopeAbstractUnixSocket
		case ScopeSignal:
			cfg.Scoped |= ll.ScopeSignal
		default:
			return golandlock.Config{}, fmt.Errorf("unknown Landlock scope %q", s)
		}
	}
	return cfg, nil
}
