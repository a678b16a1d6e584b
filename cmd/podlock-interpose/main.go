// Command podlock-interpose is the OCI createContainer hook that
// podlock-runtime adds to containers with listed binaries: runc runs it in
// the container's mount namespace before pivot_root, and it mounts
// podlock-helper over each listed binary (see package runtime/interpose).
//
// It is a binary of its own, installed next to podlock-helper, because it
// is on the path of every such container's start: it links nothing but
// what the mounts need, and starts in a fraction of podlock-runtime's
// time.
package main

import (
	"fmt"
	"os"

	"github.com/kubewarden/podlock/runtime/interpose"
)

func main() {
	if err := run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "podlock-interpose: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: podlock-interpose PLAN (run by runc as a createContainer hook)")
	}
	plan, err := interpose.Read(args[1])
	if err != nil {
		return err
	}
	return plan.Apply()
}
