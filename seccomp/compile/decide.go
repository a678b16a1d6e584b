//go:build cgo && linux

package compile

import (
	"fmt"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/seccomp"
	"github.com/kubewarden/podlock/seccomp/bpfsim"
)

// auditArches are the seccomp_data.arch values of the native architectures
// podlock-runtime may run on.
var auditArches = map[libseccomp.ScmpArch]uint32{
	libseccomp.ArchAMD64:       unix.AUDIT_ARCH_X86_64,
	libseccomp.ArchARM64:       unix.AUDIT_ARCH_AARCH64,
	libseccomp.ArchPPC64LE:     unix.AUDIT_ARCH_PPC64LE,
	libseccomp.ArchS390X:       unix.AUDIT_ARCH_S390X,
	libseccomp.ArchRISCV64:     unix.AUDIT_ARCH_RISCV64,
	libseccomp.ArchLOONGARCH64: unix.AUDIT_ARCH_LOONGARCH64,
}

// Decide returns what the program decides, as the kernel would run it, for
// a system call made on the native architecture, named as libseccomp names
// it: the filter's return value, such as SECCOMP_RET_ALLOW or
// SECCOMP_RET_ERRNO|EPERM.
func Decide(p seccomp.Program, name string, args [6]uint64) (uint32, error) {
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return 0, fmt.Errorf("native architecture: %w", err)
	}
	arch, ok := auditArches[native]
	if !ok {
		return 0, fmt.Errorf("no audit architecture known for %s", archName(native))
	}
	nr, err := libseccomp.GetSyscallFromName(name)
	if err != nil || nr < 0 {
		n, ok := newSyscalls[name]
		if !ok {
			return 0, fmt.Errorf("system call %s does not exist on %s", name, archName(native))
		}
		nr = libseccomp.ScmpSyscall(n)
	}
	ret, err := bpfsim.Run(p.Filter, bpfsim.Call{Nr: int32(nr), Arch: arch, Args: args})
	if err != nil {
		return 0, fmt.Errorf("running the filter on %s: %w", name, err)
	}
	return ret, nil
}
