package oci

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/profile"
)

var (
	amd64Host = host{goarch: "amd64", native: "SCMP_ARCH_X86_64", kernel: [2]int{6, 18}, caps: defaultCaps}
	arm64Old  = host{goarch: "arm64", native: "SCMP_ARCH_AARCH64", kernel: [2]int{4, 4}, caps: defaultCaps}
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The three profiles of the Kubernetes seccomp tutorial load as they are.
func TestImportTutorialProfiles(t *testing.T) {
	tests := []struct {
		file          string
		defaultAction v1alpha1.Action
		arches        []v1alpha1.Arch
		names         int
	}{
		{"audit.json", v1alpha1.ActionLog, nil, 0},
		{"violation.json", v1alpha1.ActionErrno, nil, 0},
		{"fine-grained.json", v1alpha1.ActionErrno, []v1alpha1.Arch{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}, 50},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := Import(read(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if s.DefaultAction != tt.defaultAction || !slices.Equal(s.Architectures, tt.arches) {
				t.Fatalf("got %+v", s)
			}
			names := 0
			for _, r := range s.Syscalls {
				names += len(r.Names)
				if r.Action != v1alpha1.ActionAllow {
					t.Fatalf("rule %+v: want SCMP_ACT_ALLOW", r)
				}
			}
			if names != tt.names {
				t.Fatalf("%d system call names, want %d", names, tt.names)
			}
		})
	}
}

func TestImportMobyExtensions(t *testing.T) {
	data := read(t, "moby-style.json")
	tests := []struct {
		name   string
		host   host
		arches []v1alpha1.Arch
		kept   []string // first name of each rule kept
	}{
		{
			name:   "amd64, new kernel",
			host:   amd64Host,
			arches: []v1alpha1.Arch{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"},
			kept:   []string{"read", "getpid", "arch_prctl", "ptrace", "chroot", "clone", "clone3"},
		},
		{
			name:   "arm64, old kernel",
			host:   arm64Old,
			arches: []v1alpha1.Arch{"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"},
			kept:   []string{"read", "getpid", "set_tls", "chroot", "clone", "clone3", "io_uring_setup"},
		},
		{
			name: "no archMap entry",
			host: host{goarch: "riscv64", native: "SCMP_ARCH_RISCV64", kernel: [2]int{6, 18}, caps: defaultCaps},
			kept: []string{"read", "getpid", "ptrace", "chroot", "clone", "clone3"},
		},
		{
			name:   "CAP_SYS_ADMIN",
			host:   host{goarch: "amd64", native: "SCMP_ARCH_X86_64", kernel: [2]int{6, 18}, caps: []string{"CAP_SYS_ADMIN"}},
			arches: []v1alpha1.Arch{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"},
			kept:   []string{"read", "getpid", "arch_prctl", "ptrace", "mount"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := importFor(data, tt.host)
			if err != nil {
				t.Fatal(err)
			}
			var kept []string
			for _, r := range s.Syscalls {
				kept = append(kept, r.Names[0])
			}
			if !slices.Equal(kept, tt.kept) || !slices.Equal(s.Architectures, tt.arches) {
				t.Fatalf("kept %v on %v, want %v on %v", kept, s.Architectures, tt.kept, tt.arches)
			}
			if s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != 1 {
				t.Fatalf("defaultErrnoRet %v, want 1", s.DefaultErrnoRet)
			}
		})
	}
}

func TestImportKeepsRuleFields(t *testing.T) {
	s, err := importFor(read(t, "moby-style.json"), amd64Host)
	if err != nil {
		t.Fatal(err)
	}
	errno := uint(38)
	want := []v1alpha1.SyscallRule{
		{Names: []string{"clone"}, Action: v1alpha1.ActionAllow, Args: []v1alpha1.ArgCondition{{Index: 0, Value: 2114060288, Op: v1alpha1.OpMaskedEqual}}},
		{Names: []string{"clone3"}, Action: v1alpha1.ActionErrno, ErrnoRet: &errno},
	}
	if got := s.Syscalls[len(s.Syscalls)-2:]; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestImportRefuses(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"not JSON", `defaultAction: SCMP_ACT_LOG`, "decoding JSON"},
		{"wrong type", `{"syscalls": {"names": ["read"]}}`, "decoding JSON"},
		{"two documents", `{} {}`, "data after the profile"},
		{"name and names", `{"syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}`, "syscalls[0]: both name and names"},
		{"archMap and architectures", `{"architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}`, "both architectures and archMap"},
		{"bad minKernel", `{"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "six"}}]}`, `syscalls[0].includes: minKernel "six"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := importFor([]byte(tt.json), amd64Host)
			if !errors.Is(err, profile.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v: want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

func TestParseKernel(t *testing.T) {
	tests := []struct {
		in   string
		want [2]int
		ok   bool
	}{
		{"6.18.0-1-amd64", [2]int{6, 18}, true},
		{"4.8", [2]int{4, 8}, true},
		{"5.15-rc1", [2]int{5, 15}, true},
		{"6", [2]int{}, false},
		{"x.y", [2]int{}, false},
	}
	for _, tt := range tests {
		got, err := parseKernel(tt.in)
		if (err == nil) != tt.ok || tt.ok && got != tt.want {
			t.Errorf("parseKernel(%q) = %v, %v", tt.in, got, err)
		}
	}
}
