package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// decodeJSON decodes with exact numbers, for comparing documents.
func decodeJSON(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return v
}

// get walks a decoded document: keys for objects, ints for arrays.
func get(t *testing.T, doc any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := doc.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object at %q", path, k)
			}
			doc = m[k]
		case int:
			a, ok := doc.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("%v: no element %d", path, k)
			}
			doc = a[k]
		}
	}
	return doc
}

// newBundle copies a config into a new bundle directory.
func newBundle(t *testing.T, config []byte, mode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, ConfigName)
	if err := os.WriteFile(file, config, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readTestdata(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/config.json")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// confine makes the changes create.go makes.
func confine(t *testing.T, b *Bundle) {
	t.Helper()
	err := b.AddMounts(
		specs.Mount{Destination: "/.podlock", Type: "bind", Source: "/b/podlock", Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}},
		specs.Mount{Destination: "/.podlock/helper", Type: "bind", Source: "/usr/lib/podlock/podlock-helper", Options: []string{"bind", "ro", "nosuid", "nodev"}},
	)
	if err != nil {
		t.Fatalf("AddMounts() = %v", err)
	}
	hook := specs.Hook{Path: "/usr/bin/podlock-runtime", Args: []string{"podlock-runtime", "interpose", "/b/podlock/interpose.json"}}
	if err := b.AddCreateContainerHooks(hook); err != nil {
		t.Fatalf("AddCreateContainerHooks() = %v", err)
	}
	err = b.EditProcess(func(p ProcessEditor) error {
		p.SetNoNewPrivileges()
		return p.PrependArgs("/.podlock/helper")
	})
	if err != nil {
		t.Fatalf("EditProcess() = %v", err)
	}
}

func TestOpen(t *testing.T) {
	dir := newBundle(t, readTestdata(t), 0o644)
	b, err := Open(dir)
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	if b.Dir != dir {
		t.Errorf("Dir = %q, want %q", b.Dir, dir)
	}
	if got, want := b.Rootfs(), filepath.Join(dir, "rootfs"); got != want {
		t.Errorf("Rootfs() = %q, want %q", got, want)
	}
	if got := b.Annotations()["podlock.kubewarden.io/profile"]; got != "strict" {
		t.Errorf("profile annotation = %q", got)
	}
	p := b.Process()
	if p == nil || !slices.Equal(p.Args, []string{"/bin/sh", "-c", "echo hello"}) || p.Cwd != "/" || len(p.Env) != 1 {
		t.Errorf("Process() = %+v", p)
	}
}

func TestCgroupsPath(t *testing.T) {
	for config, want := range map[string]string{
		`{"linux": {"cgroupsPath": "/kubepods/pod1/c1"}}`:            "/kubepods/pod1/c1",
		`{"linux": {"cgroupsPath": "pod1.slice:cri-containerd:c1"}}`: "pod1.slice:cri-containerd:c1",
		`{"linux": {"namespaces": []}}`:                              "",
		`{"process": {"args": ["sh"]}}`:                              "",
		`{"linux": 42}`:                                              "error",
		`{"linux": {"cgroupsPath": 42}}`:                             "error",
	} {
		b, err := Open(newBundle(t, []byte(config), 0o644))
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.CgroupsPath()
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("%s: CgroupsPath() = %q (%v), want %q", config, got, err, want)
		}
	}
}

