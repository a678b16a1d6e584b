// Command floor is the smallest Go wrapper of an OCI runtime: it executes
// the runtime named by FLOOR_RUNTIME with its own argv, and nothing else.
// Its cost over the runtime is the floor for any Go wrapper, against which
// the benchmarks measure podlock-runtime's pass-through.
package main

import (
	"os"
	"syscall"
)

func main() {
	err := syscall.Exec(os.Getenv("FLOOR_RUNTIME"), os.Args, os.Environ())
	os.Stderr.WriteString("floor: " + err.Error() + "\n")
	os.Exit(1)
}
