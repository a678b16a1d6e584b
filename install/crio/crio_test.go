package crio

import (
	"errors"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/install/engine"
	"github.com/kubewarden/podlock/install/internal/installtest"
)

const (
	mainPath   = "/etc/crio/crio.conf"
	dropInPath = "/etc/crio/crio.conf.d/99-podlock.conf"
)

var podlock = engine.Runtime{Handler: engine.DefaultHandler, Path: engine.DefaultRuntimePath}

func newConfig(t *testing.T, root string) *Config {
	t.Helper()
	c, err := New(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestInstallUninstall installs the handler into realistic CRI-O
// configurations and compares the drop-in with golden files; then checks
// that installing again changes nothing and that uninstalling leaves every
// file as it was.
func TestInstallUninstall(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{{
		// As the distribution packages install it: conmon is found only
		// through the default runtime's monitor_path.
		name: "packaged",
		files: map[string]string{
			mainPath:                             installtest.Fixture(t, "crio.conf"),
			"/etc/crio/crio.conf.d/10-crio.conf": installtest.Fixture(t, "10-crio.conf"),
		},
	}, {
		name: "main file only with runc default",
		files: map[string]string{mainPath: `[crio.runtime]
default_runtime = "runc"
[crio.runtime.runtimes.runc]
runtime_path = "/usr/bin/runc"
monitor_path = "/usr/bin/conmon"
monitor_env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"]
monitor_cgroup = "pod"
`},
	}, {
		// A later drop-in changes the default runtime: its conmon settings
		// are the ones copied.
		name: "later drop-in wins",
		files: map[string]string{
			"/etc/crio/crio.conf.d/10-crio.conf":  installtest.Fixture(t, "10-crio.conf"),
			"/etc/crio/crio.conf.d/50-local.conf": "[crio.runtime]\ndefault_runtime = \"runc\"\n[crio.runtime.runtimes.runc]\nmonitor_path = \"/opt/conmon/bin/conmon\"\n",
		},
	}, {
		name:  "no configuration",
		files: map[string]string{},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			installtest.WriteTree(t, root, tt.files)
			before := installtest.ReadTree(t, root)
			name := strings.ReplaceAll(tt.name, " ", "-")

			c := newConfig(t, root)
			if err := c.AddRuntime(podlock); err != nil {
				t.Fatalf("AddRuntime: %v", err)
			}
			installtest.Golden(t, name+".diff", installtest.Diffs(c.Changes()))
			if d := installtest.TreeDiff(before, installtest.ReadTree(t, root)); d != "" {
				t.Fatalf("AddRuntime wrote files before Save:\n%s", d)
			}
			if err := c.Save(); err != nil {
				t.Fatalf("Save: %v", err)
			}
			after := installtest.ReadTree(t, root)
			installtest.Golden(t, name+".99-podlock.conf", after[dropInPath])
			delete(after, dropInPath)
			if d := installtest.TreeDiff(before, after); d != "" {
				t.Errorf("install changed other files:\n%s", d)
			}

			c = newConfig(t, root)
			if err := c.AddRuntime(podlock); err != nil {
				t.Fatalf("second AddRuntime: %v", err)
			}
			if ch := c.Changes(); len(ch) != 0 {
				t.Fatalf("second AddRuntime planned changes:\n%s", installtest.Diffs(ch))
			}

			c = newConfig(t, root)
			if err := c.RemoveRuntime(podlock.Handler); err != nil {
				t.Fatalf("RemoveRuntime: %v", err)
			}
			if err := c.Save(); err != nil {
				t.Fatalf("Save after RemoveRuntime: %v", err)
			}
			if d := installtest.TreeDiff(before, installtest.ReadTree(t, root)); d != "" {
				t.Errorf("after uninstall, files differ from the original:\n%s", d)
			}
			c = newConfig(t, root)
			if err := c.RemoveRuntime(podlock.Handler); err != nil {
				t.Fatalf("second RemoveRuntime: %v", err)
			}
			if ch := c.Changes(); len(ch) != 0 {
				t.Fatalf("second RemoveRuntime planned changes:\n%s", installtest.Diffs(ch))
			}
		})
	}
}

// TestDropInContent checks the handler's settings in the drop-in, decoded.
func TestDropInContent(t *testing.T) {
	root := t.TempDir()
	installtest.WriteTree(t, root, map[string]string{"/etc/crio/crio.conf.d/10-crio.conf": installtest.Fixture(t, "10-crio.conf")})
	c := newConfig(t, root)
	rt := engine.Runtime{Handler: "podlock-test", Path: "/opt/podlock/podlock-runtime"}
	if err := c.AddRuntime(rt); err != nil {
		t.Fatal(err)
	}
	ch := c.Changes()
	if len(ch) != 1 || ch[0].Name != "/etc/crio/crio.conf.d/99-podlock-test.conf" {
		t.Fatalf("want the one drop-in 99-podlock-test.conf, got:\n%s", installtest.Diffs(ch))
	}
	doc, err := engine.ParseTOML(ch[0].Name, ch[0].New)
	if err != nil {
		t.Fatal(err)
	}
	h := engine.TableAt(doc, "crio", "runtime", "runtimes", "podlock-test")
	want := map[string]any{
		"runtime_path": "/opt/podlock/podlock-runtime",
		"runtime_type": "oci",
		"runtime_root": "/run/podlock-test-runc",
		"monitor_path": "/usr/libexec/crio/conmon",
	}
	if len(h) != len(want) {
		t.Errorf("handler = %v, want %v", h, want)
	}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("%s = %v, want %v", k, h[k], v)
		}
	}
	if _, ok := h["allowed_annotations"]; ok {
		t.Error("allowed_annotations is set: CRI-O rejects entries that are not its own annotations")
	}
}

