// Command self-confine confines itself with Landlock, with no access to
// any file, tries to read a file, which the kernel denies and records in
// its audit log, then stays alive for a while, so that whoever reads the
// record finds the process:
//
//	self-confine SECONDS FILE
//
// It needs no podlock: tests run it in containers that podlock does not
// confine, as a workload that produces Landlock denials of its own.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/landlock-lsm/go-landlock/landlock"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: self-confine SECONDS FILE")
		os.Exit(2)
	}
	seconds, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fail(err)
	}
	if err := landlock.V5.RestrictPaths(); err != nil {
		fail(err)
	}
	if _, err := os.ReadFile(os.Args[2]); err == nil {
		fail(fmt.Errorf("read %s while confined", os.Args[2]))
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	time.Sleep(time.Duration(seconds) * time.Second)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "self-confine:", err)
	os.Exit(1)
}
