// Command abstract-socket listens on or connects to an abstract unix
// socket, for tests of Landlock's IPC scoping:
//
//	abstract-socket listen NAME    accept connections forever
//	abstract-socket connect NAME   connect, print "connected", exit
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: abstract-socket listen|connect NAME")
		os.Exit(2)
	}
	addr := "@" + os.Args[2]
	switch os.Args[1] {
	case "listen":
		l, err := net.Listen("unix", addr)
		if err != nil {
			fail(err)
		}
		for {
			c, err := l.Accept()
			if err != nil {
				fail(err)
			}
			c.Close()
		}
	case "connect":
		c, err := net.Dial("unix", addr)
		if err != nil {
			fail(err)
		}
		c.Close()
		fmt.Println("connected")
	default:
		fmt.Fprintln(os.Stderr, "usage: abstract-socket listen|connect NAME")
		os.Exit(2)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "abstract-socket:", err)
	os.Exit(1)
}
