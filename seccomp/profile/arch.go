package profile

import (
	"runtime"
	"slices"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// Architectures that OCI and libseccomp name.
var knownArches = []v1alpha1.Arch{
	"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32",
	"SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
	"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
	"SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
	"SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE",
	"SCMP_ARCH_S390", "SCMP_ARCH_S390X",
	"SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",
	"SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
	"SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
}

// nativeArches maps GOARCH to the seccomp architecture of its processes,
// then the architectures that the same kernel can also run (compat
// system call ABIs), as containerd and moby list them.
var nativeArches = map[string][]v1alpha1.Arch{
	"amd64":    {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"},
	"386":      {"SCMP_ARCH_X86"},
	"arm64":    {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"},
	"arm":      {"SCMP_ARCH_ARM"},
	"mips":     {"SCMP_ARCH_MIPS"},
	"mipsle":   {"SCMP_ARCH_MIPSEL"},
	"mips64":   {"SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"},
	"mips64le": {"SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"},
	"ppc64":    {"SCMP_ARCH_PPC64", "SCMP_ARCH_PPC"},
	"ppc64le":  {"SCMP_ARCH_PPC64LE"},
	"s390x":    {"SCMP_ARCH_S390X", "SCMP_ARCH_S390"},
	"riscv64":  {"SCMP_ARCH_RISCV64"},
	"loong64":  {"SCMP_ARCH_LOONGARCH64"},
}

// KnownArch reports whether a is an architecture name of the OCI format.
func KnownArch(a v1alpha1.Arch) bool {
	return slices.Contains(knownArches, a)
}

// NativeArch is the seccomp architecture of the running binary, which is
// the architecture of the node's containers; empty on a GOARCH that seccomp
// does not support.
func NativeArch() v1alpha1.Arch {
	if a := nativeArches[runtime.GOARCH]; len(a) > 0 {
		return a[0]
	}
	return ""
}

// DefaultArchitectures are the architectures of a profile that lists none:
// the native one and its compat ones, so that a 32-bit binary in an image
// is filtered by the same rules instead of being killed.
func DefaultArchitectures() []v1alpha1.Arch {
	return slices.Clone(nativeArches[runtime.GOARCH])
}
