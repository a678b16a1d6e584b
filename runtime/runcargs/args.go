// Package runcargs scans the command line of runc (and crun) without parsing
// it: podlock-runtime and podlock-runtime-confine find the verb and the few
// flags they need, and every other argument reaches the real runtime as
// given. It links nothing but the standard library's strings.
package runcargs

import "strings"

// Args is runc's command line, scanned rather than parsed: flags that
// podlock does not know must reach the real runtime untouched, so nothing
// here ever rejects an argument.
type Args struct {
	argv []string
	// verb is the index of the subcommand in argv, or -1.
	verb int
	// globals holds the global flags before the verb, by name without dashes.
	globals map[string]string
}

// Flags of runc and crun that take a value when not written as --flag=value.
// Every other flag is taken to be boolean.
var (
	globalValueFlags = set("root", "log", "log-format", "log-level", "criu", "rootless", "cgroup-manager")
	verbValueFlags   = map[string]map[string]bool{
		"create": set("bundle", "b", "console-socket", "pidfd-socket", "pid-file", "preserve-fds", "config", "f"),
		"run":    set("bundle", "b", "console-socket", "pidfd-socket", "pid-file", "preserve-fds", "config", "f"),
		"exec": set("console-socket", "pidfd-socket", "cwd", "env", "e", "user", "u", "additional-gids", "g",
			"process", "p", "pid-file", "process-label", "apparmor", "cap", "c", "preserve-fds", "cgroup"),
		"restore": set("bundle", "b", "console-socket", "image-path", "work-path", "manage-cgroups-mode", "pid-file",
			"empty-ns", "lsm-profile", "lsm-mount-context"),
	}
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Parse scans argv (including argv[0]).
func Parse(argv []string) Args {
	a := Args{argv: argv, verb: -1, globals: map[string]string{}}
	for i := 1; i < len(argv); i++ {
		if argv[i] == "--" {
			// Like runc, take what follows the end of the options as
			// the command.
			if i+1 < len(argv) {
				a.verb = i + 1
			}
			break
		}
		name, value, inline, ok := splitFlag(argv[i])
		if !ok {
			a.verb = i
			break
		}
		if !inline && globalValueFlags[name] && i+1 < len(argv) {
			i++
			value = argv[i]
		}
		a.globals[name] = value
	}
	return a
}

// splitFlag splits "-name", "--name" and "--name=value".
func splitFlag(arg string) (name, value string, inline, ok bool) {
	if len(arg) < 2 || arg[0] != '-' || arg == "--" {
		return "", "", false, false
	}
	name = strings.TrimLeft(arg, "-")
	name, value, inline = strings.Cut(name, "=")
	return name, value, inline, true
}

// Argv returns the command line as given.
func (a Args) Argv() []string { return a.argv }

// Verb returns the subcommand, or "" when there is none.
func (a Args) Verb() string {
	if a.verb < 0 {
		return ""
	}
	return a.argv[a.verb]
}

// VerbIndex returns the index of the verb in argv, or -1.
func (a Args) VerbIndex() int { return a.verb }

// Global returns the value of a global flag and whether it was given.
func (a Args) Global(name string) (string, bool) {
	v, ok := a.globals[name]
	return v, ok
}

// verbFlags scans the flags after the verb, calling visit with the index of
// each flag and of its value (the same index for --flag=value, -1 for a
// boolean); it returns the index of the first positional argument.
func (a Args) verbFlags(visit func(name string, flag, value int)) int {
	values := verbValueFlags[a.Verb()]
	for i := a.verb + 1; i < len(a.argv); i++ {
		if a.argv[i] == "--" {
			return i + 1
		}
		name, _, inline, ok := splitFlag(a.argv[i])
		if !ok {
			return i
		}
		switch {
		case inline:
			visit(name, i, i)
		case values[name] && i+1 < len(a.argv):
			visit(name, i, i+1)
			i++
		default:
			visit(name, i, -1)
		}
	}
	return len(a.argv)
}

// VerbFlag returns the last value given to any of the spellings of a flag
// of the verb.
func (a Args) VerbFlag(names ...string) (string, bool) {
	var value string
	var found bool
	a.verbFlags(func(name string, flag, v int) {
		for _, n := range names {
			if name == n && v >= 0 {
				value, found = a.argv[v], true
				if v == flag {
					_, value, _ = strings.Cut(a.argv[v], "=")
				}
			}
		}
	})
	return value, found
}

// Positional returns the arguments after the verb's flags: the container ID
// and, for exec, the command.
func (a Args) Positional() []string {
	if a.verb < 0 {
		return nil
	}
	return a.argv[a.verbFlags(func(string, int, int) {}):]
}

// WithExecCommand returns argv with the command of `exec <id> <cmd...>`
// replaced, for confining exec sessions given on the command line.
func (a Args) WithExecCommand(cmd []string) []string {
	first := a.verbFlags(func(string, int, int) {})
	out := append([]string{}, a.argv[:first+1]...)
	return append(out, cmd...)
}

// WithVerbFlag returns argv with a boolean flag added right after the verb.
func (a Args) WithVerbFlag(flag string) []string {
	out := append([]string{}, a.argv[:a.verb+1]...)
	out = append(out, flag)
	return append(out, a.argv[a.verb+1:]...)
}

// AsksHelp reports whether the verb is asked for its help (-h, --help):
// runc prints it without reading any bundle or state. create and run take
// the flag anywhere after the verb, since runc moves flags written after
// the container ID before it; other verbs only before their first
// argument, which for exec starts the command to run.
func (a Args) AsksHelp() bool {
	if a.verb < 0 {
		return false
	}
	help := func(s string) bool { return s == "-h" || s == "--help" || s == "-help" }
	first := a.verbFlags(func(string, int, int) {})
	for i := a.verb + 1; i < len(a.argv) && (i < first || a.Verb() == "create" || a.Verb() == "run"); i++ {
		if a.argv[i] == "--" {
			break
		}
		if help(a.argv[i]) {
			return true
		}
	}
	return false
}