func TestOpenRelative(t *testing.T) {
	dir := newBundle(t, readTestdata(t), 0o644)
	t.Chdir(dir)
	b, err := Open(".")
	if err != nil {
		t.Fatal(err)
	}
	if b.Dir != dir {
		t.Errorf("Dir = %q, want the absolute %q", b.Dir, dir)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(dir string) error
		notExist bool
		parsing  bool
	}{
		{
			name:     "missing directory",
			setup:    func(dir string) error { return os.Remove(dir) },
			notExist: true,
		},
		{
			name:     "no config.json",
			setup:    func(dir string) error { return nil },
			notExist: true,
		},
		{
			name: "malformed JSON",
			setup: func(dir string) error {
				return os.WriteFile(filepath.Join(dir, ConfigName), []byte(`{"ociVersion": "1.0.2",`), 0o600)
			},
			parsing: true,
		},
		{
			name: "trailing garbage",
			setup: func(dir string) error {
				return os.WriteFile(filepath.Join(dir, ConfigName), []byte(`{"ociVersion": "1.0.2"} x`), 0o600)
			},
			parsing: true,
		},
		{
			name: "empty file",
			setup: func(dir string) error {
				return os.WriteFile(filepath.Join(dir, ConfigName), nil, 0o600)
			},
			parsing: true,
		},
		{
			name: "args of the wrong type",
			setup: func(dir string) error {
				return os.WriteFile(filepath.Join(dir, ConfigName), []byte(`{"process": {"args": "sh"}}`), 0o600)
			},
			parsing: true,
		},
		{
			name: "annotations of the wrong type",
			setup: func(dir string) error {
				return os.WriteFile(filepath.Join(dir, ConfigName), []byte(`{"annotations": {"a": 1}}`), 0o600)
			},
			parsing: true,
		},
		{
			name:  "config.json is a directory",
			setup: func(dir string) error { return os.Mkdir(filepath.Join(dir, ConfigName), 0o755) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "bundle")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tt.setup(dir); err != nil {
				t.Fatal(err)
			}
			b, err := Open(dir)
			if err == nil {
				t.Fatalf("Open() = %+v, want an error", b)
			}
			if tt.notExist != errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Open() error = %v; errors.Is(fs.ErrNotExist) = %v", err, !tt.notExist)
			}
			if tt.parsing && !strings.Contains(err.Error(), "parsing "+filepath.Join(dir, ConfigName)) {
				t.Errorf("Open() error = %v, want it to name the file", err)
			}
		})
	}
}

func TestRootfs(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   string
	}{
		{name: "no root", config: `{}`, want: "BUNDLE/rootfs"},
		{name: "empty path", config: `{"root": {"path": ""}}`, want: "BUNDLE/rootfs"},
		{name: "relative", config: `{"root": {"path": "rfs"}}`, want: "BUNDLE/rfs"},
		{name: "relative with dots", config: `{"root": {"path": "./a/../rfs"}}`, want: "BUNDLE/rfs"},
		{name: "absolute", config: `{"root": {"path": "/var/lib/x/rootfs", "readonly": true}}`, want: "/var/lib/x/rootfs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newBundle(t, []byte(tt.config), 0o644)
			b, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := b.Rootfs(), strings.Replace(tt.want, "BUNDLE", dir, 1); got != want {
				t.Errorf("Rootfs() = %q, want %q", got, want)
			}
		})
	}
}

