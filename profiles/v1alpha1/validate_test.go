package v1alpha1

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"strict", true},
		{"a", true},
		{"0", true},
		{"web-1", true},
		{"strict.v2", true},
		{"a.b.c", true},
		{strings.Repeat("a", 253), true},
		{strings.Repeat("a", 63) + "." + strings.Repeat("b", 63), true},
		{"", false},
		{strings.Repeat("a", 254), false},
		{"Strict", false},
		{"-a", false},
		{"a-", false},
		{".a", false},
		{"a.", false},
		{"a..b", false},
		{"a_b", false},
		{"a/b", false},
		{"..", false},
		{"../etc", false},
		{"a b", false},
		{"a\n", false},
		{"é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.name)
			if tt.ok && err != nil {
				t.Errorf("ValidateName(%q) = %v, want nil", tt.name, err)
			}
			if !tt.ok {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("ValidateName(%q) = %v, want ErrInvalid", tt.name, err)
				} else if !strings.Contains(err.Error(), "DNS-1123 subdomain") {
					t.Errorf("ValidateName(%q) = %v, want it to say what is expected", tt.name, err)
				}
			}
		})
	}
}

func TestValidateLabel(t *testing.T) {
	tests := []struct {
		s  string
		ok bool
	}{
		{"default", true},
		{"kube-system", true},
		{"a", true},
		{"1a", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"a.b", false},
		{"A", false},
		{"-a", false},
		{"a-", false},
		{"a_b", false},
		{"a/b", false},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			err := ValidateLabel("namespace", tt.s)
			if tt.ok && err != nil {
				t.Errorf("ValidateLabel(%q) = %v, want nil", tt.s, err)
			}
			if !tt.ok {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("ValidateLabel(%q) = %v, want ErrInvalid", tt.s, err)
				} else if !strings.HasPrefix(err.Error(), "namespace ") {
					t.Errorf("ValidateLabel(%q) = %v, want it to name what is wrong", tt.s, err)
				}
			}
		})
	}
}

func TestValidatePath(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
	}{
		{"/", true},
		{"/bin/sh", true},
		{"/usr/lib/x86_64-linux-gnu", true},
		{"/a..b", true},
		{"/..a", true},
		{"/a/...", true},
		{"/with space", true},
		{"", false},
		{"bin/sh", false},
		{"./bin/sh", false},
		{"../bin", false},
		{"/bin/../etc", false},
		{"/..", false},
		{"/bin/..", false},
		{"/bin/.", false},
		{"/./bin", false},
		{"//bin", false},
		{"/bin//sh", false},
		{"/bin/", false},
		{"/tmp/", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			err := validatePath(tt.path)
			if tt.ok != (err == nil) {
				t.Errorf("validatePath(%q) = %v, want ok %v", tt.path, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("validatePath(%q) = %v, want ErrInvalid", tt.path, err)
			}
		})
	}
}

