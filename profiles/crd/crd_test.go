package crd_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/profile"
)

// controllerGenVersion must match the Makefile's CONTROLLER_GEN_VERSION.
const controllerGenVersion = "v0.23.0"

// repoRoot is the module root: tests run in their package directory,
// profiles/crd. (runtime.Caller would give a module path under -trimpath.)
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil ||
		!bytes.Contains(data, []byte("module github.com/kubewarden/podlock\n")) {
		t.Fatalf("%s is not podlock's module root (%v)", root, err)
	}
	return root
}

// toolsDir is where the test tools live, as for tests/internal/kube:
// $PODLOCK_TOOLS_DIR, else $PODLOCK_TOOLS_CACHE/bin, else
// <repo>/.cache/tools/bin (which `make clean` removes).
func toolsDir(root string) string {
	if d := os.Getenv("PODLOCK_TOOLS_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("PODLOCK_TOOLS_CACHE"); d != "" {
		return filepath.Join(d, "bin")
	}
	return filepath.Join(root, ".cache", "tools", "bin")
}

// controllerGen returns the path of controller-gen at controllerGenVersion,
// installing it into the tools directory with `go install` when it is
// missing or another version. When it cannot be installed the test is
// skipped, or fails if PODLOCK_NO_SKIP is set.
func controllerGen(t *testing.T, root string) string {
	t.Helper()
	dir := toolsDir(root)
	bin := filepath.Join(dir, "controller-gen")
	if out, err := exec.Command(bin, "--version").Output(); err == nil &&
		strings.TrimSpace(string(out)) == "Version: "+controllerGenVersion {
		return bin
	}
	cmd := exec.Command("go", "install", "sigs.k8s.io/controller-tools/cmd/controller-gen@"+controllerGenVersion)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		why := fmt.Sprintf("cannot install controller-gen %s into %s: %v\n%s", controllerGenVersion, dir, err, out)
		if os.Getenv("PODLOCK_NO_SKIP") != "" {
			t.Fatalf("%s(PODLOCK_NO_SKIP is set)", why)
		}
		t.Skip("skipping: " + why)
	}
	return bin
}

