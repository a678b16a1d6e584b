package audit

import (
	"encoding/json"
	"os"
	"path"
	"strconv"

	"github.com/kubewarden/podlock/landlock"
)

// ProcOwner reads the owner of a process from the policy mounted in its
// container, through /proc/PID/root: a process of a container podlock does
// not confine has no policy there. procRoot is /proc, or the host's /proc
// as mounted in a container.
func ProcOwner(procRoot string) OwnerOf {
	return func(pid int) (landlock.Owner, bool) {
		data, err := os.ReadFile(path.Join(procRoot, strconv.Itoa(pid), "root", landlock.PolicyPath))
		if err != nil {
			return landlock.Owner{}, false
		}
		var p struct {
			Owner landlock.Owner `json:"owner"`
		}
		if json.Unmarshal(data, &p) != nil || p.Owner.Container == "" {
			return landlock.Owner{}, false
		}
		return p.Owner, true
	}
}
