package runtime

import "strings"

// argv splits a command line on spaces; argv[0] is always podlock-runtime.
func argv(line string) []string {
	return append([]string{"podlock-runtime"}, strings.Fields(line)...)
}
