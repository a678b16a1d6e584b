// Command podlock-runtime-confine runs the commands of podlock-runtime
// that confine containers (create, run, exec into a confined container,
// delete of one) and podlock's own commands. podlock-runtime executes it
// from the same directory, argv unchanged. See package runtime.
package main

import (
	"os"

	"github.com/kubewarden/podlock/runtime"
)

func main() {
	os.Exit(runtime.Main(os.Args))
}
