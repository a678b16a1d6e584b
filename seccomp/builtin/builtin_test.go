package builtin

import (
	"runtime"
	"slices"
	"testing"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

func TestNames(t *testing.T) {
	if got := Names(); !slices.Equal(got, []string{Audit, RuntimeDefault}) {
		t.Fatalf("Names() = %v", got)
	}
	for _, n := range Names() {
		if err := v1alpha1.ValidateName(n); err != nil {
			t.Errorf("built-in name %q cannot be referenced: %v", n, err)
		}
	}
	if _, ok := Get("runtime/default"); ok {
		t.Fatal("Get found an unknown name")
	}
}

func TestGetReturnsCopies(t *testing.T) {
	a, _ := Get(RuntimeDefault)
	a.Syscalls[0].Names[0] = "changed"
	a.Syscalls = nil
	b, _ := Get(RuntimeDefault)
	if len(b.Syscalls) == 0 || b.Syscalls[0].Names[0] == "changed" {
		t.Fatal("Get returned shared memory")
	}
}

func allowed(s *v1alpha1.SeccompProfileSpec) map[string]bool {
	m := map[string]bool{}
	for _, r := range s.Syscalls {
		if r.Action == v1alpha1.ActionAllow && len(r.Args) == 0 {
			for _, n := range r.Names {
				m[n] = true
			}
		}
	}
	return m
}

func TestRuntimeDefault(t *testing.T) {
	s, _ := Get(RuntimeDefault)
	if s.DefaultAction != v1alpha1.ActionErrno || s.DefaultErrnoRet != nil || len(s.Architectures) != 0 {
		t.Fatalf("defaults: %+v", s)
	}
	a := allowed(s)
	// What containerd allows and podlock relies on, and what it keeps for
	// containers with more capabilities.
	for _, n := range []string{"execve", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
		"seccomp", "prctl", "rt_sigreturn", "futex", "prlimit64", "ptrace", "chroot", "mseal", "statmount"} {
		if !a[n] {
			t.Errorf("%s is not allowed", n)
		}
	}
	for _, n := range []string{"mount", "unshare", "setns", "bpf", "clone", "clone3", "personality", "reboot", "kexec_load", "open_by_handle_at"} {
		if a[n] {
			t.Errorf("%s is allowed without conditions", n)
		}
	}
	if runtime.GOARCH == "amd64" && !a["arch_prctl"] {
		t.Error("arch_prctl is not allowed on amd64")
	}
	var personas []uint64
	var clone, clone3 bool
	for _, r := range s.Syscalls {
		switch r.Names[0] {
		case "personality":
			personas = append(personas, r.Args[0].Value)
		case "clone":
			clone = len(r.Args) == 1 && r.Args[0].Op == v1alpha1.OpMaskedEqual && r.Args[0].Value == 0x7e020000 && r.Args[0].ValueTwo == 0
		case "clone3":
			clone3 = r.Action == v1alpha1.ActionErrno && r.ErrnoRet != nil && *r.ErrnoRet == 38
		}
	}
	if !slices.Equal(personas, []uint64{0, 8, 0x20000, 0x20008, 0xffffffff}) || !clone || !clone3 {
		t.Fatalf("conditional rules: personality %#x, clone %v, clone3 ENOSYS %v", personas, clone, clone3)
	}
}

func TestAudit(t *testing.T) {
	s, _ := Get(Audit)
	if s.DefaultAction != v1alpha1.ActionLog || len(s.Syscalls) != 0 {
		t.Fatalf("audit: %+v", s)
	}
}
