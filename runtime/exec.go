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
	"github.com/kubewarden/podlock/runtime/bundle"
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
	bundleDir, err := r.bundleOf(real, id)
	if err != nil {
		return nil, err
	}
	policy, err := landlock.ReadPolicy(filepath.Join(bundleDir, stateDirName, filepath.Base(landlock.PolicyPath)))
	if errors.Is(err, os.ErrNotExist) {
		return argv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("exec into container %s: %w", id, err)
	}
	if !policy.Wraps() {
		return argv, nil
	}
	if file, ok := r.args.VerbFlag("process", "p"); ok {
		if err := wrapProcessFile(file); err != nil {
			return nil, fmt.Errorf("exec into confined container %s: %w", id, err)
		}
		return argv, nil
	}
	if len(pos) < 2 {
		return argv, nil
	}
	cmd := append([]string{landlock.HelperPath}, pos[1:]...)
	return ParseArgs(r.args.WithExecCommand(cmd)).WithVerbFlag("--no-new-privs"), nil
}

// wrapProcessFile rewrites the process of `runc exec --process FILE`, which
// runc reads instead of config.json's process.
func wrapProcessFile(file string) error {
	return bundle.EditProcessFile(file, func(p bundle.ProcessEditor) error {
		p.SetNoNewPrivileges()
		return p.PrependArgs(landlock.HelperPath)
	})
}

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
