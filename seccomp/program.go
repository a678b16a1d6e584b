package seccomp

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"syscall"
)

// Program is a compiled filter and the seccomp(2) flags to install it with:
// what podlock-runtime writes into the container's read-only /.podlock
// mount and what podlock-helper loads.
type Program struct {
	// Filter is the classic BPF program, InstructionSize bytes per
	// instruction, in the byte order of the host that compiled it (the
	// node that runs the container).
	Filter []byte
	// Flags is a combination of FlagLog and FlagSpecAllow.
	Flags uint
}

// The file format is a 16-byte header, then the instructions as they are in
// Filter:
//
//	offset 0   4 bytes  magic "PLSC"
//	offset 4   2 bytes  format version, 1 (little endian)
//	offset 6   2 bytes  zero
//	offset 8   4 bytes  seccomp(2) flags (little endian)
//	offset 12  4 bytes  number of instructions (little endian)
//	offset 16  8 bytes per instruction, host byte order
//
// The count makes a truncated file an error rather than a shorter filter.
const (
	magic         = "PLSC"
	formatVersion = 1
	headerSize    = 16
)

// MarshalBinary encodes p in the file format that UnmarshalBinary reads.
// It refuses a program that Load would refuse.
func (p Program) MarshalBinary() ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("encoding seccomp program: %w", err)
	}
	data := make([]byte, headerSize, headerSize+len(p.Filter))
	copy(data, magic)
	binary.LittleEndian.PutUint16(data[4:], formatVersion)
	binary.LittleEndian.PutUint32(data[8:], uint32(p.Flags))
	binary.LittleEndian.PutUint32(data[12:], uint32(len(p.Filter)/InstructionSize))
	return append(data, p.Filter...), nil
}

// UnmarshalBinary decodes a program written by MarshalBinary. The filter is
// copied, so data may be reused.
func (p *Program) UnmarshalBinary(data []byte) error {
	if err := p.unmarshal(data); err != nil {
		return fmt.Errorf("decoding seccomp program: %w", err)
	}
	return nil
}

func (p *Program) unmarshal(data []byte) error {
	if len(data) < headerSize || string(data[:4]) != magic {
		return fmt.Errorf("not a podlock seccomp program (no %q header): %w", magic, ErrInvalidFilter)
	}
	if v := binary.LittleEndian.Uint16(data[4:]); v != formatVersion {
		return fmt.Errorf("format version %d, this binary reads version %d: %w", v, formatVersion, ErrInvalidFilter)
	}
	count := int(binary.LittleEndian.Uint32(data[12:]))
	if body := len(data) - headerSize; body != count*InstructionSize {
		return fmt.Errorf("header announces %d instructions but %d bytes follow: %w", count, body, ErrInvalidFilter)
	}
	q := Program{
		Filter: append([]byte(nil), data[headerSize:]...),
		Flags:  uint(binary.LittleEndian.Uint32(data[8:])),
	}
	if err := q.validate(); err != nil {
		return err
	}
	*p = q
	return nil
}

func (p Program) validate() error {
	if err := checkLength(len(p.Filter)); err != nil {
		return err
	}
	if p.Flags&^supportedFlags != 0 {
		return fmt.Errorf("unsupported flags %#x: %w", p.Flags&^supportedFlags, ErrInvalidFilter)
	}
	return nil
}

// Load installs p on the calling thread; see LoadWithFlags.
func (p Program) Load() error {
	return LoadWithFlags(p.Filter, p.Flags)
}

// Exec installs programs on the calling thread, in order, each stacked on
// the ones before, and executes path from that thread, so that the program
// starts under the filters while the Go runtime's other threads, which
// execve discards, never run under them. Every filter holds: the kernel
// runs them all and the strictest action wins; of equally strict actions
// (two errnos), that of the filter installed last. Exec returns only on
// failure, and the caller must then exit: if any filter is already
// installed, the calling thread stays locked to its goroutine so that the
// Go scheduler never reuses it.
//
// Between the first filter and the program, the calling thread makes only
// the system calls of loading the others (seccomp) and of syscall.Exec:
// execve, and prlimit64 when the Go runtime raised the soft RLIMIT_NOFILE
// at start and restores it for the program. A Go signal (preemption)
// arriving in that window also needs rt_sigreturn. A profile that kills on
// those system calls kills the helper instead.
func Exec(programs []Program, path string, argv, envv []string) error {
	if len(programs) == 0 {
		return fmt.Errorf("executing %s: no seccomp program to install: %w", path, ErrInvalidFilter)
	}
	// Refuse a bad program, and convert the strings, before the thread is
	// filtered, so that no error path runs under the filter.
	for _, p := range programs {
		if err := p.validate(); err != nil {
			return fmt.Errorf("loading seccomp filter: %w", err)
		}
	}
	for _, list := range [][]string{{path}, argv, envv} {
		for _, arg := range list {
			if strings.IndexByte(arg, 0) >= 0 {
				return fmt.Errorf("executing %s: argument or environment variable %q contains a NUL byte", path, arg)
			}
		}
	}
	runtime.LockOSThread()
	for i, p := range programs {
		if err := p.Load(); err != nil {
			if i == 0 {
				// A failed seccomp(2) leaves the thread as it was.
				runtime.UnlockOSThread()
			}
			return fmt.Errorf("seccomp filter %d of %d: %w", i+1, len(programs), err)
		}
	}
	err := syscall.Exec(path, argv, envv)
	return fmt.Errorf("executing %s under the seccomp filter: %w", path, err)
}
