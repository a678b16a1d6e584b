// Package runtime is podlock-runtime: a runc-compatible OCI runtime that
// confines the containers that ask for a podlock profile and hands every
// command over to the real runtime (runc or crun).
package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/kubewarden/podlock/profiles"
	"github.com/kubewarden/podlock/runtime/runcargs"
)

// Runtime handles one invocation.
type Runtime struct {
	args runcargs.Args
	// real is the real runtime's path.
	real   string
	log    *slog.Logger
	config *Config
	source profiles.Source
	steps  steps
}

// steps times the phases of a confined create, which --debug logs for
// make bench (CreateSteps): where each millisecond goes.
type steps struct {
	last  time.Time
	attrs []any
}

func (s *steps) mark(name string) {
	now := time.Now()
	s.attrs = append(s.attrs, name+"Ms", float64(now.Sub(s.last).Microseconds())/1000)
	s.last = now
}

// Main runs podlock-runtime with the given command line and returns the
// exit code. On success it does not return: it executes the real runtime.
func Main(argv []string) int {
	args := runcargs.Parse(argv)
	if args.Verb() == podlockCommand {
		// podlock's help and version: `podlock-runtime podlock --help`.
		return runCLI(append([]string{argv[0]}, args.Argv()[args.VerbIndex()+1:]...))
	}
	if isPodlockCommand(args) {
		return runCLI(argv)
	}
	log := newLogger(args)
	err := run(args, log)
	var status exitStatus
	switch {
	case errors.As(err, &status):
		return int(status)
	case err != nil:
		log.Error(err.Error())
		return 1
	}
	return 0
}

func run(args runcargs.Args, log *slog.Logger) error {
	start := time.Now()
	cfg, err := LoadConfig()
	if err != nil {
		return err
	}
	real, err := cfg.RealRuntime()
	if err != nil {
		return err
	}
	argv := args.Argv()
	r := &Runtime{args: args, real: real, log: log, config: cfg, steps: steps{last: start}}
	if args.AsksHelp() {
		return execRuntime(real, argv)
	}
	switch args.Verb() {
	case "create", "run":
		if err := r.prepareCreate(context.Background()); err != nil {
			return err
		}
	case "exec":
		if argv, err = r.prepareExec(real); err != nil {
			return err
		}
	case "restore":
		if err := r.checkRestore(); err != nil {
			return err
		}
	case "delete":
		return r.delete()
	}
	return execRuntime(real, argv)
}

// execRuntime replaces this process with the real runtime: no process is
// left behind, and the runtime's exit status, signals and stdio are the
// caller's directly. argv[0] stays the name podlock-runtime was invoked
// by, which runc and crun print in their help and messages.
func execRuntime(real string, argv []string) error {
	err := syscall.Exec(real, argv, os.Environ())
	return fmt.Errorf("executing the real runtime %s: %w", real, err)
}

func jsonBytes(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", v, err)
	}
	return data, nil
}
