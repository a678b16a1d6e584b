package containerd

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/install/engine"
	"github.com/kubewarden/podlock/install/internal/installtest"
)

const mainPath = "/etc/containerd/config.toml"

var podlock = engine.Runtime{Handler: engine.DefaultHandler, Path: engine.DefaultRuntimePath}

func newConfig(t *testing.T, root string, version int) *Config {
	t.Helper()
	c, err := New(Options{Root: root, Version: version})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestInstallUninstall installs the handler into real and edge-case
// configurations and compares the result with golden files; then checks
// that installing again changes nothing and that uninstalling restores
// every file byte for byte.
func TestInstallUninstall(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // host path -> content; the main file is mainPath
		version int               // Options.Version
	}{{
		name:  "containerd-1.7-default",
		files: map[string]string{mainPath: installtest.Fixture(t, "containerd-1.7-default.toml")},
	}, {
		name:  "debian-12-shipped",
		files: map[string]string{mainPath: installtest.Fixture(t, "debian-12-shipped.toml")},
	}, {
		name:  "containerd-2.1-default",
		files: map[string]string{mainPath: installtest.Fixture(t, "containerd-2.1-default.toml")},
	}, {
		// Its imports glob already covers conf.d: the main file stays.
		name:  "containerd-2.4-default",
		files: map[string]string{mainPath: installtest.Fixture(t, "containerd-2.4-default.toml")},
	}, {
		name:    "missing-main-file",
		files:   map[string]string{},
		version: 4,
	}, {
		// Another import sets runc's options after the main file: the
		// drop-in copies the merged result.
		name: "multiline-imports-merged-options",
		files: map[string]string{
			mainPath: `version = 3
imports = [
  "/etc/containerd/cri-base.toml", # the node image's CRI settings
  # the GPU operator's file goes here
]

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "/run/containerd/runc"
`,
			"/etc/containerd/cri-base.toml": `version = 3
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  SystemdCgroup = true
`,
		},
	}, {
		// Version 2: the last file that sets the CRI section is the one in
		// effect on containerd 1.x, and the drop-in repeats it.
		name: "v2-section-from-import",
		files: map[string]string{
			mainPath: `version = 2
imports = ["extra.toml"]

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
`,
			"/etc/containerd/extra.toml": `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.example/pause:3.9"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    SystemdCgroup = true
`,
		},
	}, {
		name:  "relative-glob-covers-drop-in",
		files: map[string]string{mainPath: "version = 3\nimports = ['conf.d/*.toml']\n"},
	}, {
		name:  "crlf",
		files: map[string]string{mainPath: "# a file from Windows tooling\r\nversion = 3\r\n\r\n[plugins]\r\n"},
	}, {
		name:  "no-final-newline",
		files: map[string]string{mainPath: "version = 3"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			installtest.WriteTree(t, root, tt.files)
			before := installtest.ReadTree(t, root)

			c := newConfig(t, root, tt.version)
			if err := c.AddRuntime(podlock); err != nil {
				t.Fatalf("AddRuntime: %v", err)
			}
			if len(c.Changes()) == 0 {
				t.Fatal("AddRuntime planned no change")
			}
			// The plan is shown before anything is written.
			installtest.Golden(t, tt.name+".diff", installtest.Diffs(c.Changes()))
			if d := installtest.TreeDiff(before, installtest.ReadTree(t, root)); d != "" {
				t.Fatalf("AddRuntime wrote files before Save:\n%s", d)
			}
			if err := c.Save(); err != nil {
				t.Fatalf("Save: %v", err)
			}
			after := installtest.ReadTree(t, root)
			installtest.Golden(t, tt.name+".podlock.toml", after["/etc/containerd/conf.d/podlock.toml"])
			gotMain := ""
			if after[mainPath] != before[mainPath] {
				gotMain = after[mainPath]
			}
			installtest.Golden(t, tt.name+".config.toml", gotMain)

			// Again: nothing to do.
			c = newConfig(t, root, tt.version)
			if err := c.AddRuntime(podlock); err != nil {
				t.Fatalf("second AddRuntime: %v", err)
			}
			if ch := c.Changes(); len(ch) != 0 {
				t.Fatalf("second AddRuntime planned changes:\n%s", installtest.Diffs(ch))
			}

			// Uninstall restores every file byte for byte.
			c = newConfig(t, root, tt.version)
			if err := c.RemoveRuntime(podlock.Handler); err != nil {
				t.Fatalf("RemoveRuntime: %v", err)
			}
			if err := c.Save(); err != nil {
				t.Fatalf("Save after RemoveRuntime: %v", err)
			}
			if d := installtest.TreeDiff(before, installtest.ReadTree(t, root)); d != "" {
				t.Errorf("after uninstall, files differ from the original:\n%s", d)
			}

			// And uninstalling again changes nothing.
			c = newConfig(t, root, tt.version)
			if err := c.RemoveRuntime(podlock.Handler); err != nil {
				t.Fatalf("second RemoveRuntime: %v", err)
			}
			if ch := c.Changes(); len(ch) != 0 {
				t.Fatalf("second RemoveRuntime planned changes:\n%s", installtest.Diffs(ch))
			}
		})
	}
}

