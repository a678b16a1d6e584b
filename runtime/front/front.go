// Package front is podlock-runtime, the binary containerd and CRI-O
// execute for every runc command of a confined runtime class. It finds the
// verb on the command line and hands the command over without parsing it:
// to the real runtime (runc or crun) for everything podlock has no
// business in, and to podlock-runtime-confine, installed next to it, for
// the commands that confine (create, run, restore) and podlock's own
// commands. An exec into a container confined as a whole it rewrites
// itself, so that the process starts through the helper.
//
// The front is on the path of every start, state, kill, delete and exec
// probe, so it links only what that decision needs: no YAML, regular
// expressions, CLI framework, libseccomp, TLS or Kubernetes client. Its
// start costs what the smallest Go program that executes runc costs.
//
// The delete of a container confined as a whole it runs itself too: it
// waits for the real runtime's delete and then removes the container's
// index entry.
//
// When the front cannot decide (a configuration file it does not read,
// an index it cannot read), it hands the command to
// podlock-runtime-confine, which reads everything and says what is wrong.
package front

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kubewarden/podlock/runtime/execwrap"
	"github.com/kubewarden/podlock/runtime/index/lookup"
	"github.com/kubewarden/podlock/runtime/realruntime"
	"github.com/kubewarden/podlock/runtime/runcargs"
)

// ConfineName is the binary of the commands that confine, next to the
// front.
const ConfineName = "podlock-runtime-confine"

// Name is the front's binary.
const Name = "podlock-runtime"

// PodlockCommands are the verbs that are podlock's own, not runc's: the
// node check, the recorder's agent, and "podlock" for podlock's help and
// version.
var PodlockCommands = []string{"check", "record-agent", "podlock"}

// Main runs the front and returns its exit status. Except for the delete
// of a container confined as a whole, it returns only on failure: on
// success this process has become the real runtime or
// podlock-runtime-confine.
func Main(argv []string) int {
	args := runcargs.Parse(argv)
	self, err := os.Executable()
	if err != nil {
		return fail(args, fmt.Errorf("locating %s: %w", Name, err))
	}
	// podlock-runtime-confine is installed next to the front.
	confine := filepath.Join(filepath.Dir(self), ConfineName)
	if !passThrough(args) {
		return fail(args, execv(confine, argv))
	}
	cfg, err := loadConfig()
	if err != nil {
		return fail(args, execv(confine, argv))
	}
	// As podlock-runtime-confine resolves it (the index is keyed by
	// its path): the configured runtime, or else the first runc in PATH
	// that is neither podlock binary.
	real, err := realruntime.Find(cfg.runtime, self, confine)
	if err != nil {
		return fail(args, execv(confine, argv))
	}
	switch needsConfine(args, cfg, real) {
	case confined:
		return fail(args, execv(confine, argv))
	case wrapExec:
		wrapped, err := execwrap.Argv(args)
		if err != nil {
			return fail(args, fmt.Errorf("exec into confined container %s: %w", args.Positional()[0], err))
		}
		return fail(args, execv(real, wrapped))
	case forgetAfterDelete:
		return DeleteAndForget(args, real, cfg.indexDir)
	}
	return fail(args, execv(real, argv))
}

// What a command needs of podlock.
type need int

const (
	// passed: nothing; the real runtime's alone.
	passed need = iota
	// confined: podlock-runtime-confine.
	confined
	// wrapExec: an exec whose process the front starts through the
	// helper.
	wrapExec
	// forgetAfterDelete: a delete after which the container's index
	// entry goes.
	forgetAfterDelete
)

// passThrough tells the commands that may go straight to the real
// runtime, once the index has been asked about exec and delete, from
// those that always go to podlock-runtime-confine.
func passThrough(args runcargs.Args) bool {
	verb := args.Verb()
	for _, c := range PodlockCommands {
		if verb == c {
			return false
		}
	}
	if args.AsksHelp() {
		return true
	}
	if verb == "restore" {
		return false
	}
	return true
}