// TestFlushKeepsEverything checks that the rewrite keeps what podlock
// does not model, at every depth, and numbers exactly as written.
func TestFlushKeepsEverything(t *testing.T) {
	dir := newBundle(t, readTestdata(t), 0o644)
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	confine(t, b)
	if _, err := b.Flush(); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	out, err := os.ReadFile(filepath.Join(dir, ConfigName))
	if err != nil {
		t.Fatal(err)
	}
	doc := decodeJSON(t, out)

	tests := []struct {
		name string
		path []any
		want string // JSON
	}{
		// Unknown fields survive, at every depth.
		{"top-level unknown field", []any{"x-vendor-extension"}, `{"nested": [1, 2.50, "three"], "flag": true}`},
		{"unknown field in process", []any{"process", "x-process-extension"}, `{"keep": "me"}`},
		{"unknown field in the first mount", []any{"mounts", 0, "x-mount-extension"}, `1`},
		{"unknown field in the second mount", []any{"mounts", 1, "x-mount-extension"}, `{"deep": [0.10]}`},
		{"unknown field in resources", []any{"linux", "resources", "x-resources-extension"}, `18446744073709551616`},
		{"unknown field in a seccomp arg", []any{"linux", "seccomp", "syscalls", 0, "args", 0, "x-arg-extension"}, `18446744073709551617`},
		// Known numbers that do not fit a float64 stay exact.
		{"uint64 seccomp value", []any{"linux", "seccomp", "syscalls", 0, "args", 0, "value"}, `18446744073709551615`},
		{"uint64 seccomp valueTwo", []any{"linux", "seccomp", "syscalls", 0, "args", 0, "valueTwo"}, `18446744073709551614`},
		{"int64 memory limit", []any{"linux", "resources", "memory", "limit"}, `9223372036854775807`},
		// Known fields the change did not touch.
		{"first mount", []any{"mounts", 0}, `{"destination": "/proc", "type": "proc", "source": "proc", "x-mount-extension": 1}`},
		{"second mount options", []any{"mounts", 1, "options"}, `["nosuid", "strictatime", "mode=755", "size=65536k"]`},
		{"capabilities", []any{"process", "capabilities", "bounding"}, `["CAP_CHOWN"]`},
		{"oomScoreAdj", []any{"process", "oomScoreAdj"}, `1000`},
		{"hostname", []any{"hostname"}, `"box"`},
		{"annotations", []any{"annotations"}, `{"io.kubernetes.cri.container-type": "container", "podlock.kubewarden.io/profile": "strict"}`},
		// The changes.
		{"args", []any{"process", "args"}, `["/.podlock/helper", "/bin/sh", "-c", "echo hello"]`},
		{"noNewPrivileges", []any{"process", "noNewPrivileges"}, `true`},
		{"appended mount", []any{"mounts", 2}, `{"destination": "/.podlock", "type": "bind", "source": "/b/podlock", "options": ["bind", "ro", "nosuid", "nodev", "noexec"]}`},
		{"hooks", []any{"hooks"}, `{"createContainer": [{"path": "/usr/bin/podlock-runtime", "args": ["podlock-runtime", "interpose", "/b/podlock/interpose.json"]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := get(t, doc, tt.path...)
			if want := decodeJSON(t, []byte(tt.want)); !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				t.Errorf("%v = %s, want %s", tt.path, g, tt.want)
			}
		})
	}
	if n := len(get(t, doc, "mounts").([]any)); n != 4 {
		t.Errorf("%d mounts, want 4", n)
	}
	// The numbers are in the bytes as written, not re-rendered.
	for _, lit := range []string{"18446744073709551615", "18446744073709551617", "2.50", "0.10"} {
		if !bytes.Contains(out, []byte(lit)) {
			t.Errorf("output lacks %s", lit)
		}
	}
	// And runtime-spec still reads the result, exactly.
	var spec specs.Spec
	if err := json.Unmarshal(out, &spec); err != nil {
		t.Fatalf("runtime-spec cannot read the output: %v", err)
	}
	if v := spec.Linux.Seccomp.Syscalls[0].Args[0].Value; v != 18446744073709551615 {
		t.Errorf("seccomp value = %d", v)
	}
	if !spec.Process.NoNewPrivileges || spec.Hooks == nil || len(spec.Hooks.CreateContainer) != 1 {
		t.Errorf("spec = %+v", spec)
	}
}

// TestFlushAppendsToExisting: hooks and mounts that the config already
// has are kept before podlock's.
func TestFlushAppendsToExisting(t *testing.T) {
	config := `{"process": {"args": ["sh"]},
		"hooks": {"prestart": [{"path": "/p"}], "createContainer": [{"path": "/nvidia-hook", "args": ["x"], "x-hook": 1}]}}`
	dir := newBundle(t, []byte(config), 0o600)
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddMounts(specs.Mount{Destination: "/m"}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddCreateContainerHooks(specs.Hook{Path: "/a"}, specs.Hook{Path: "/b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(filepath.Join(dir, ConfigName))
	want := `{"process": {"args": ["sh"]}, "mounts": [{"destination": "/m"}],
		"hooks": {"prestart": [{"path": "/p"}], "createContainer": [{"path": "/nvidia-hook", "args": ["x"], "x-hook": 1}, {"path": "/a"}, {"path": "/b"}]}}`
	if got := decodeJSON(t, out); !reflect.DeepEqual(got, decodeJSON(t, []byte(want))) {
		t.Errorf("config = %s\nwant %s", out, want)
	}
}

func TestEditSeccomp(t *testing.T) {
	tests := []struct {
		name, config string
		got          *specs.LinuxSeccomp // what edit must be given
		want         string
	}{
		{
			name:   "no filter",
			config: `{"linux": {"namespaces": [{"type": "pid"}]}}`,
			want:   `{"linux": {"namespaces": [{"type": "pid"}], "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/l.sock"}}}`,
		},
		{
			name:   "no linux",
			config: `{}`,
			want:   `{"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/l.sock"}}}`,
		},
		{
			name:   "a filter",
			config: `{"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}}}`,
			got:    &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}}},
			want:   `{"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/l.sock"}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newBundle(t, []byte(tt.config), 0o644)
			b, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			err = b.EditSeccomp(func(s *specs.LinuxSeccomp) (*specs.LinuxSeccomp, error) {
				if !reflect.DeepEqual(s, tt.got) {
					t.Errorf("edit got %+v, want %+v", s, tt.got)
				}
				return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/l.sock"}, nil
			})
			if err != nil {
				t.Fatalf("EditSeccomp() = %v", err)
			}
			if _, err := b.Flush(); err != nil {
				t.Fatal(err)
			}
			out, _ := os.ReadFile(filepath.Join(dir, ConfigName))
			if got := decodeJSON(t, out); !reflect.DeepEqual(got, decodeJSON(t, []byte(tt.want))) {
				t.Errorf("config = %s\nwant %s", out, tt.want)
			}
		})
	}
}

func TestEditErrors(t *testing.T) {
	tests := []struct {
		name   string
		config string
		edit   func(b *Bundle) error
	}{
		{
			name:   "mounts not an array",
			config: `{"mounts": {}}`,
			edit:   func(b *Bundle) error { return b.AddMounts(specs.Mount{Destination: "/x"}) },
		},
		{
			name:   "hooks not an object",
			config: `{"hooks": []}`,
			edit:   func(b *Bundle) error { return b.AddCreateContainerHooks(specs.Hook{Path: "/x"}) },
		},
		{
			name:   "createContainer not an array",
			config: `{"hooks": {"createContainer": "x"}}`,
			edit:   func(b *Bundle) error { return b.AddCreateContainerHooks(specs.Hook{Path: "/x"}) },
		},
		{
			name:   "no process",
			config: `{}`,
			edit: func(b *Bundle) error {
				return b.EditProcess(func(p ProcessEditor) error { return p.PrependArgs("/h") })
			},
		},
		{
			name:   "no args",
			config: `{"process": {"args": []}}`,
			edit: func(b *Bundle) error {
				return b.EditProcess(func(p ProcessEditor) error { return p.PrependArgs("/h") })
			},
		},
		{
			name:   "process of the wrong type",
			config: `{"process": null, "x": 1}`,
			edit: func(b *Bundle) error {
				return b.EditProcess(func(p ProcessEditor) error { return p.PrependArgs("/h") })
			},
		},
		{
			name:   "linux not an object",
			config: `{"linux": 1}`,
			edit: func(b *Bundle) error {
				return b.EditSeccomp(func(s *specs.LinuxSeccomp) (*specs.LinuxSeccomp, error) { return s, nil })
			},
		},
		{
			name:   "seccomp of the wrong type",
			config: `{"linux": {"seccomp": []}}`,
			edit: func(b *Bundle) error {
				return b.EditSeccomp(func(s *specs.LinuxSeccomp) (*specs.LinuxSeccomp, error) { return s, nil })
			},
		},
		{
			name:   "config that is null",
			config: `null`,
			edit:   func(b *Bundle) error { return b.AddMounts(specs.Mount{Destination: "/x"}) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newBundle(t, []byte(tt.config), 0o644)
			b, err := Open(dir)
			if err != nil {
				t.Fatalf("Open() = %v", err)
			}
			if err := tt.edit(b); err == nil {
				t.Errorf("edit succeeded, want an error")
			}
		})
	}
}

func TestFlushWithoutChanges(t *testing.T) {
	dir := newBundle(t, readTestdata(t), 0o644)
	file := filepath.Join(dir, ConfigName)
	before, _ := os.Stat(file)
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Flush(); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	after, _ := os.Stat(file)
	if !os.SameFile(before, after) {
		t.Errorf("Flush() without changes replaced config.json")
	}
	data, _ := os.ReadFile(file)
	if !bytes.Equal(data, readTestdata(t)) {
		t.Errorf("Flush() without changes changed config.json")
	}
}

func TestOpenFlush(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o644, 0o640} {
		t.Run(mode.String(), func(t *testing.T) {
			orig := readTestdata(t)
			dir := newBundle(t, orig, mode)
			file := filepath.Join(dir, ConfigName)
			before, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer before.Close()

			b, err := Open(dir)
			if err != nil {
				t.Fatalf("Open() error = %v", err)
			}
			confine(t, b)
			if _, err := b.Flush(); err != nil {
				t.Fatalf("Flush() error = %v", err)
			}

			// Replaced by rename: the file open before still has the
			// original content.
			old, err := io.ReadAll(before)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(old, orig) {
				t.Errorf("config.json was rewritten in place, not replaced")
			}
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != mode {
				t.Errorf("mode after Flush = %v, want %v", fi.Mode(), mode)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Name() != ConfigName {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("bundle holds %q after Flush, want only %s", names, ConfigName)
			}

			got, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "testdata/config.golden.json", got)

			b2, err := Open(dir)
			if err != nil {
				t.Fatalf("Open() after Flush: %v", err)
			}
			if args := b2.Process().Args; !slices.Equal(args, []string{"/.podlock/helper", "/bin/sh", "-c", "echo hello"}) {
				t.Errorf("reopened args = %q", args)
			}
		})
	}
}

// golden compares data, indented, with a golden file; -update rewrites it.
func golden(t *testing.T, file string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, data)
	}
	buf.WriteByte('\n')
	if *update {
		if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n%s", file, buf.Bytes())
	}
}
