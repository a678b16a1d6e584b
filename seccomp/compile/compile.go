//go:build cgo && linux

package compile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp"
	"github.com/kubewarden/podlock/seccomp/profile"
)

// plan is a validated profile in libseccomp's terms.
type plan struct {
	defaultAction libseccomp.ScmpAction
	native        libseccomp.ScmpArch
	// arches lists the native architecture first.
	arches []libseccomp.ScmpArch
	rules  []rule
	flags  uint
}

type rule struct {
	profile.Rule
	action libseccomp.ScmpAction
	conds  []libseccomp.ScmpCondition
	// nr is the number to give libseccomp: the native one, or a negative
	// pseudo number that libseccomp translates for the other
	// architectures.
	nr libseccomp.ScmpSyscall
	// on lists the architectures where the system call exists.
	on []libseccomp.ScmpArch
}

// Validate checks a resolved profile as Compile does, without generating
// the filter: profile.Validate, then architectures and system call names
// against libseccomp. Errors wrap profile.ErrInvalid.
func Validate(s *v1alpha1.SeccompProfileSpec) error {
	_, err := newPlan(s)
	return err
}

// Compile validates a resolved profile (see profile.Resolve) and generates
// its filter for the native architecture and the profile's architectures.
//
// Defaults: no defaultAction means SCMP_ACT_ERRNO, no errnoRet means EPERM,
// no architectures means the native one and its compat ones (x86_64: x86,
// x32). A system call made with an architecture that the profile does not
// list kills the process.
//
// A system call name that libseccomp knows on no architecture at all is an
// error (a typo); a name that exists on some architectures only (chown32,
// arch_prctl, recv) applies where it exists and is skipped elsewhere, as
// runc does, so that portable profiles such as Docker's compile as they
// are. Names of system calls newer than the node's libseccomp are compiled
// for the native architecture from the numbers golang.org/x/sys knows.
func Compile(s *v1alpha1.SeccompProfileSpec) (seccomp.Program, error) {
	p, err := newPlan(s)
	if err != nil {
		return seccomp.Program{}, err
	}
	filter, err := p.generate()
	if err != nil {
		return seccomp.Program{}, fmt.Errorf("compiling seccomp profile: %w", err)
	}
	return seccomp.Program{Filter: filter, Flags: p.flags}, nil
}

