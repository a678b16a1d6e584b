// Command podlock-runtime is the OCI runtime that containerd or CRI-O call
// for the podlock runtime class. See package runtime.
package main

import (
	"os"

	"github.com/kubewarden/podlock/runtime"
)

func main() {
	os.Exit(runtime.Main(os.Args))
}
