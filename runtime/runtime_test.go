package runtime

import (
	"testing"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/runtime/execwrap"
)

// The front wraps exec sessions without linking the landlock packages: its
// copy of the helper's path must be the one podlock mounts.
func TestExecHelperPath(t *testing.T) {
	if execwrap.HelperPath != landlock.HelperPath {
		t.Errorf("execwrap.HelperPath = %q, landlock.HelperPath = %q", execwrap.HelperPath, landlock.HelperPath)
	}
}
