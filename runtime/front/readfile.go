package front

import (
	"os"
	"syscall"

	"github.com/kubewarden/podlock/internal/sysread"
)

// readFile reads a whole file as os.ReadFile does, without an os.File:
// the front reads two small files (its configuration, and config.json at
// create) at every runc command, and an os.File would set up Go's network
// poller for them (see package sysread).
func readFile(name string) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer syscall.Close(fd)
	data, err := sysread.All(fd, 0)
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: name, Err: err}
	}
	return data, nil
}
