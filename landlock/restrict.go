package landlock

import (
	"errors"
	"fmt"
	"os"

	golandlock "github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
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

// Restrict confines the calling process, and every process it later
// starts, to the ruleset. It never fails open: unless bestEffort is set, a
// kernel older than abi is an error, and so is a Landlock call that the
// container's own seccomp filter refuses.
func (r *Ruleset) Restrict(abi int, bestEffort bool) error {
	// Best effort enforces what an older kernel supports, but a kernel
	// without Landlock supports nothing, and nothing is not confinement.
	if have := KernelABI(); have < abi && !bestEffort || have == 0 {
		return fmt.Errorf("kernel Landlock ABI is %d, the policy needs %d: %w", have, abi, ErrUnsupported)
	}
	if abi < r.ABI() || abi > MaxABI {
		return fmt.Errorf("policy asks for Landlock ABI %d, its rules need %d to %d: %w", abi, r.ABI(), MaxABI, ErrUnsupported)
	}
	cfg, err := r.config()
	if err != nil {
		return err
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
	var rules []golandlock.Rule
	for _, rule := range r.Rules {
		for _, p := range rule.Paths {
			access := rule.Access
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				access &= fileAccess
			}
			// A path that does not exist grants nothing, which is the
			// safe direction: skip it rather than fail the container.
			rules = append(rules, golandlock.PathAccess(golandlock.AccessFSSet(access), p).IgnoreIfMissing())
		}
	}
	if r.Network != nil {
		for _, p := range r.Network.BindTCP {
			rules = append(rules, golandlock.BindTCP(p))
		}
		for _, p := range r.Network.ConnectTCP {
			rules = append(rules, golandlock.ConnectTCP(p))
		}
	}
	if err := cfg.Restrict(rules...); err != nil {
		return fmt.Errorf("applying Landlock ruleset: %w", err)
	}
	return nil
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
