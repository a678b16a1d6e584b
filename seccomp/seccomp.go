// Package seccomp installs a seccomp filter that was compiled to classic BPF
// on the host (see package seccomp/compile).
//
// It is linked into podlock-helper, the static binary that runs first in every
// confined container, so it is pure Go and imports only the standard library
// and golang.org/x/sys/unix: no cgo, no libseccomp in the container.
//
// The helper reads the Programs that podlock-runtime wrote (MarshalBinary)
// from its read-only mount, then calls Exec, which installs the filters on
// the calling thread and executes the container's program from that same
// thread:
//
//	var p seccomp.Program
//	if err := p.UnmarshalBinary(data); err != nil { ... }
//	err := seccomp.Exec([]seccomp.Program{p}, path, argv, os.Environ())
//	// Exec returns only on error; the helper must then exit nonzero.
//
// The filter is never synchronised to the other threads of the process
// (SECCOMP_FILTER_FLAG_TSYNC is refused): the Go runtime's own threads, such
// as sysmon, keep running unfiltered until execve replaces the whole process,
// so a strict profile cannot kill the helper before it has started the
// program. After execve the new program has a single thread, which carries
// the filter, and every process it starts inherits it.
//
// Installing a filter requires no_new_privs (or CAP_SYS_ADMIN). podlock-runtime
// sets process.noNewPrivileges in config.json, so the helper never sets it
// itself.
package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// InstructionSize is the size of one struct sock_filter instruction.
const InstructionSize = 8

// MaxInstructions is the kernel's limit on the length of a BPF program
// (BPF_MAXINSNS).
const MaxInstructions = 4096

// Flags that Load accepts. They are the seccomp(2) filter flags that make
// sense for a filter installed on one thread without a notification listener.
const (
	// FlagLog logs every action of the filter except SECCOMP_RET_ALLOW.
	FlagLog uint = unix.SECCOMP_FILTER_FLAG_LOG
	// FlagSpecAllow disables the speculative store bypass mitigation that
	// the kernel otherwise enables for filtered tasks.
	FlagSpecAllow uint = unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW

	supportedFlags = FlagLog | FlagSpecAllow
)

// ErrInvalidFilter is the class of errors about a program that cannot be a
// seccomp filter, detected before the kernel is asked.
var ErrInvalidFilter = errors.New("invalid seccomp filter")

// Load installs filter, a classic BPF program in the host's byte order, on
// the calling thread. See LoadWithFlags.
func Load(filter []byte) error {
	return LoadWithFlags(filter, 0)
}

// LoadWithFlags installs filter with the given seccomp(2) flags (a
// combination of FlagLog and FlagSpecAllow) on the calling thread only.
//
// The caller must have locked its goroutine to its OS thread
// (runtime.LockOSThread) and must execve from that thread, as Exec does:
// otherwise the Go scheduler may move the goroutine to a thread without the
// filter. no_new_privs must already be set, or the caller must hold
// CAP_SYS_ADMIN.
func LoadWithFlags(filter []byte, flags uint) error {
	if err := load(filter, flags); err != nil {
		return fmt.Errorf("loading seccomp filter: %w", err)
	}
	return nil
}

func load(filter []byte, flags uint) error {
	if flags&unix.SECCOMP_FILTER_FLAG_TSYNC != 0 {
		return fmt.Errorf("flag SECCOMP_FILTER_FLAG_TSYNC would filter the Go runtime's other threads: %w", ErrInvalidFilter)
	}
	if flags&^supportedFlags != 0 {
		return fmt.Errorf("unsupported flags %#x: %w", flags&^supportedFlags, ErrInvalidFilter)
	}
	insts, err := decode(filter)
	if err != nil {
		return err
	}
	prog := unix.SockFprog{Len: uint16(len(insts)), Filter: &insts[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(insts)
	if errno != 0 {
		if errno == unix.EACCES {
			return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w (no_new_privs is not set and CAP_SYS_ADMIN is missing)", errno)
		}
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", errno)
	}
	return nil
}

// decode copies filter into sock_filter structs: the byte slice may not be
// aligned for the 32-bit field k, and the kernel reads the structs in native
// byte order, which is how libseccomp exported them.
func decode(filter []byte) ([]unix.SockFilter, error) {
	if err := checkLength(len(filter)); err != nil {
		return nil, err
	}
	insts := make([]unix.SockFilter, len(filter)/InstructionSize)
	for i := range insts {
		b := filter[i*InstructionSize:]
		insts[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b[0:2]),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.NativeEndian.Uint32(b[4:8]),
		}
	}
	return insts, nil
}

func checkLength(n int) error {
	switch {
	case n == 0:
		return fmt.Errorf("empty program: %w", ErrInvalidFilter)
	case n%InstructionSize != 0:
		return fmt.Errorf("program of %d bytes is not a whole number of %d-byte instructions: %w", n, InstructionSize, ErrInvalidFilter)
	case n/InstructionSize > MaxInstructions:
		return fmt.Errorf("program of %d instructions exceeds the kernel's limit of %d: %w", n/InstructionSize, MaxInstructions, ErrInvalidFilter)
	}
	return nil
}
