package runtime

import "github.com/kubewarden/podlock/runtime/runcargs"

// Args is runc's command line, scanned by package runcargs, which
// podlock-runtime's small front shares.
type Args = runcargs.Args

// ParseArgs scans argv (including argv[0]).
func ParseArgs(argv []string) Args { return runcargs.Parse(argv) }