func TestLandlockProfileSpecValidate(t *testing.T) {
	tests := []struct {
		name string
		spec LandlockProfileSpec
		// errs are substrings that must each appear in the error; none
		// means the spec is valid.
		errs []string
	}{
		{name: "empty spec", spec: LandlockProfileSpec{}},
		{name: "record", spec: LandlockProfileSpec{Mode: ModeRecord}},
		{name: "enforce", spec: LandlockProfileSpec{Mode: ModeEnforce, ContainerWide: map[string]AccessRules{"app": {}}}},
		{
			name: "record with rules",
			spec: LandlockProfileSpec{Mode: ModeRecord, SeccompByContainer: map[string]ProfileName{"app": "runtime-default"}},
			errs: []string{"spec.mode: a profile in mode Record confines nothing"},
		},
		{
			name: "unknown mode",
			spec: LandlockProfileSpec{Mode: "Learn"},
			errs: []string{`spec.mode: "Learn" is neither Enforce nor Record`},
		},
		{
			name: "valid everything",
			spec: LandlockProfileSpec{
				ProfilesByContainer: map[string]BinaryRules{
					"app": {
						"/bin/sh":       {ReadOnly: []string{"/etc"}, ReadWrite: []string{"/tmp"}},
						"/usr/bin/curl": {ReadExec: []string{"/usr/lib"}, ReadWriteExec: []string{"/var/run"}},
					},
				},
				ContainerWide:      map[string]AccessRules{"app": {ReadOnly: []string{"/"}}, "side-car": {}},
				SeccompByContainer: map[string]ProfileName{"app": "runtime-default", "side-car": "my.profile"},
				BestEffort:         true,
			},
		},
		{
			name: "binary path relative",
			spec: LandlockProfileSpec{ProfilesByContainer: map[string]BinaryRules{"app": {"bin/sh": {}}}},
			errs: []string{`spec.profilesByContainer[app][bin/sh]: path "bin/sh" is not absolute`},
		},
		{
			name: "binary named like a replaced executable",
			spec: LandlockProfileSpec{ProfilesByContainer: map[string]BinaryRules{"app": {"/bin/sh (deleted)": {}}}},
			errs: []string{`spec.profilesByContainer[app][/bin/sh (deleted)]: binary names must not end in " (deleted)"`},
		},
		{
			name: "binary path with ..",
			spec: LandlockProfileSpec{ProfilesByContainer: map[string]BinaryRules{"app": {"/bin/../sh": {}}}},
			errs: []string{`spec.profilesByContainer[app][/bin/../sh]: path "/bin/../sh" is not clean`},
		},
		{
			name: "rule paths",
			spec: LandlockProfileSpec{ProfilesByContainer: map[string]BinaryRules{"app": {"/bin/sh": {
				ReadOnly:      []string{"/etc", "etc"},
				ReadWrite:     []string{"/tmp/"},
				ReadExec:      []string{"/usr//lib"},
				ReadWriteExec: []string{"/ok", "/a/../b"},
			}}}},
			errs: []string{
				`spec.profilesByContainer[app][/bin/sh].readOnly[1]: path "etc" is not absolute`,
				`spec.profilesByContainer[app][/bin/sh].readWrite[0]: path "/tmp/" is not clean`,
				`spec.profilesByContainer[app][/bin/sh].readExec[0]: path "/usr//lib" is not clean`,
				`spec.profilesByContainer[app][/bin/sh].readWriteExec[1]: path "/a/../b" is not clean`,
			},
		},
		{
			name: "empty binary map",
			spec: LandlockProfileSpec{ProfilesByContainer: map[string]BinaryRules{"app": {}}},
			errs: []string{"spec.profilesByContainer[app]: lists no binary"},
		},
		{
			name: "nil binary map",
			spec: LandlockProfileSpec{ProfilesByContainer: map[string]BinaryRules{"app": nil}},
			errs: []string{"spec.profilesByContainer[app]: lists no binary"},
		},
		{
			name: "bad container names",
			spec: LandlockProfileSpec{
				ProfilesByContainer: map[string]BinaryRules{"App": {"/bin/sh": {}}},
				ContainerWide:       map[string]AccessRules{"a.b": {}, "": {}},
				SeccompByContainer:  map[string]ProfileName{"a_b": "runtime-default", strings.Repeat("x", 64): "runtime-default"},
			},
			errs: []string{
				`spec.profilesByContainer[App]: container name "App"`,
				`spec.containerWide[a.b]: container name "a.b"`,
				`spec.containerWide[]: container name ""`,
				`spec.seccompByContainer[a_b]: container name "a_b"`,
				`spec.seccompByContainer[` + strings.Repeat("x", 64) + `]: container name`,
			},
		},
		{
			name: "every other container",
			spec: LandlockProfileSpec{ContainerWide: map[string]AccessRules{AllContainers: {ReadOnly: []string{"/etc"}}, "app": {}}},
		},
		{
			// Only container-wide rules can apply to containers the
			// profile cannot name.
			name: "every other container outside containerWide",
			spec: LandlockProfileSpec{
				ProfilesByContainer: map[string]BinaryRules{"*": {"/bin/sh": {}}},
				SeccompByContainer:  map[string]ProfileName{"*": "runtime-default"},
			},
			errs: []string{
				`spec.profilesByContainer[*]: container name "*"`,
				`spec.seccompByContainer[*]: container name "*"`,
			},
		},
		{
			name: "container-wide paths",
			spec: LandlockProfileSpec{ContainerWide: map[string]AccessRules{"app": {ReadOnly: []string{"relative"}}}},
			errs: []string{`spec.containerWide[app].readOnly[0]: path "relative" is not absolute`},
		},
		{
			name: "bad seccomp profile names",
			spec: LandlockProfileSpec{SeccompByContainer: map[string]ProfileName{"a": "", "b": "Runtime/Default", "c": "../x"}},
			errs: []string{
				`spec.seccompByContainer[a]: name ""`,
				`spec.seccompByContainer[b]: name "Runtime/Default"`,
				`spec.seccompByContainer[c]: name "../x"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			if len(tt.errs) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want ErrInvalid", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.errs) {
				t.Errorf("Validate() reports %d problems, want %d:\n%v", len(lines), len(tt.errs), err)
			}
			for _, want := range tt.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = \n%v\nwant it to contain %q", err, want)
				}
			}
		})
	}
}

// TestValidateOrder: problems are reported in a stable order, so that the
// same profile always gives the same message.
func TestValidateOrder(t *testing.T) {
	spec := LandlockProfileSpec{ProfilesByContainer: map[string]BinaryRules{
		"c": {"x": {}}, "a": {"y": {}}, "b": {"z": {}, "w": {}},
	}}
	first := spec.Validate().Error()
	for range 20 {
		if got := spec.Validate().Error(); got != first {
			t.Fatalf("Validate() is not stable:\n%s\nthen\n%s", first, got)
		}
	}
	want := []string{"[a][y]", "[b][w]", "[b][z]", "[c][x]"}
	lines := strings.Split(first, "\n")
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %q, want %s", i, lines[i], w)
		}
	}
}

func TestAccessRulesEmpty(t *testing.T) {
	tests := []struct {
		r    AccessRules
		want bool
	}{
		{AccessRules{}, true},
		{AccessRules{ReadOnly: []string{}}, true},
		{AccessRules{ReadOnly: []string{"/"}}, false},
		{AccessRules{ReadWrite: []string{"/"}}, false},
		{AccessRules{ReadExec: []string{"/"}}, false},
		{AccessRules{ReadWriteExec: []string{"/"}}, false},
	}
	for _, tt := range tests {
		if got := tt.r.Empty(); got != tt.want {
			t.Errorf("%+v.Empty() = %v, want %v", tt.r, got, tt.want)
		}
	}
}

func TestConfines(t *testing.T) {
	spec := &LandlockProfileSpec{
		ProfilesByContainer: map[string]BinaryRules{"bin": {"/bin/sh": {}}},
		ContainerWide:       map[string]AccessRules{"wide": {}},
		SeccompByContainer:  map[string]ProfileName{"sec": "runtime-default"},
	}
	for container, want := range map[string]bool{"bin": true, "wide": true, "sec": true, "other": false, "": false} {
		if got := spec.Confines(container); got != want {
			t.Errorf("Confines(%q) = %v, want %v", container, got, want)
		}
	}
	spec.ContainerWide[AllContainers] = AccessRules{}
	for container, want := range map[string]bool{"bin": true, "wide": true, "sec": true, "other": true, "debugger-x7k2p": true} {
		if got := spec.Confines(container); got != want {
			t.Errorf("with %q: Confines(%q) = %v, want %v", AllContainers, container, got, want)
		}
	}
}

// The AllContainers entry applies to the containers the profile gives no
// Landlock rules of their own: not to those it names in
// profilesByContainer or containerWide, but to those it only filters with
// seccomp.
func TestContainerWideRules(t *testing.T) {
	every := AccessRules{ReadOnly: []string{"/every"}}
	own := AccessRules{ReadOnly: []string{"/own"}}
	spec := &LandlockProfileSpec{
		ProfilesByContainer: map[string]BinaryRules{"bin": {"/bin/sh": {}}},
		ContainerWide:       map[string]AccessRules{"wide": own, AllContainers: every},
		SeccompByContainer:  map[string]ProfileName{"sec": "runtime-default"},
	}
	for _, tc := range []struct {
		container string
		want      *AccessRules
	}{
		{"wide", &own},
		{"bin", nil},
		{"sec", &every},
		{"other", &every},
	} {
		got, ok := spec.ContainerWideRules(tc.container)
		if ok != (tc.want != nil) || ok && !reflect.DeepEqual(got, *tc.want) {
			t.Errorf("ContainerWideRules(%q) = %+v, %v; want %+v", tc.container, got, ok, tc.want)
		}
	}
	delete(spec.ContainerWide, AllContainers)
	if got, ok := spec.ContainerWideRules("other"); ok {
		t.Errorf("without %q: ContainerWideRules(other) = %+v, want none", AllContainers, got)
	}
}
