// Command podlock-runtime is the OCI runtime that containerd or CRI-O call
// for the podlock runtime class: a small front that hands each command to
// the real runtime or to podlock-runtime-confine. See package
// runtime/front.
package main

import (
	"os"

	"github.com/kubewarden/podlock/runtime/front"
)

func main() {
	os.Exit(front.Main(os.Args))
}