// needsConfine tells whether a command concerns a container podlock
// confines. A create or run does when its config.json asks for a profile
// (or cannot be read: podlock-runtime-confine says why). An exec or
// delete does when the container index has the container: an exec into
// one confined as a whole starts its process through the helper, which
// the front arranges itself, and the delete of such a container removes
// its entry, so that a later container of the same ID is not taken for it
// (other entries change no exec; podlock-node collects them).
// A container without an entry under this runtime and root is not
// podlock's; one with an entry under another key only, or an index that
// cannot be read, is left to podlock-runtime-confine.
func needsConfine(args runcargs.Args, cfg *config, real string) need {
	verb := args.Verb()
	switch verb {
	case "create", "run":
		if asksConfinement(args) {
			return confined
		}
		return passed
	case "exec", "delete":
	default:
		return passed
	}
	pos := args.Positional()
	if len(pos) == 0 {
		return passed // the runtime's usage error
	}
	root, _ := args.Global("root")
	found, err := lookup.Find(cfg.indexDir, pos[0], lookup.Key(real, root))
	switch {
	case err != nil || found.Elsewhere:
		return confined
	case verb == "delete" && found.ExecHelper:
		return forgetAfterDelete
	case verb == "exec" && found.ExecHelper:
		return wrapExec
	}
	return passed
}

// DeleteAndForget runs the real runtime's delete and, once it succeeded,
// removes the container's index entry: a delete that fails (a running
// container without --force) leaves the container and its entry, so that
// its next exec still starts through the helper. The front waits for the
// runtime rather than becoming it, which costs a fork instead of the
// start of podlock-runtime-confine; the runtime dies with the front, as it
// would if a caller's timeout killed it directly. The exit status is the
// runtime's.
func DeleteAndForget(args runcargs.Args, real, indexDir string) int {
	id := args.Positional()[0]
	if err := lookup.ValidateID(id); err != nil {
		return fail(args, err)
	}
	pid, err := syscall.ForkExec(real, args.Argv(), &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		return fail(args, fmt.Errorf("executing %s: %w", real, err))
	}
	var status syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &status, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	switch {
	case err != nil:
		return fail(args, fmt.Errorf("delete %s: waiting for %s: %w", id, real, err))
	case status.Signaled():
		return 128 + int(status.Signal())
	case status.ExitStatus() != 0:
		return status.ExitStatus()
	}
	root, _ := args.Global("root")
	if err := lookup.Remove(indexDir, id, lookup.Key(real, root)); err != nil {
		return fail(args, fmt.Errorf("delete %s: %w", id, err))
	}
	return 0
}

// execv replaces this process with file, argv unchanged: argv[0] stays
// the name podlock-runtime was invoked by, which runc and crun print in
// their help and messages.
func execv(file string, argv []string) error {
	err := syscall.Exec(file, argv, os.Environ())
	if file == "" {
		return err
	}
	if os.IsNotExist(err) && filepath.Base(file) == ConfineName {
		return fmt.Errorf("%s is missing: install it next to %s (podlock-node setup does): %w", file, Name, err)
	}
	return fmt.Errorf("executing %s: %w", file, err)
}

// fail reports err the way runc does, so that containerd shows it: a JSON
// (or text) line of level "error" appended to the --log file, and a line
// on stderr. It returns the exit code.
func fail(args runcargs.Args, err error) int {
	msg := err.Error()
	if file, ok := args.Global("log"); ok && file != "" {
		if f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			now := time.Now().Format(time.RFC3339Nano)
			var line []byte
			if format, _ := args.Global("log-format"); format == "json" {
				line, _ = json.Marshal(struct {
					Time  string `json:"time"`
					Level string `json:"level"`
					Msg   string `json:"msg"`
				}{now, "error", msg})
			} else {
				line = fmt.Appendf(nil, "time=%s level=error msg=%q", now, msg)
			}
			_, _ = f.Write(append(line, '\n'))
			f.Close()
		}
	}
	fmt.Fprintf(os.Stderr, "%s: %s\n", Name, msg)
	return 1
}
