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
	cfg, err := configFor(abi)
	if err != nil {
		return err
	}
	if bestEffort {
		cfg = cfg.BestEffort()
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
	if err := cfg.RestrictPaths(rules...); err != nil {
		return fmt.Errorf("applying Landlock ruleset: %w", err)
	}
	return nil
}

// configFor restricts every filesystem right of the given ABI, but nothing
// of later ABIs: a profile written for ABI 3 keeps meaning the same on newer
// kernels (ABI 5, for example, would start denying ioctl on devices).
func configFor(abi int) (golandlock.Config, error) {
	switch abi {
	case 3:
		return golandlock.V3, nil
	case 4:
		return golandlock.V4, nil
	case 5:
		return golandlock.V5, nil
	case 6:
		return golandlock.V6, nil
	case 7:
		return golandlock.V7, nil
	}
	return golandlock.Config{}, fmt.Errorf("Landlock ABI %d: %w", abi, ErrUnsupported)
}