func newPlan(s *v1alpha1.SeccompProfileSpec) (*plan, error) {
	if err := profile.Validate(s); err != nil {
		return nil, err
	}
	flags, err := profile.Flags(s)
	if err != nil {
		return nil, err
	}
	p := &plan{flags: flags}
	if p.defaultAction, err = action(s.DefaultAction, s.DefaultErrnoRet); err != nil {
		return nil, fmt.Errorf("spec.defaultAction: %w", err)
	}
	if err := p.setArches(s.Architectures); err != nil {
		return nil, err
	}
	// Every name is checked, also those of rules that Rules drops.
	var errs []error
	for i, r := range s.Syscalls {
		for j, name := range r.Names {
			if _, err := libseccomp.GetSyscallFromName(name); err == nil {
				continue
			}
			if _, ok := newSyscalls[name]; !ok {
				major, minor, micro := libseccomp.GetLibraryVersion()
				errs = append(errs, fmt.Errorf("spec.syscalls[%d].names[%d]: unknown system call %q (libseccomp %d.%d.%d knows it on no architecture): %w",
					i, j, name, major, minor, micro, profile.ErrInvalid))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	rules, err := profile.Rules(s)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		cr, err := p.resolve(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.rules = append(p.rules, cr)
	}
	return p, errors.Join(errs...)
}

func (p *plan) setArches(names []v1alpha1.Arch) error {
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return fmt.Errorf("native architecture: %w", err)
	}
	p.native = native
	p.arches = []libseccomp.ScmpArch{native}
	field := "spec.architectures"
	if len(names) == 0 {
		names, field = profile.DefaultArchitectures(), "default architectures"
	}
	hasNative := false
	for i, n := range names {
		a, err := libseccomp.GetArchFromString(strings.TrimPrefix(string(n), "SCMP_ARCH_"))
		if err != nil {
			return fmt.Errorf("%s[%d]: architecture %s is not supported by libseccomp: %w", field, i, n, profile.ErrInvalid)
		}
		if a == native {
			hasNative = true
		} else if !slices.Contains(p.arches, a) {
			p.arches = append(p.arches, a)
		}
	}
	if !hasNative {
		return fmt.Errorf("%s: the native architecture %s is not listed, so every system call of the container would be killed: %w", field, archName(native), profile.ErrInvalid)
	}
	return nil
}

func (p *plan) resolve(r profile.Rule) (rule, error) {
	cr := rule{Rule: r}
	var err error
	if cr.action, err = action(r.Action, r.ErrnoRet); err != nil {
		return cr, fmt.Errorf("%s.action: %w", r.Field, err)
	}
	for _, a := range r.Args {
		// OCI's MASKED_EQ is (arg & Value) == ValueTwo, libseccomp's
		// (arg & datum_a) == datum_b: the values go in the same order.
		c, err := libseccomp.MakeCondition(a.Index, operator(a.Op), a.Value, a.ValueTwo)
		if err != nil {
			return cr, fmt.Errorf("%s.args: %w: %w", r.Field, err, profile.ErrInvalid)
		}
		cr.conds = append(cr.conds, c)
	}
	// Negative for a system call that the native architecture lacks
	// (chown32 on x86_64), which libseccomp translates for the others.
	nr, err := libseccomp.GetSyscallFromName(r.Syscall)
	if err != nil {
		// newPlan checked that the name is in newSyscalls.
		cr.nr, cr.on = libseccomp.ScmpSyscall(newSyscalls[r.Syscall]), []libseccomp.ScmpArch{p.native}
		return cr, nil
	}
	cr.nr = nr
	for _, a := range p.arches {
		if n, err := libseccomp.GetSyscallFromNameByArch(r.Syscall, a); err == nil && n >= 0 {
			cr.on = append(cr.on, a)
		}
	}
	return cr, nil
}

// generate builds one libseccomp filter per architecture and merges them:
// libseccomp accepts a system call by number, for one it does not know,
// only in a filter that holds the native architecture alone.
func (p *plan) generate() ([]byte, error) {
	var merged *libseccomp.ScmpFilter
	defer func() {
		if merged != nil {
			merged.Release()
		}
	}()
	for _, a := range p.arches {
		f, err := p.archFilter(a)
		if err != nil {
			return nil, fmt.Errorf("architecture %s: %w", archName(a), err)
		}
		if merged == nil {
			merged = f
			continue
		}
		// Merge releases f when it succeeds.
		if err := merged.Merge(f); err != nil {
			f.Release()
			return nil, fmt.Errorf("merging the filter of architecture %s: %w", archName(a), err)
		}
	}
	return export(merged)
}

func (p *plan) archFilter(arch libseccomp.ScmpArch) (*libseccomp.ScmpFilter, error) {
	f, err := libseccomp.NewFilter(p.defaultAction)
	if err != nil {
		return nil, fmt.Errorf("creating filter: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Release()
		}
	}()
	if arch != p.native {
		if err := f.AddArch(arch); err != nil {
			return nil, fmt.Errorf("adding architecture: %w", err)
		}
		if err := f.RemoveArch(p.native); err != nil {
			return nil, fmt.Errorf("removing the native architecture: %w", err)
		}
	}
	// Killing the thread only would leave a process with a thread
	// missing; nothing about a foreign architecture is expected.
	if err := f.SetBadArchAction(libseccomp.ActKillProcess); err != nil {
		return nil, fmt.Errorf("setting the action for other architectures: %w", err)
	}
	if err := f.SetOptimize(2); err != nil {
		return nil, fmt.Errorf("enabling the binary-tree optimisation: %w", err)
	}
	// The no_new_privs attribute of libseccomp only matters to
	// seccomp_load, which podlock never calls: the runtime sets
	// noNewPrivileges and the helper loads the exported program.
	for _, r := range p.rules {
		if !slices.Contains(r.on, arch) {
			continue
		}
		var err error
		if len(r.conds) == 0 {
			err = f.AddRule(r.nr, r.action)
		} else {
			err = f.AddRuleConditional(r.nr, r.action, r.conds)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: adding the rule for %s: %w", r.Field, r.Syscall, err)
		}
	}
	ok = true
	return f, nil
}

// export writes the filter to a memory file: libseccomp 2.5 cannot export
// to memory directly (seccomp_export_bpf_mem is 2.6).
func export(f *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("podlock-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("exporting the filter: memfd_create: %w", err)
	}
	file := os.NewFile(uintptr(fd), "podlock-seccomp")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, fmt.Errorf("exporting the filter: %w", err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("exporting the filter: %w", err)
	}
	data, err := io.ReadAll(file)
	if err != nil {
		return nil, fmt.Errorf("exporting the filter: %w", err)
	}
	if n := len(data) / seccomp.InstructionSize; n > seccomp.MaxInstructions {
		return nil, fmt.Errorf("the filter has %d instructions, more than the kernel's limit of %d: split the profile's rules or list fewer architectures: %w", n, seccomp.MaxInstructions, profile.ErrInvalid)
	}
	return data, nil
}

func action(a v1alpha1.Action, errnoRet *uint) (libseccomp.ScmpAction, error) {
	data := func(def int16) int16 {
		if errnoRet == nil {
			return def
		}
		return int16(*errnoRet) // range checked by profile.Validate
	}
	switch a {
	case "", v1alpha1.ActionErrno:
		return libseccomp.ActErrno.SetReturnCode(data(int16(unix.EPERM))), nil
	case v1alpha1.ActionTrace:
		return libseccomp.ActTrace.SetReturnCode(data(0)), nil
	case v1alpha1.ActionAllow:
		return libseccomp.ActAllow, nil
	case v1alpha1.ActionLog:
		return libseccomp.ActLog, nil
	case v1alpha1.ActionKillProcess:
		return libseccomp.ActKillProcess, nil
	case v1alpha1.ActionKillThread, v1alpha1.ActionKill:
		return libseccomp.ActKillThread, nil
	case v1alpha1.ActionTrap:
		return libseccomp.ActTrap, nil
	}
	return libseccomp.ActInvalid, fmt.Errorf("unknown action %q: %w", a, profile.ErrInvalid)
}

func operator(op v1alpha1.Operator) libseccomp.ScmpCompareOp {
	switch op {
	case v1alpha1.OpNotEqual:
		return libseccomp.CompareNotEqual
	case v1alpha1.OpLessThan:
		return libseccomp.CompareLess
	case v1alpha1.OpLessEqual:
		return libseccomp.CompareLessOrEqual
	case v1alpha1.OpEqualTo:
		return libseccomp.CompareEqual
	case v1alpha1.OpGreaterEqual:
		return libseccomp.CompareGreaterEqual
	case v1alpha1.OpGreaterThan:
		return libseccomp.CompareGreater
	case v1alpha1.OpMaskedEqual:
		return libseccomp.CompareMaskedEqual
	}
	return libseccomp.CompareInvalid // MakeCondition refuses it
}

// archName is the OCI name of a, such as SCMP_ARCH_X86_64.
func archName(a libseccomp.ScmpArch) string {
	switch a {
	case libseccomp.ArchAMD64:
		return "SCMP_ARCH_X86_64"
	case libseccomp.ArchARM64:
		return "SCMP_ARCH_AARCH64"
	case libseccomp.ArchLOONGARCH64:
		return "SCMP_ARCH_LOONGARCH64"
	}
	return "SCMP_ARCH_" + strings.ToUpper(a.String())
}
