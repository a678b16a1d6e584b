// Package oci imports seccomp profiles written for OCI runtimes and Docker
// (the JSON of runc's linux.seccomp, moby's profiles/seccomp/default.json,
// the profiles of the Kubernetes seccomp tutorial) into SeccompProfile
// specs, unchanged where the formats agree.
package oci

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/profile"
)

// file is the union of the OCI and moby formats. Import ignores the
// fields that podlock does not use (listenerPath, comment, ...); Portable
// refuses those that mean something.
type file struct {
	DefaultAction   v1alpha1.Action `json:"defaultAction"`
	DefaultErrnoRet *uint           `json:"defaultErrnoRet"`
	Architectures   []v1alpha1.Arch `json:"architectures"`
	ArchMap         []struct {
		Arch    v1alpha1.Arch   `json:"architecture"`
		SubArch []v1alpha1.Arch `json:"subArchitectures"`
	} `json:"archMap"`
	Flags            []v1alpha1.Flag `json:"flags"`
	ListenerPath     string          `json:"listenerPath"`
	ListenerMetadata string          `json:"listenerMetadata"`
	Comment          string          `json:"comment"`
	Syscalls         []struct {
		v1alpha1.SyscallRule
		Name     string  `json:"name"`
		Comment  string  `json:"comment"`
		Includes *filter `json:"includes"`
		Excludes *filter `json:"excludes"`
	} `json:"syscalls"`
}

// filter is moby's condition on the container a rule applies to.
type filter struct {
	Arches    []string `json:"arches"`
	Caps      []string `json:"caps"`
	MinKernel string   `json:"minKernel"`
}

// host is what archMap and moby's includes and excludes are evaluated
// against.
type host struct {
	goarch string
	native v1alpha1.Arch
	kernel [2]int
	caps   []string
}

// defaultCaps is the capability set that includes and excludes of moby
// profiles are evaluated against: the default set of containerd and Docker.
// A profile is compiled once for any container, so podlock cannot look at
// the capabilities of each; a rule meant for containers granted more
// (CAP_SYS_ADMIN, CAP_SYS_PTRACE, ...) is left out, and a rule meant for
// containers without them is kept. The kernel still checks capabilities, so
// this only decides which system calls reach that check.
var defaultCaps = []string{
	"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP",
	"CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
}

// Import converts an OCI or moby seccomp JSON profile. Moby's extensions
// are evaluated here, for the node podlock runs on:
//
//   - archMap: the entry of the native architecture gives the
//     architectures (itself and its subArchitectures), as in moby; with no
//     such entry the profile gets podlock's default architectures;
//   - syscalls[].name: the older single-name form, same as names: [name];
//   - includes and excludes: arches are compared with the node's
//     architecture (GOARCH, such as amd64, or a seccomp name such as
//     x86_64), minKernel with the running kernel, and caps with
//     the default capabilities of containerd and Docker (CAP_CHOWN,
//     CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_KILL, CAP_SETGID,
//     CAP_SETUID, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_NET_RAW,
//     CAP_SYS_CHROOT, CAP_MKNOD, CAP_AUDIT_WRITE, CAP_SETFCAP): a container
//     is assumed to have no more. A rule is kept when all of its includes hold and
//     none of its excludes does, as in moby.
//
// Import checks the shape of the JSON only; Validate and compile.Compile
// check the values.
func Import(data []byte) (*v1alpha1.SeccompProfileSpec, error) {
	h, err := thisHost()
	if err != nil {
		return nil, fmt.Errorf("importing seccomp profile: %w", err)
	}
	return importFor(data, h)
}

func importFor(data []byte, h host) (*v1alpha1.SeccompProfileSpec, error) {
	s, err := convert(data, h)
	if err != nil {
		return nil, fmt.Errorf("importing seccomp profile: %w", err)
	}
	return s, nil
}

func convert(data []byte, h host) (*v1alpha1.SeccompProfileSpec, error) {
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w: %w", err, profile.ErrInvalid)
	}
	if dec.More() {
		return nil, fmt.Errorf("decoding JSON: data after the profile: %w", profile.ErrInvalid)
	}
	return convertFile(&f, h)
}