// TestRuntimePathAndHandler checks that the handler name and the runtime
// path given are the ones written.
func TestRuntimePathAndHandler(t *testing.T) {
	root := t.TempDir()
	installtest.WriteTree(t, root, map[string]string{mainPath: "version = 3\n"})
	c := newConfig(t, root, 0)
	rt := engine.Runtime{Handler: "podlock-crun", Path: "/opt/podlock/bin/podlock-runtime"}
	if err := c.AddRuntime(rt); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	files := installtest.ReadTree(t, root)
	dropIn := files["/etc/containerd/conf.d/podlock-crun.toml"]
	for _, want := range []string{
		"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.podlock-crun.options]",
		"BinaryName = '/opt/podlock/bin/podlock-runtime'",
	} {
		if !strings.Contains(dropIn, want) {
			t.Errorf("drop-in lacks %q:\n%s", want, dropIn)
		}
	}
	if want := `imports = ["/etc/containerd/conf.d/podlock-crun.toml"] # added by podlock-install`; !strings.Contains(files[mainPath], want) {
		t.Errorf("main file lacks %q:\n%s", want, files[mainPath])
	}
}

// TestRefreshesStaleDropIn checks that install rewrites a drop-in of its
// own that no longer matches (here: the runtime path changed).
func TestRefreshesStaleDropIn(t *testing.T) {
	root := t.TempDir()
	installtest.WriteTree(t, root, map[string]string{mainPath: installtest.Fixture(t, "containerd-2.4-default.toml")})
	c := newConfig(t, root, 0)
	if err := c.AddRuntime(podlock); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	moved := engine.Runtime{Handler: podlock.Handler, Path: "/usr/bin/podlock-runtime"}
	if err := c.AddRuntime(moved); err != nil {
		t.Fatal(err)
	}
	ch := c.Changes()
	if len(ch) != 1 || ch[0].Action() != "update" || !strings.Contains(string(ch[0].New), "BinaryName = '/usr/bin/podlock-runtime'") {
		t.Fatalf("want one update of the drop-in, got:\n%s", installtest.Diffs(ch))
	}
}

