// Package sysread reads a whole file, or a directory's names, from a
// descriptor with read(2) or getdents64(2) alone. Wrapping the descriptor
// in an os.File first, as os.ReadFile, io.ReadAll and os.ReadDir do, sets
// up Go's network poller on the first file opened (an epoll instance, an
// eventfd, fcntl calls): about 0.1 ms at the start of a short-lived
// program, which podlock-runtime's front and the helper pay at every run.
package sysread

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrTooLarge is a file longer than the bound given to All.
var ErrTooLarge = errors.New("larger than allowed")

// File reads the named file to its end, as os.ReadFile does: at most max
// bytes when max > 0, or ErrTooLarge. Errors are *os.PathError.
func File(name string, max int64) ([]byte, error) {
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
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	data, err := All(fd, st.Size, max)
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: name, Err: err}
	}
	return data, nil
}

// All reads fd to its end: at most max bytes when max > 0, or
// ErrTooLarge. size is the file's size, from the caller's fstat: the
// buffer holds one byte more, so that a regular file takes one read and
// one to see its end; a file that grows while it is read, or reports no
// size (/proc), is read on.
func All(fd int, size, max int64) ([]byte, error) {
	if max > 0 && size > max {
		return nil, fmt.Errorf("%d bytes: %w (%d)", size, ErrTooLarge, max)
	}
	data := make([]byte, 0, size+1)
	for {
		if max > 0 && int64(len(data)) > max {
			return nil, fmt.Errorf("more than %d bytes: %w", max, ErrTooLarge)
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := syscall.Read(fd, data[len(data):cap(data)])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return nil, err
		case n == 0:
			return data, nil
		}
		data = data[:len(data)+n]
	}
}

// DirNames returns the names in the directory open at fd, without "." and
// "..", in the order the kernel gives them.
func DirNames(fd int) ([]string, error) {
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := syscall.ReadDirent(fd, buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return nil, err
		case n <= 0:
			return names, nil
		}
		_, _, names = syscall.ParseDirent(buf[:n], -1, names)
	}
}