func convertFile(f *file, h host) (*v1alpha1.SeccompProfileSpec, error) {
	s := &v1alpha1.SeccompProfileSpec{
		DefaultAction:   f.DefaultAction,
		DefaultErrnoRet: f.DefaultErrnoRet,
		Architectures:   f.Architectures,
		Flags:           f.Flags,
	}
	if len(f.ArchMap) > 0 {
		if len(f.Architectures) > 0 {
			return nil, fmt.Errorf("both architectures and archMap are set; use one: %w", profile.ErrInvalid)
		}
		for _, m := range f.ArchMap {
			if m.Arch == h.native {
				s.Architectures = append([]v1alpha1.Arch{m.Arch}, m.SubArch...)
			}
		}
	}
	for i, sc := range f.Syscalls {
		r := sc.SyscallRule
		if sc.Name != "" {
			if len(r.Names) > 0 {
				return nil, fmt.Errorf("syscalls[%d]: both name and names are set; use one: %w", i, profile.ErrInvalid)
			}
			r.Names = []string{sc.Name}
		}
		inc, err := h.includes(sc.Includes)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d].includes: %w", i, err)
		}
		exc, err := h.excludes(sc.Excludes)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d].excludes: %w", i, err)
		}
		if inc && !exc {
			s.Syscalls = append(s.Syscalls, r)
		}
	}
	return s, nil
}

// includes reports whether every condition of f holds.
func (h host) includes(f *filter) (bool, error) {
	if f == nil {
		return true, nil
	}
	if len(f.Arches) > 0 && !h.archIn(f.Arches) {
		return false, nil
	}
	for _, c := range f.Caps {
		if !slices.Contains(h.caps, c) {
			return false, nil
		}
	}
	if f.MinKernel != "" {
		ok, err := h.kernelAtLeast(f.MinKernel)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// excludes reports whether any condition of f holds.
func (h host) excludes(f *filter) (bool, error) {
	if f == nil {
		return false, nil
	}
	if h.archIn(f.Arches) {
		return true, nil
	}
	for _, c := range f.Caps {
		if slices.Contains(h.caps, c) {
			return true, nil
		}
	}
	if f.MinKernel != "" {
		return h.kernelAtLeast(f.MinKernel)
	}
	return false, nil
}

// archIn reports whether one of arches names the node's architecture,
// spelt as moby does (GOARCH: amd64) or as seccomp does (x86_64 or
// SCMP_ARCH_X86_64).
func (h host) archIn(arches []string) bool {
	for _, a := range arches {
		if strings.EqualFold(a, h.goarch) || h.native != "" &&
			(strings.EqualFold(a, string(h.native)) || strings.EqualFold("SCMP_ARCH_"+a, string(h.native))) {
			return true
		}
	}
	return false
}

func (h host) kernelAtLeast(v string) (bool, error) {
	want, err := parseKernel(v)
	if err != nil {
		return false, fmt.Errorf("minKernel %q: %w: %w", v, err, profile.ErrInvalid)
	}
	return h.kernel[0] > want[0] || h.kernel[0] == want[0] && h.kernel[1] >= want[1], nil
}

// parseKernel reads the major and minor numbers of a release such as
// "6.18.0-1-amd64" or "4.8".
func parseKernel(release string) ([2]int, error) {
	var v [2]int
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return v, fmt.Errorf("not a kernel version (major.minor)")
	}
	for i := range v {
		digits := parts[i]
		if end := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); end >= 0 {
			digits = digits[:end]
		}
		n, err := strconv.Atoi(digits)
		if err != nil {
			return v, fmt.Errorf("not a kernel version (major.minor)")
		}
		v[i] = n
	}
	return v, nil
}

func thisHost() (host, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return host{}, fmt.Errorf("uname: %w", err)
	}
	release := unix.ByteSliceToString(u.Release[:])
	k, err := parseKernel(release)
	if err != nil {
		return host{}, fmt.Errorf("kernel release %q: %w", release, err)
	}
	return host{goarch: runtime.GOARCH, native: profile.NativeArch(), kernel: k, caps: defaultCaps}, nil
}