// TestErrors checks that configurations the installer cannot handle are
// refused with a message naming the file (and line), and that nothing is
// written.
func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		version int
		runtime engine.Runtime
		remove  bool
		want    []string // substrings of the error
		is      error
	}{{
		name:  "unparseable main file",
		files: map[string]string{mainPath: "version = 3\n\n[plugins\nfoo = 1\n"},
		want:  []string{"parsing /etc/containerd/config.toml:3:", "expected ']'"},
	}, {
		name:   "unparseable main file on uninstall",
		files:  map[string]string{mainPath: "version = 3\nimports = [\n"},
		remove: true,
		want:   []string{"parsing /etc/containerd/config.toml:2:"},
	}, {
		name: "unparseable import",
		files: map[string]string{
			mainPath:                   "version = 3\nimports = ['/etc/containerd/gpu.toml']\n",
			"/etc/containerd/gpu.toml": "version = 3\nfoo = = 1\n",
		},
		want: []string{"parsing /etc/containerd/gpu.toml:2:"},
	}, {
		name:  "missing import",
		files: map[string]string{mainPath: "version = 3\nimports = ['/etc/containerd/gone.toml']\n"},
		want:  []string{"/etc/containerd/gone.toml is imported but does not exist"},
	}, {
		name:  "version 1",
		files: map[string]string{mainPath: "[plugins.cri]\n  sandbox_image = 'pause'\n"},
		want:  []string{"/etc/containerd/config.toml has no `version`"},
	}, {
		name:  "unknown version",
		files: map[string]string{mainPath: "version = 5\n"},
		want:  []string{"configuration version 5 is not supported"},
	}, {
		name:    "file newer than the containerd given",
		files:   map[string]string{mainPath: "version = 3\n"},
		version: 2,
		want:    []string{"version 3, which the given containerd version cannot read"},
	}, {
		name:  "missing main file, unknown version",
		files: map[string]string{},
		is:    ErrUnknownVersion,
	}, {
		name:  "imports not an array",
		files: map[string]string{mainPath: "version = 3\nimports = '/etc/containerd/x.toml'\n"},
		want:  []string{"/etc/containerd/config.toml: imports is not an array"},
	}, {
		name: "foreign drop-in",
		files: map[string]string{
			mainPath:                              "version = 3\n",
			"/etc/containerd/conf.d/podlock.toml": "# mine\nversion = 3\n",
		},
		is: engine.ErrForeignFile,
	}, {
		name: "foreign drop-in on uninstall",
		files: map[string]string{
			mainPath:                              "version = 3\n",
			"/etc/containerd/conf.d/podlock.toml": "# mine\nversion = 3\n",
		},
		remove: true,
		is:     engine.ErrForeignFile,
	}, {
		name: "handler defined by hand",
		files: map[string]string{mainPath: `version = 3
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.podlock]
  runtime_type = 'io.containerd.runc.v2'
`},
		want: []string{`/etc/containerd/config.toml already defines runtime handler "podlock"`},
	}, {
		// On containerd 1.x the later file's CRI section would replace the
		// drop-in's entirely.
		name: "v2 section imported after the drop-in",
		files: map[string]string{
			mainPath:                                "version = 2\nimports = ['/etc/containerd/conf.d/*.toml']\n",
			"/etc/containerd/conf.d/zz-mirror.toml": "version = 2\n[plugins.'io.containerd.grpc.v1.cri'.registry]\n  config_path = '/etc/containerd/certs.d'\n",
		},
		want: []string{"/etc/containerd/conf.d/zz-mirror.toml is imported after /etc/containerd/conf.d/podlock.toml"},
	}, {
		name:    "bad handler",
		files:   map[string]string{mainPath: "version = 3\n"},
		runtime: engine.Runtime{Handler: "Pod_Lock", Path: engine.DefaultRuntimePath},
		want:    []string{`handler "Pod_Lock": must be a DNS label`},
	}, {
		name:    "relative runtime path",
		files:   map[string]string{mainPath: "version = 3\n"},
		runtime: engine.Runtime{Handler: "podlock", Path: "bin/podlock-runtime"},
		want:    []string{`runtime path "bin/podlock-runtime": must be an absolute, clean path`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			installtest.WriteTree(t, root, tt.files)
			before := installtest.ReadTree(t, root)
			c := newConfig(t, root, tt.version)
			rt := tt.runtime
			if rt == (engine.Runtime{}) {
				rt = podlock
			}
			var err error
			if tt.remove {
				err = c.RemoveRuntime(rt.Handler)
			} else {
				err = c.AddRuntime(rt)
			}
			if err == nil {
				t.Fatalf("no error; changes:\n%s", installtest.Diffs(c.Changes()))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if len(c.Changes()) != 0 {
				t.Errorf("changes planned despite the error:\n%s", installtest.Diffs(c.Changes()))
			}
			if err := c.Save(); err != nil {
				t.Fatal(err)
			}
			if d := installtest.TreeDiff(before, installtest.ReadTree(t, root)); d != "" {
				t.Errorf("files changed:\n%s", d)
			}
		})
	}
}

// TestSymlinkedMainFile checks that a main file that is a symlink is
// edited where it points and stays a symlink.
func TestSymlinkedMainFile(t *testing.T) {
	root := t.TempDir()
	installtest.WriteTree(t, root, map[string]string{"/srv/managed/containerd.toml": "version = 3\n"})
	if err := os.MkdirAll(filepath.Join(root, "etc/containerd"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, mainPath)
	// An absolute target is a path on the host, under the root here.
	if err := os.Symlink("/srv/managed/containerd.toml", link); err != nil {
		t.Fatal(err)
	}
	c := newConfig(t, root, 0)
	if err := c.AddRuntime(podlock); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("%s is no longer a symlink (%v)", link, err)
	}
	data, err := os.ReadFile(filepath.Join(root, "srv/managed/containerd.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "imports = [") {
		t.Errorf("the symlink's target was not edited:\n%s", data)
	}
}

func TestConfigVersion(t *testing.T) {
	tests := []struct {
		release string
		want    int
		err     bool
	}{
		{"1.7", 2, false},
		{"v1.7.27", 2, false},
		{"containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3", 2, false},
		{"2.0.5", 3, false},
		{"2.2", 3, false},
		{"2.3.0", 4, false},
		{"containerd github.com/containerd/containerd/v2 v2.4.2 0123abc", 4, false},
		{"1.2.13", 0, true},
		{"3.0", 0, true},
		{"latest", 0, true},
	}
	for _, tt := range tests {
		got, err := ConfigVersion(tt.release)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ConfigVersion(%q) = %d, %v; want %d, error %v", tt.release, got, err, tt.want, tt.err)
		}
	}
}
