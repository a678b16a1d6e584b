package runtime

import (
	"errors"
	"fmt"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/runtime/bundle"
)

// checkRestore refuses `restore` of a container that asks for a podlock
// profile, identified as create identifies it. CRIU rebuilds the
// checkpointed processes from their images and resumes them where they
// stopped, past the helper: it restores their seccomp filters but not
// their Landlock domains (the kernel has no call that reads a domain's
// rules back, and CRIU's LSM support is AppArmor's and SELinux's labels),
// and the restored bundle has none of what podlock set up at create (the
// policy that exec sessions are confined by, the helper's mounts). The
// restored container would run unconfined. `checkpoint` is passed
// through: it only reads the running container, which stays as confined
// as it was.
func (r *Runtime) checkRestore() error {
	b, err := bundle.Open(r.bundleDir())
	if err != nil {
		return err
	}
	id, err := identify(b.Annotations())
	if errors.Is(err, errNotConfined) {
		return nil
	}
	if err != nil {
		return err
	}
	var asks string
	switch {
	case id.Profile != "":
		asks = fmt.Sprintf("LandlockProfile %q", id.Profile)
	case id.NamespaceProfile != "":
		asks = fmt.Sprintf("LandlockProfile %q (annotation %s)", id.NamespaceProfile, v1alpha1.NamespaceProfileKey)
	default:
		asks = fmt.Sprintf("SeccompProfile %q (annotation %s)", id.Seccomp, v1alpha1.SeccompKey)
	}
	return fmt.Errorf("%s asks for %s, and podlock-runtime does not restore confined containers from a checkpoint: "+
		"CRIU restores neither Landlock domains nor what podlock sets up when it creates a container, so the restored processes would run unconfined; "+
		"the container is not restored: create it anew instead", id, asks)
}