// TestErrors checks that configurations the installer cannot handle are
// refused with a message naming the file (and line), and that nothing is
// written.
func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		runtime engine.Runtime
		remove  bool
		want    string
		is      error
	}{{
		name:  "unparseable main file",
		files: map[string]string{mainPath: "[crio.runtime]\ndefault_runtime = crun\n"},
		want:  "parsing /etc/crio/crio.conf:2:",
	}, {
		name:  "unparseable drop-in",
		files: map[string]string{"/etc/crio/crio.conf.d/10-crio.conf": "[crio.runtime\n"},
		want:  "parsing /etc/crio/crio.conf.d/10-crio.conf:1:",
	}, {
		name:  "handler defined by hand",
		files: map[string]string{mainPath: "[crio.runtime.runtimes.podlock]\nruntime_path = \"/usr/local/bin/podlock-runtime\"\n"},
		want:  `/etc/crio/crio.conf already defines runtime handler "podlock"`,
	}, {
		name:  "runtime not a table",
		files: map[string]string{mainPath: "[crio.runtime.runtimes]\ncrun = \"/usr/bin/crun\"\n"},
		want:  "/etc/crio/crio.conf: crio.runtime.runtimes.crun is not a table",
	}, {
		name:  "foreign drop-in",
		files: map[string]string{dropInPath: "[crio.runtime.runtimes.podlock]\n"},
		is:    engine.ErrForeignFile,
	}, {
		name:   "foreign drop-in on uninstall",
		files:  map[string]string{dropInPath: "[crio.runtime.runtimes.podlock]\n"},
		remove: true,
		is:     engine.ErrForeignFile,
	}, {
		name:    "bad handler",
		files:   map[string]string{},
		runtime: engine.Runtime{Handler: "podlock.io", Path: engine.DefaultRuntimePath},
		want:    `handler "podlock.io": must be a DNS label`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			installtest.WriteTree(t, root, tt.files)
			before := installtest.ReadTree(t, root)
			c := newConfig(t, root)
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
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
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
