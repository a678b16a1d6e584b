package dir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/profiles"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

const strictYAML = `apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: strict
  namespace: team-a
spec:
  profilesByContainer:
    app:
      /bin/sh:
        readOnly: [/etc]
        readWrite: [/tmp]
  seccompByContainer:
    app: tight
`

var strictSpec = v1alpha1.LandlockProfileSpec{
	ProfilesByContainer: map[string]v1alpha1.BinaryRules{
		"app": {"/bin/sh": {ReadOnly: []string{"/etc"}, ReadWrite: []string{"/tmp"}}},
	},
	SeccompByContainer: map[string]v1alpha1.ProfileName{"app": "tight"},
}

const tightYAML = `apiVersion: podlock.kubewarden.io/v1alpha1
kind: SeccompProfile
metadata:
  name: tight
  namespace: team-a
spec:
  baseProfileName: runtime-default
  syscalls:
  - names: [ptrace]
    action: SCMP_ACT_ERRNO
`

// landlock returns a minimal LandlockProfile manifest.
func landlock(name, namespace string) string {
	m := "apiVersion: podlock.kubewarden.io/v1alpha1\nkind: LandlockProfile\nmetadata:\n  name: " + name + "\n"
	if namespace != "" {
		m += "  namespace: " + namespace + "\n"
	}
	return m + "spec:\n  containerWide:\n    app:\n      readOnly: [/" + name + "]\n"
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		file := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLandlockProfile(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		ref   profiles.Ref
		// want is the readOnly path of the containerWide app rules of the
		// profile found, or "strict" for strictSpec.
		want string
		// wantIs and wantErr describe an expected error: a class for
		// errors.Is and substrings ("DIR" is the directory).
		wantIs  error
		wantErr []string
	}{
		{
			name:  "single document",
			files: map[string]string{"strict.yaml": strictYAML},
			ref:   profiles.Ref{Namespace: "team-a", Name: "strict"},
			want:  "strict",
		},
		{
			name: "multi-document file",
			files: map[string]string{"all.yaml": "---\n" + landlock("one", "team-a") + "---\n" + tightYAML +
				"--- # the profile\n" + strictYAML + "---   \n" + landlock("two", "team-a") + "---\n"},
			ref:  profiles.Ref{Namespace: "team-a", Name: "strict"},
			want: "strict",
		},
		{
			name:  "last document of a file, CRLF",
			files: map[string]string{"all.yaml": strings.ReplaceAll(landlock("one", "ns")+"---\n"+landlock("two", "ns"), "\n", "\r\n")},
			ref:   profiles.Ref{Namespace: "ns", Name: "two"},
			want:  "/two",
		},
		{
			name:  "empty and comment-only documents",
			files: map[string]string{"all.yaml": "# header\n---\n\n---\n# nothing\n---\n" + landlock("p", "ns") + "---\n"},
			ref:   profiles.Ref{Namespace: "ns", Name: "p"},
			want:  "/p",
		},
		{
			name:  "separator-like lines inside a document",
			files: map[string]string{"p.yaml": landlock("p", "ns") + "  # ---\n"},
			ref:   profiles.Ref{Namespace: "ns", Name: "p"},
			want:  "/p",
		},
		{
			name:  ".yml",
			files: map[string]string{"p.yml": landlock("p", "ns")},
			ref:   profiles.Ref{Namespace: "ns", Name: "p"},
			want:  "/p",
		},
		{
			name:  ".YAML",
			files: map[string]string{"P.YAML": landlock("p", "ns")},
			ref:   profiles.Ref{Namespace: "ns", Name: "p"},
			want:  "/p",
		},
		{
			name: ".json",
			files: map[string]string{"p.json": `{"apiVersion": "podlock.kubewarden.io/v1alpha1", "kind": "LandlockProfile",
				"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containerWide": {"app": {"readOnly": ["/p"]}}}}`},
			ref:  profiles.Ref{Namespace: "ns", Name: "p"},
			want: "/p",
		},
		{
			name:  "no namespace is default",
			files: map[string]string{"p.yaml": landlock("p", "")},
			ref:   profiles.Ref{Namespace: "default", Name: "p"},
			want:  "/p",
		},
		{
			name:    "no namespace is not another namespace",
			files:   map[string]string{"p.yaml": landlock("p", "")},
			ref:     profiles.Ref{Namespace: "team-a", Name: "p"},
			wantIs:  profiles.ErrNotFound,
			wantErr: []string{"LandlockProfile team-a/p", "no manifest in DIR"},
		},
		{
			name: "same name in other namespaces and kinds",
			files: map[string]string{
				"a.yaml": landlock("p", "a"),
				"b.yaml": landlock("p", "b"),
				"c.yaml": strings.Replace(tightYAML, "name: tight", "name: p", 1),
			},
			ref:  profiles.Ref{Namespace: "b", Name: "p"},
			want: "/p",
		},
		{
			name: "other files are ignored",
			files: map[string]string{
				"p.yaml":          landlock("p", "ns"),
				"notes.txt":       "not: [yaml",
				".hidden.yaml":    landlock("p", "ns"),
				"sub/p.yaml":      landlock("p", "ns"),
				"p.yaml.bak":      landlock("p", "ns"),
				"README":          "---",
				".editor.swp.yml": "{{{",
			},
			ref:  profiles.Ref{Namespace: "ns", Name: "p"},
			want: "/p",
		},
		{
			name:    "defined twice in two files",
			files:   map[string]string{"a.yaml": landlock("p", "ns"), "b.yml": "---\n" + landlock("p", "ns")},
			ref:     profiles.Ref{Namespace: "ns", Name: "p"},
			wantErr: []string{"LandlockProfile ns/p is defined twice", "DIR/a.yaml document 1", "DIR/b.yml document 1"},
		},
		{
			name:    "defined twice in one file",
			files:   map[string]string{"a.yaml": landlock("p", "ns") + "---\n" + landlock("q", "ns") + "---\n" + landlock("p", "ns")},
			ref:     profiles.Ref{Namespace: "ns", Name: "p"},
			wantErr: []string{"defined twice", "DIR/a.yaml document 1", "DIR/a.yaml document 3"},
		},
		{
			name:    "defined twice, once without namespace",
			files:   map[string]string{"a.yaml": landlock("p", ""), "b.yaml": landlock("p", "default")},
			ref:     profiles.Ref{Namespace: "default", Name: "p"},
			wantErr: []string{"defined twice", "DIR/a.yaml", "DIR/b.yaml"},
		},
		{
			name:    "wrong apiVersion",
			files:   map[string]string{"p.yaml": strings.Replace(landlock("p", "ns"), "v1alpha1", "v1beta1", 1)},
			ref:     profiles.Ref{Namespace: "ns", Name: "p"},
			wantErr: []string{"DIR/p.yaml document 1", `apiVersion "podlock.kubewarden.io/v1beta1", want "podlock.kubewarden.io/v1alpha1"`},
		},
		{
			name:    "malformed YAML in another file fails the lookup",
			files:   map[string]string{"good.yaml": landlock("p", "ns"), "bad.yaml": "apiVersion: [\n"},
			ref:     profiles.Ref{Namespace: "ns", Name: "p"},
			wantErr: []string{"parsing DIR/bad.yaml document 1"},
		},
		{
			name:    "malformed second document",
			files:   map[string]string{"p.yaml": landlock("q", "ns") + "---\nkind: {\n"},
			ref:     profiles.Ref{Namespace: "ns", Name: "p"},
			wantErr: []string{"parsing DIR/p.yaml document 2"},
		},
		{
			name:    "duplicate key",
			files:   map[string]string{"p.yaml": landlock("p", "ns") + "kind: LandlockProfile\n"},
			ref:     profiles.Ref{Namespace: "ns", Name: "p"},
			wantErr: []string{"parsing DIR/p.yaml document 1"},
		},
		{
			name: "JSON document naming the profile twice",
			files: map[string]string{"p.json": `{"apiVersion": "podlock.kubewarden.io/v1alpha1", "kind": "LandlockProfile",
				"metadata": {"name": "q", "namespace": "ns", "name": "p"}, "spec": {"containerWide": {"app": {"readOnly": ["/p"]}}}}`},
			ref:     profiles.Ref{Namespace: "ns", Name: "p"},
			wantErr: []string{"DIR/p.json document 1", `duplicate field "metadata.name"`},
		},
		{
			name: "JSON document with a rule given twice",
			files: map[string]string{"p.json": `{"apiVersion": "podlock.kubewarden.io/v1alpha1", "kind": "LandlockProfile",
				"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containerWide": {"app": {"readOnly": ["/p"], "readOnly": []}}}}`},
			ref:     profiles.Ref{Namespace: "ns", Name: "p"},
			wantErr: []string{"DIR/p.json document 1", `duplicate field "spec.containerWide.app.readOnly"`},
		},
		{
			name:  "YAML flow mapping that is not JSON",
			files: map[string]string{"p.yaml": `{apiVersion: podlock.kubewarden.io/v1alpha1, kind: LandlockProfile, metadata: {name: p, namespace: ns}, spec: {containerWide: {app: {readOnly: [/p]}}}}`},
			ref:   profiles.Ref{Namespace: "ns", Name: "p"},
			want:  "/p",
		},
		{
			name:    "document that is not an object",
			files:   map[string]string{"p.yaml": "- a\n- b\n"},
			ref:     profiles.Ref{Namespace: "ns", Name: "p"},
			wantErr: []string{"DIR/p.yaml document 1"},
		},
		{
			name:    "unknown spec field",
			files:   map[string]string{"p.yaml": landlock("p", "ns") + "  bestEfort: true\n"},
			ref:     profiles.Ref{Namespace: "ns", Name: "p"},
			wantErr: []string{"DIR/p.yaml document 1", `unknown field "spec.bestEfort"`},
		},
		{
			name:    "invalid spec",
			files:   map[string]string{"p.yaml": strings.Replace(landlock("p", "ns"), "[/p]", "[relative]", 1)},
			ref:     profiles.Ref{Namespace: "ns", Name: "p"},
			wantIs:  v1alpha1.ErrInvalid,
			wantErr: []string{"LandlockProfile ns/p (in DIR)", `path "relative" is not absolute`},
		},
		{
			name:    "not found",
			files:   map[string]string{"p.yaml": landlock("p", "ns")},
			ref:     profiles.Ref{Namespace: "ns", Name: "q"},
			wantIs:  profiles.ErrNotFound,
			wantErr: []string{"LandlockProfile ns/q"},
		},
		{
			name:    "only a SeccompProfile of that name",
			files:   map[string]string{"tight.yaml": tightYAML},
			ref:     profiles.Ref{Namespace: "team-a", Name: "tight"},
			wantIs:  profiles.ErrNotFound,
			wantErr: []string{"LandlockProfile team-a/tight"},
		},
		{
			name:    "empty directory",
			files:   map[string]string{},
			ref:     profiles.Ref{Namespace: "ns", Name: "p"},
			wantIs:  profiles.ErrNotFound,
			wantErr: []string{"no manifest in DIR"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			got, err := Source{Dir: dir}.LandlockProfile(context.Background(), tt.ref)
			if tt.wantIs != nil || tt.wantErr != nil {
				if err == nil {
					t.Fatalf("LandlockProfile() = %+v, want an error", got)
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("LandlockProfile() error = %v, want %v", err, tt.wantIs)
				}
				if tt.wantIs == nil && errors.Is(err, profiles.ErrNotFound) {
					t.Errorf("LandlockProfile() error = %v must not be ErrNotFound", err)
				}
				for _, want := range tt.wantErr {
					want = strings.ReplaceAll(want, "DIR", dir)
					if !strings.Contains(err.Error(), want) {
						t.Errorf("LandlockProfile() error = %v\nwant it to contain %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("LandlockProfile() error = %v", err)
			}
			if got.Kind != v1alpha1.KindLandlockProfile || got.APIVersion != v1alpha1.APIVersion || got.Metadata.Name != tt.ref.Name {
				t.Errorf("LandlockProfile() = %+v", got)
			}
			if tt.want == "strict" {
				if !reflect.DeepEqual(got.Spec, strictSpec) {
					t.Errorf("spec = %+v, want %+v", got.Spec, strictSpec)
				}
				return
			}
			if ro := got.Spec.ContainerWide["app"].ReadOnly; len(ro) != 1 || ro[0] != tt.want {
				t.Errorf("spec = %+v, want containerWide app readOnly [%s]", got.Spec, tt.want)
			}
		})
	}
}

func TestSeccompProfile(t *testing.T) {
	dir := writeFiles(t, map[string]string{"all.yaml": strictYAML + "---\n" + tightYAML})
	src := Source{Dir: dir}
	got, err := src.SeccompProfile(context.Background(), profiles.Ref{Namespace: "team-a", Name: "tight"})
	if err != nil {
		t.Fatalf("SeccompProfile() error = %v", err)
	}
	want := v1alpha1.SeccompProfileSpec{
		BaseProfileName: "runtime-default",
		Syscalls:        []v1alpha1.SyscallRule{{Names: []string{"ptrace"}, Action: v1alpha1.ActionErrno}},
	}
	if got.Kind != v1alpha1.KindSeccompProfile || got.Metadata.Namespace != "team-a" || !reflect.DeepEqual(got.Spec, want) {
		t.Errorf("SeccompProfile() = %+v", got)
	}

	for _, ref := range []profiles.Ref{
		{Namespace: "team-a", Name: "strict"}, // a LandlockProfile
		{Namespace: "team-b", Name: "tight"},
	} {
		if _, err := src.SeccompProfile(context.Background(), ref); !errors.Is(err, profiles.ErrNotFound) {
			t.Errorf("SeccompProfile(%s) error = %v, want ErrNotFound", ref, err)
		}
	}

	bad := writeFiles(t, map[string]string{"s.yaml": tightYAML + "  unknownField: 1\n"})
	if _, err := (Source{Dir: bad}).SeccompProfile(context.Background(), profiles.Ref{Namespace: "team-a", Name: "tight"}); err == nil ||
		!strings.Contains(err.Error(), `unknown field "spec.unknownField"`) {
		t.Errorf("SeccompProfile() with an unknown field: %v", err)
	}
}

func TestDirectoryErrors(t *testing.T) {
	tmp := t.TempDir()
	notDir := filepath.Join(tmp, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		dir    string
		wantIs error
		not    error
	}{
		{name: "missing directory", dir: filepath.Join(tmp, "missing"), wantIs: profiles.ErrNotFound, not: profiles.ErrUnavailable},
		{name: "not a directory", dir: notDir, wantIs: profiles.ErrUnavailable, not: profiles.ErrNotFound},
	}
	ref := profiles.Ref{Namespace: "ns", Name: "p"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Source{Dir: tt.dir}
			_, lerr := src.LandlockProfile(context.Background(), ref)
			_, serr := src.SeccompProfile(context.Background(), ref)
			for _, err := range []error{lerr, serr} {
				if !errors.Is(err, tt.wantIs) || errors.Is(err, tt.not) {
					t.Errorf("error = %v, want %v and not %v", err, tt.wantIs, tt.not)
				}
				if err != nil && !strings.Contains(err.Error(), tt.dir) {
					t.Errorf("error = %v, want it to name %s", err, tt.dir)
				}
			}
		})
	}
}

// TestEditTakesEffect: every lookup reads the directory again.
func TestEditTakesEffect(t *testing.T) {
	dir := writeFiles(t, map[string]string{"p.yaml": landlock("p", "ns")})
	src := Source{Dir: dir}
	ref := profiles.Ref{Namespace: "ns", Name: "p"}
	if _, err := src.LandlockProfile(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(landlock("q", "ns")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := src.LandlockProfile(context.Background(), ref); !errors.Is(err, profiles.ErrNotFound) {
		t.Errorf("after the edit: %v, want ErrNotFound", err)
	}
}

func TestSplitDocuments(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "empty", in: "", want: nil},
		{name: "one", in: "a: 1\n", want: []string{"a: 1\n"}},
		{name: "leading separator", in: "---\na: 1\n", want: []string{"", "a: 1\n"}},
		{name: "two", in: "a: 1\n---\nb: 2\n", want: []string{"a: 1\n", "b: 2\n"}},
		{name: "trailing separator", in: "a: 1\n---\n", want: []string{"a: 1\n"}},
		{name: "separator without newline at the end", in: "a: 1\n---", want: []string{"a: 1\n"}},
		{name: "comment after separator", in: "a: 1\n--- # c\nb: 2", want: []string{"a: 1\n", "b: 2"}},
		{name: "tab after separator", in: "a: 1\n---\tx\nb: 2", want: []string{"a: 1\n", "b: 2"}},
		{name: "CRLF", in: "a: 1\r\n---\r\nb: 2\r\n", want: []string{"a: 1\r\n", "b: 2\r\n"}},
		{name: "not separators", in: "a: ---\n ---\n----\nb: '---'\n", want: []string{"a: ---\n ---\n----\nb: '---'\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range splitDocuments([]byte(tt.in)) {
				got = append(got, string(d))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("splitDocuments(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
