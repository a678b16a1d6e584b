package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/runtime/execwrap"
	"github.com/kubewarden/podlock/runtime/front"
	"github.com/kubewarden/podlock/runtime/index/lookup"
)

// prepareExec returns the command line for an exec into a container. A
// container that podlock confines as a whole gets the process started
// through the helper, so that `kubectl exec` is confined like the
// entrypoint; any other exec is handed over unchanged.
func (r *Runtime) prepareExec(real string) ([]string, error) {
	argv := r.args.Argv()
	pos := r.args.Positional()
	if len(pos) == 0 {
		return argv, nil // let the runtime complain about the usage
	}
	id := pos[0]
	wraps, err := r.execWraps(real, id)
	if err != nil || !wraps {
		return argv, err
	}
	if argv, err = execwrap.Argv(r.args); err != nil {
		return nil, fmt.Errorf("exec into confined container %s: %w", id, err)
	}
	return argv, nil
}

// execWraps tells whether an exec into container id must start its
// process through the helper. The container index answers without another
// process: podlock wrote an entry at create for every container it
// confines, under the real runtime and root. A container without one, and
// without an entry under another spelling of the root, is not podlock's
// (or does not exist, which the runtime reports in its own words). Only
// an entry elsewhere leaves the question to the container's bundle.
func (r *Runtime) execWraps(real, id string) (bool, error) {
	root, _ := r.args.Global("root")
	found, err := lookup.Find(r.config.IndexDir, id, lookup.Key(real, root))
	switch {
	case err != nil:
		return false, fmt.Errorf("exec into container %s: %w; fix indexDir in %s or PODLOCK_INDEX_DIR", id, err, DefaultConfigFile)
	case found.Indexed:
		return found.ExecHelper, nil
	case !found.Elsewhere:
		return false, nil
	}
	bundleDir, err := r.bundleOf(real, id)
	if err != nil {
		return false, err
	}
	policy, err := landlock.ReadPolicy(filepath.Join(bundleDir, stateDirName, filepath.Base(landlock.PolicyPath)))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("exec into container %s: %w", id, err)
	}
	return policy.Wraps(), nil
}

// delete runs the real runtime's delete and, once the container is gone,
// removes its entry from the container index, so that a later container
// of the same ID is not taken for this one, as the front does for a
// container it finds in the index. The front hands over the deletes it
// cannot decide: an index it cannot read, an entry under another key.
func (r *Runtime) delete() error {
	if len(r.args.Positional()) == 0 {
		return execRuntime(r.real, r.args.Argv())
	}
	if code := front.DeleteAndForget(r.args, r.real, r.config.IndexDir); code != 0 {
		return exitStatus(code)
	}
	return nil
}

// exitStatus is the real runtime's failure, whose exit status podlock
// returns as its own; the runtime has reported it already.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// bundleOf asks the real runtime where the container's bundle is: runc and
// crun both report it in `state`, and it is the one place that says
// whether podlock confined the container.
func (r *Runtime) bundleOf(real, id string) (string, error) {
	var args []string
	for _, flag := range []string{"root", "rootless", "systemd-cgroup", "cgroup-manager"} {
		switch v, ok := r.args.Global(flag); {
		case ok && v == "":
			args = append(args, "--"+flag)
		case ok:
			args = append(args, "--"+flag+"="+v)
		}
	}
	args = append(args, "state", id)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(real, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("exec into container %s: finding its bundle: %s state: %w: %s", id, real, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var state specs.State
	if err := json.Unmarshal(stdout.Bytes(), &state); err != nil || state.Bundle == "" {
		return "", fmt.Errorf("exec into container %s: %s state gave no bundle: %q", id, real, stdout.String())
	}
	return state.Bundle, nil
}
