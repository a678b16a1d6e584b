// Package execwrap rewrites the command line of an exec into a container
// that podlock confines as a whole, so that its process starts through the
// helper like the container's entrypoint. podlock-runtime's front does it
// for every such exec without another process, so the package links only
// the standard library's encoding/json and podlock's runcargs and
// atomicfile.
package execwrap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/kubewarden/podlock/internal/atomicfile"
	"github.com/kubewarden/podlock/runtime/runcargs"
)

// HelperPath is where the helper is mounted in a confined container
// (landlock.HelperPath; a test in package runtime keeps them equal).
const HelperPath = "/.podlock/helper"

// Argv returns the command line of `exec` with the process going through
// the helper, with no_new_privs (which Landlock needs): runc's --process
// file (how containerd runs kubectl exec; runc never reads config.json's
// process then) is rewritten in place, a command given on the command
// line is prefixed. Without a command it returns argv unchanged, for the
// runtime to report the usage error.
func Argv(args runcargs.Args) ([]string, error) {
	if file, ok := args.VerbFlag("process", "p"); ok {
		if err := EditProcessFile(file); err != nil {
			return nil, err
		}
		return args.Argv(), nil
	}
	pos := args.Positional()
	if len(pos) < 2 {
		return args.Argv(), nil
	}
	cmd := append([]string{HelperPath}, pos[1:]...)
	return runcargs.Parse(args.WithExecCommand(cmd)).WithVerbFlag("--no-new-privs"), nil
}

// EditProcessFile puts the helper in front of the args of an OCI process
// file and sets its noNewPrivileges, keeping every other field as it was
// (numbers included) and replacing the file atomically.
func EditProcessFile(file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("reading process file: %w", err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("reading process file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var p map[string]any
	if err := dec.Decode(&p); err != nil || p == nil {
		if err == nil {
			err = errors.New("not a JSON object")
		}
		return fmt.Errorf("parsing process file %s: %w", file, err)
	}
	old, _ := p["args"].([]any)
	if len(old) == 0 {
		return fmt.Errorf("process file %s: process has no args", file)
	}
	p["args"] = append([]any{HelperPath}, old...)
	p["noNewPrivileges"] = true
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding process file %s: %w", file, err)
	}
	// A process file lives as long as one exec: atomic, not flushed.
	return atomicfile.WriteVolatile(file, data, fi.Mode().Perm())
}
