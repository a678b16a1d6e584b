// Command syscall-loop makes N getppid system calls and prints the mean
// time of one, in nanoseconds: the cost of the seccomp filters in front of
// every system call, without the container's start-up around it.
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	n := 1_000_000
	if len(os.Args) > 1 {
		var err error
		if n, err = strconv.Atoi(os.Args[1]); err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "usage: syscall-loop [COUNT]")
			os.Exit(2)
		}
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
	}
	fmt.Printf("%.2f\n", float64(time.Since(start).Nanoseconds())/float64(n))
}