// TestManifestsUpToDate regenerates the CRDs and the deepcopy functions
// from the Go types into a temporary directory, the way `make generate`
// does, and fails if what is committed differs.
func TestManifestsUpToDate(t *testing.T) {
	root := repoRoot(t)
	bin := controllerGen(t, root)
	tmp := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("controller-gen %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// The same generator options as the Makefile's generate target.
	run("crd:crdVersions=v1", "paths=./profiles/crd", "paths=./profiles/v1alpha1", "output:crd:dir="+filepath.Join(tmp, "crds"))
	// One package at a time: the deepcopy files of both are named alike.
	for _, pkg := range []string{"crd", "v1alpha1"} {
		run("object", "paths=./profiles/"+pkg, "output:object:dir="+filepath.Join(tmp, pkg))
	}

	compareDir(t, filepath.Join(tmp, "crds"), filepath.Join(root, "install", "crds"), "install/crds")
	for _, pkg := range []string{"crd", "v1alpha1"} {
		compareFile(t, filepath.Join(tmp, pkg, "zz_generated.deepcopy.go"),
			filepath.Join(root, "profiles", pkg, "zz_generated.deepcopy.go"), "profiles/"+pkg+"/zz_generated.deepcopy.go")
	}
}

func compareDir(t *testing.T, generated, committed, name string) {
	t.Helper()
	want, err := filepath.Glob(filepath.Join(generated, "*"))
	if err != nil || len(want) == 0 {
		t.Fatalf("controller-gen generated no CRD (%v)", err)
	}
	have, _ := filepath.Glob(filepath.Join(committed, "*"))
	for _, f := range have {
		if !slices.Contains(want, filepath.Join(generated, filepath.Base(f))) {
			t.Errorf("%s/%s is not generated from the Go types any more: remove it and run make generate", name, filepath.Base(f))
		}
	}
	for _, f := range want {
		compareFile(t, f, filepath.Join(committed, filepath.Base(f)), name+"/"+filepath.Base(f))
	}
}

func compareFile(t *testing.T, generated, committed, name string) {
	t.Helper()
	want, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(committed)
	if os.IsNotExist(err) {
		t.Errorf("%s is missing: run make generate", name)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(want, have) {
		return
	}
	wl, hl := strings.Split(string(want), "\n"), strings.Split(string(have), "\n")
	i := 0
	for i < len(wl) && i < len(hl) && wl[i] == hl[i] {
		i++
	}
	line := func(l []string) string {
		if i < len(l) {
			return l[i]
		}
		return "(end of file)"
	}
	t.Errorf("%s is out of date with the Go types: run make generate\nfirst difference, line %d:\n  generated: %s\n  committed: %s",
		name, i+1, line(wl), line(hl))
}

// TestSeccompEnums checks that the enums of the SeccompProfile CRD accept
// exactly what podlock-runtime accepts, so that the API server neither
// rejects a profile the runtime could use nor stores one it will refuse.
func TestSeccompEnums(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "install", "crds", "podlock.kubewarden.io_seccompprofiles.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	spec := lookup(t, crd, "spec", "versions", 0, "schema", "openAPIV3Schema", "properties", "spec", "properties")
	rule := lookup(t, spec, "syscalls", "items", "properties")
	enums := map[string][]string{
		"defaultAction": enum(t, lookup(t, spec, "defaultAction")),
		"action":        enum(t, lookup(t, rule, "action")),
		"architectures": enum(t, lookup(t, spec, "architectures", "items")),
		"flags":         enum(t, lookup(t, spec, "flags", "items")),
		"op":            enum(t, lookup(t, rule, "args", "items", "properties", "op")),
	}
	if !slices.Equal(enums["defaultAction"], enums["action"]) {
		t.Errorf("defaultAction enum %v differs from action enum %v", enums["defaultAction"], enums["action"])
	}

	allowExecve := v1alpha1.SyscallRule{Names: []string{"execve"}, Action: v1alpha1.ActionAllow}
	accepted := map[string]func(string) error{
		"action": func(a string) error {
			return profile.Validate(&v1alpha1.SeccompProfileSpec{
				DefaultAction: v1alpha1.ActionAllow,
				Syscalls:      []v1alpha1.SyscallRule{{Names: []string{"mkdir"}, Action: v1alpha1.Action(a)}, allowExecve},
			})
		},
		"architectures": func(a string) error {
			if !profile.KnownArch(v1alpha1.Arch(a)) {
				return fmt.Errorf("unknown architecture")
			}
			return nil
		},
		"flags": func(f string) error {
			_, err := profile.Flags(&v1alpha1.SeccompProfileSpec{Flags: []v1alpha1.Flag{v1alpha1.Flag(f)}})
			return err
		},
		"op": func(op string) error {
			return profile.Validate(&v1alpha1.SeccompProfileSpec{
				DefaultAction: v1alpha1.ActionAllow,
				Syscalls: []v1alpha1.SyscallRule{{Names: []string{"mkdir"}, Action: v1alpha1.ActionErrno,
					Args: []v1alpha1.ArgCondition{{Index: 1, Value: 1, Op: v1alpha1.Operator(op)}}}, allowExecve},
			})
		},
	}
	// Candidates: every value of the OCI format and a few that are not.
	candidates := map[string][]string{
		"action": {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL",
			"SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_DENY"},
		"architectures": {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
			"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
			"SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
			"SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
			"SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB", "SCMP_ARCH_NATIVE", "SCMP_ARCH_Z80"},
		"flags": {"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC",
			"SECCOMP_FILTER_FLAG_NEW_LISTENER", "SECCOMP_FILTER_FLAG_TSYNC_ESRCH", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"},
		"op": {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
			"SCMP_CMP_MASKED_EQ", "SCMP_CMP_EQUAL"},
	}
	for field, check := range accepted {
		for _, v := range enums[field] {
			if !slices.Contains(candidates[field], v) {
				t.Errorf("%s: enum value %s is not a candidate of this test: add it", field, v)
			}
		}
		for _, v := range candidates[field] {
			err := check(v)
			switch inEnum := slices.Contains(enums[field], v); {
			case inEnum && err != nil:
				t.Errorf("%s: the CRD accepts %s, podlock-runtime refuses it: %v", field, v, err)
			case !inEnum && err == nil:
				t.Errorf("%s: podlock-runtime accepts %s, the CRD's enum lacks it", field, v)
			}
		}
	}
}

// lookup walks a decoded YAML document by map keys and list indexes.
func lookup(t *testing.T, v any, path ...any) map[string]any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: %q is not in an object", path, k)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", path, k)
			}
			v = l[k]
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v: not an object: %v", path, v)
	}
	return m
}

func enum(t *testing.T, schema map[string]any) []string {
	t.Helper()
	var out []string
	for _, v := range schema["enum"].([]any) {
		out = append(out, v.(string))
	}
	if len(out) == 0 {
		t.Fatalf("no enum in %v", schema)
	}
	return out
}
