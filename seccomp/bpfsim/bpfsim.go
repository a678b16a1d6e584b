// Package bpfsim runs a seccomp filter on a system call in user space, so
// that what a compiled profile decides for any architecture, system call
// and arguments can be known without installing it: podlock-runtime checks
// with it that a container's filters let podlock-helper's own system calls
// through, and tests check compiled profiles.
package bpfsim

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Audit architectures of seccomp_data.arch.
const (
	AuditArchX86_64  = 0xc000003e
	AuditArchI386    = 0x40000003
	AuditArchAArch64 = 0xc00000b7
)

// Field masks of an instruction code (linux/bpf_common.h), which
// golang.org/x/sys/unix does not define.
const (
	classMask = 0x07
	modeMask  = 0xe0
	opMask    = 0xf0
	rvalMask  = 0x18
	miscMask  = 0xf8
)

// Call is the struct seccomp_data a filter reads.
type Call struct {
	Nr   int32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

func (c Call) bytes() []byte {
	b := make([]byte, 64)
	binary.NativeEndian.PutUint32(b[0:], uint32(c.Nr))
	binary.NativeEndian.PutUint32(b[4:], c.Arch)
	binary.NativeEndian.PutUint64(b[8:], c.IP)
	for i, a := range c.Args {
		binary.NativeEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// Run executes filter on c and returns the filter's return value, such as
// SECCOMP_RET_ERRNO|1.
func Run(filter []byte, c Call) (uint32, error) {
	if len(filter) == 0 || len(filter)%8 != 0 {
		return 0, errors.New("not a BPF program")
	}
	data := c.bytes()
	var a, x uint32
	var mem [16]uint32
	n := len(filter) / 8
	for pc := 0; pc < n; pc++ {
		in := filter[pc*8:]
		code := binary.NativeEndian.Uint16(in[0:])
		jt, jf := int(in[2]), int(in[3])
		k := binary.NativeEndian.Uint32(in[4:])
		src := k
		if code&unix.BPF_X != 0 {
			src = x
		}
		switch code & classMask {
		case unix.BPF_LD:
			switch code & modeMask {
			case unix.BPF_ABS:
				if k+4 > uint32(len(data)) || k%4 != 0 {
					return 0, fmt.Errorf("pc %d: load at offset %d", pc, k)
				}
				a = binary.NativeEndian.Uint32(data[k:])
			case unix.BPF_IMM:
				a = k
			case unix.BPF_MEM:
				a = mem[k%16]
			default:
				return 0, fmt.Errorf("pc %d: unsupported load %#x", pc, code)
			}
		case unix.BPF_LDX:
			switch code & modeMask {
			case unix.BPF_IMM:
				x = k
			case unix.BPF_MEM:
				x = mem[k%16]
			default:
				return 0, fmt.Errorf("pc %d: unsupported load %#x", pc, code)
			}
		case unix.BPF_ST:
			mem[k%16] = a
		case unix.BPF_STX:
			mem[k%16] = x
		case unix.BPF_ALU:
			switch code & opMask {
			case unix.BPF_AND:
				a &= src
			case unix.BPF_OR:
				a |= src
			case unix.BPF_ADD:
				a += src
			case unix.BPF_SUB:
				a -= src
			default:
				return 0, fmt.Errorf("pc %d: unsupported alu %#x", pc, code)
			}
		case unix.BPF_JMP:
			var taken bool
			switch code & opMask {
			case unix.BPF_JA:
				pc += int(k)
				continue
			case unix.BPF_JEQ:
				taken = a == src
			case unix.BPF_JGT:
				taken = a > src
			case unix.BPF_JGE:
				taken = a >= src
			case unix.BPF_JSET:
				taken = a&src != 0
			default:
				return 0, fmt.Errorf("pc %d: unsupported jump %#x", pc, code)
			}
			if taken {
				pc += jt
			} else {
				pc += jf
			}
		case unix.BPF_RET:
			if code&rvalMask == unix.BPF_A {
				return a, nil
			}
			return k, nil
		case unix.BPF_MISC:
			if code&miscMask == unix.BPF_TAX {
				x = a
			} else {
				a = x
			}
		default:
			return 0, fmt.Errorf("pc %d: unsupported instruction %#x", pc, code)
		}
	}
	return 0, errors.New("program ran off its end")
}
