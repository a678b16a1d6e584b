package sysread

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestAll(t *testing.T) {
	dir := t.TempDir()
	read := File
	for _, size := range []int{0, 1, 511, 4096, 100000} {
		want := bytes.Repeat([]byte("x"), size)
		file := filepath.Join(dir, "f")
		if err := os.WriteFile(file, want, 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := read(file, 0); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%d bytes: read %d, %v", size, len(got), err)
		}
		if got, err := read(file, int64(size)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%d bytes of at most %d: read %d, %v", size, size, len(got), err)
		}
		if size > 1 { // a bound of 0 is none
			if _, err := read(file, int64(size-1)); !errors.Is(err, ErrTooLarge) {
				t.Errorf("%d bytes of at most %d: %v, want ErrTooLarge", size, size-1, err)
			}
		}
	}
	// /proc files report no size and are read on.
	if got, err := read("/proc/self/status", 0); err != nil || !bytes.Contains(got, []byte("Name:")) {
		t.Errorf("/proc/self/status: %q, %v", got, err)
	}
	if _, err := read("/proc/self/status", 10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("/proc/self/status of at most 10 bytes: %v, want ErrTooLarge", err)
	}
	if _, err := read(dir, 0); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("a directory: %v, want EISDIR", err)
	}
	_, err := read(filepath.Join(dir, "missing"), 0)
	var pathErr *os.PathError
	if !errors.Is(err, os.ErrNotExist) || !os.IsNotExist(err) || !errors.As(err, &pathErr) || pathErr.Path != filepath.Join(dir, "missing") {
		t.Errorf("a missing file: %v, want a *PathError that it does not exist", err)
	}
}

func TestDirNames(t *testing.T) {
	dir := t.TempDir()
	var want []string
	// More names than one 8 KiB getdents64 buffer holds.
	for i := range 300 {
		name := fmt.Sprintf("entry-%03d-with-a-longer-name.json", i)
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	got, err := DirNames(fd)
	slices.Sort(got)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("DirNames: %d names, %v; want %d", len(got), err, len(want))
	}
}
