package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// podlockInstall runs the command with args and returns its exit status
// and output.
func podlockInstall(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"podlock-install"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func write(t *testing.T, root, path, content string) {
	t.Helper()
	p := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, root, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func contains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

// noEngineProbe makes detection fail the test if it runs a binary: under a
// root other than "/" it must look at files only.
func noEngineProbe(t *testing.T) {
	t.Helper()
	saved := versionRuns
	t.Cleanup(func() { versionRuns = saved })
	versionRuns = func(_ context.Context, name string) bool {
		t.Errorf("ran %s --version", name)
		return false
	}
}

func TestHelpDocumentsFlags(t *testing.T) {
	for cmd, flags := range map[string][]string{
		"install":   {"--engine", "--config", "--runtime-path", "--handler", "--dry-run", "--containerd-version", "--root"},
		"uninstall": {"--engine", "--config", "--handler", "--dry-run", "--containerd-version", "--root"},
	} {
		code, out, _ := podlockInstall(t, cmd, "--help")
		if code != 0 {
			t.Fatalf("%s --help: exit %d", cmd, code)
		}
		contains(t, cmd+" --help", out, flags...)
	}
}

const mainConfig = "/etc/containerd/config.toml"

// TestContainerd goes through a dry run, install, a second install,
// uninstall and a second uninstall, checking what each says and writes.
func TestContainerd(t *testing.T) {
	noEngineProbe(t)
	root := t.TempDir()
	original := "# the node's containerd\nversion = 3\n\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  SystemdCgroup = true\n"
	write(t, root, mainConfig, original)

	code, out, errOut := podlockInstall(t, "install", "--root", root, "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d: %s", code, errOut)
	}
	contains(t, "dry run", out,
		"--- /dev/null\n+++ /etc/containerd/conf.d/podlock.toml\n",
		"+            BinaryName = '/usr/local/bin/podlock-runtime'\n",
		"+            SystemdCgroup = true\n",
		"--- /etc/containerd/config.toml\n+++ /etc/containerd/config.toml\n",
		"+imports = [\"/etc/containerd/conf.d/podlock.toml\"] # added by podlock-install\n",
		"Dry run: 2 file(s) would change; nothing was written.\n")
	if got := read(t, root, mainConfig); got != original {
		t.Fatalf("the dry run changed the main file:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/containerd/conf.d")); !os.IsNotExist(err) {
		t.Fatalf("the dry run created conf.d (%v)", err)
	}
	// podlock-runtime is not under the root: a warning, not an error.
	contains(t, "stderr", errOut, "warning: /usr/local/bin/podlock-runtime does not exist")

	code, out, errOut = podlockInstall(t, "install", "--root", root)
	if code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	if want := "created /etc/containerd/conf.d/podlock.toml\nupdated /etc/containerd/config.toml\n" +
		"Restart containerd to apply the change: systemctl restart containerd\n"; out != want {
		t.Errorf("install said:\n%s\nwant:\n%s", out, want)
	}
	contains(t, "drop-in", read(t, root, "/etc/containerd/conf.d/podlock.toml"), "runtimes.podlock]", "pod_annotations = ['podlock.kubewarden.io/*']")

	code, out, _ = podlockInstall(t, "install", "--root", root)
	if code != 0 || out != "The runtime handler \"podlock\" is installed in containerd already: nothing to change.\n" {
		t.Errorf("second install: exit %d, said:\n%s", code, out)
	}

	code, out, errOut = podlockInstall(t, "uninstall", "--root", root)
	if code != 0 {
		t.Fatalf("uninstall: exit %d: %s", code, errOut)
	}
	if want := "updated /etc/containerd/config.toml\nremoved /etc/containerd/conf.d/podlock.toml\n" +
		"Restart containerd to apply the change: systemctl restart containerd\n"; out != want {
		t.Errorf("uninstall said:\n%s\nwant:\n%s", out, want)
	}
	if got := read(t, root, mainConfig); got != original {
		t.Errorf("uninstall did not restore the main file:\n%q\nwant\n%q", got, original)
	}

	code, out, _ = podlockInstall(t, "uninstall", "--root", root)
	if code != 0 || out != "The runtime handler \"podlock\" is not installed in containerd: nothing to change.\n" {
		t.Errorf("second uninstall: exit %d, said:\n%s", code, out)
	}
}

func TestCRIO(t *testing.T) {
	noEngineProbe(t)
	root := t.TempDir()
	write(t, root, "/etc/crio/crio.conf.d/10-crio.conf", "[crio.runtime]\ndefault_runtime = \"crun\"\n")
	write(t, root, "/opt/podlock/podlock-runtime", "")

	code, out, errOut := podlockInstall(t, "install", "--root", root, "--handler", "podlock-x", "--runtime-path", "/opt/podlock/podlock-runtime")
	if code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	if errOut != "" {
		t.Errorf("unexpected stderr: %s", errOut)
	}
	if want := "created /etc/crio/crio.conf.d/99-podlock-x.conf\nRestart crio to apply the change: systemctl restart crio\n"; out != want {
		t.Errorf("install said:\n%s\nwant:\n%s", out, want)
	}
	contains(t, "drop-in", read(t, root, "/etc/crio/crio.conf.d/99-podlock-x.conf"),
		"[crio.runtime.runtimes.podlock-x]", "runtime_path = '/opt/podlock/podlock-runtime'", "runtime_type = 'oci'")

	code, out, errOut = podlockInstall(t, "uninstall", "--root", root, "--handler", "podlock-x", "--dry-run")
	if code != 0 {
		t.Fatalf("uninstall --dry-run: exit %d: %s", code, errOut)
	}
	contains(t, "dry run", out, "--- /etc/crio/crio.conf.d/99-podlock-x.conf\n+++ /dev/null\n", "Dry run: 1 file(s) would change")

	if code, _, errOut = podlockInstall(t, "uninstall", "--root", root, "--handler", "podlock-x"); code != 0 {
		t.Fatalf("uninstall: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/crio/crio.conf.d/99-podlock-x.conf")); !os.IsNotExist(err) {
		t.Errorf("the drop-in is still there (%v)", err)
	}
}

// TestErrors checks that errors are reported on stderr with exit status 1
// and that nothing is written.
func TestErrors(t *testing.T) {
	noEngineProbe(t)
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		want  string
	}{{
		name:  "unparseable config",
		files: map[string]string{mainConfig: "version = 3\nimports = [\n"},
		args:  []string{"install"},
		want:  "podlock-install: parsing /etc/containerd/config.toml:2:",
	}, {
		name: "no engine found",
		args: []string{"install"},
		want: "podlock-install: found neither containerd nor CRI-O: ROOT/etc/containerd/config.toml, ROOT/etc/crio/crio.conf and ROOT/etc/crio/crio.conf.d do not exist (under --root ROOT, the engines' binaries are not run): pass --engine, or --config with the engine's main file",
	}, {
		name: "missing --config",
		args: []string{"install", "--config", "/srv/containerd/config.toml"},
		want: "podlock-install: --config /srv/containerd/config.toml (looked at ROOT/srv/containerd/config.toml) does not exist, so which engine it configures cannot be told: pass --engine containerd (which creates the file) or --engine crio",
	}, {
		name:  "--config of neither engine",
		files: map[string]string{"/srv/engine.toml": "# nothing yet\n[other]\nkey = 1\n"},
		args:  []string{"install", "--config", "/srv/engine.toml"},
		want:  "podlock-install: --config /srv/engine.toml (looked at ROOT/srv/engine.toml) has neither containerd's top-level keys (version, plugins, imports...) nor CRI-O's [crio] table, so which engine it configures cannot be told: pass --engine containerd or --engine crio",
	}, {
		name:  "unparseable --config",
		files: map[string]string{"/srv/engine.toml": "version = 3\n[plugins\n"},
		args:  []string{"install", "--config", "/srv/engine.toml"},
		want:  "podlock-install: parsing /srv/engine.toml (looked at ROOT/srv/engine.toml):2:",
	}, {
		name:  "--config of the other engine",
		files: map[string]string{"/srv/crio.conf": "[crio.runtime]\ndefault_runtime = \"crun\"\n"},
		args:  []string{"install", "--engine", "containerd", "--config", "/srv/crio.conf"},
		want:  "podlock-install: --config /srv/crio.conf (looked at ROOT/srv/crio.conf) is crio's configuration, not containerd's: pass the other file, or --engine crio",
	}, {
		name:  "missing main file, unknown containerd",
		files: map[string]string{"/etc/crio/.keep": ""},
		args:  []string{"install", "--engine", "containerd"},
		want:  "pass --containerd-version",
	}, {
		name:  "bad containerd version",
		files: map[string]string{mainConfig: "version = 3\n"},
		args:  []string{"install", "--containerd-version", "latest"},
		want:  `containerd version "latest": want major.minor`,
	}, {
		name:  "containerd version for CRI-O",
		files: map[string]string{"/etc/crio/crio.conf": ""},
		args:  []string{"install", "--containerd-version", "2.1"},
		want:  "--containerd-version applies to containerd, not crio",
	}, {
		name:  "unknown engine",
		files: map[string]string{mainConfig: "version = 3\n"},
		args:  []string{"install", "--engine", "docker"},
		want:  `--engine "docker": want containerd or crio`,
	}, {
		name:  "relative config",
		files: map[string]string{mainConfig: "version = 3\n"},
		args:  []string{"install", "--config", "config.toml"},
		want:  `--config "config.toml": must be an absolute, clean path`,
	}, {
		name:  "arguments",
		files: map[string]string{mainConfig: "version = 3\n"},
		args:  []string{"uninstall", "containerd"},
		want:  "uninstall takes no arguments",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for path, content := range tt.files {
				write(t, root, path, content)
			}
			code, out, errOut := podlockInstall(t, append(tt.args, "--root", root)...)
			if code != 1 {
				t.Errorf("exit %d, want 1; stdout:\n%s", code, out)
			}
			contains(t, "stderr", errOut, strings.ReplaceAll(tt.want, "ROOT", root))
			for path, content := range tt.files {
				if got := read(t, root, path); got != content {
					t.Errorf("%s changed:\n%s", path, got)
				}
			}
			if _, err := os.Stat(filepath.Join(root, "etc/containerd/conf.d")); !os.IsNotExist(err) {
				t.Errorf("conf.d was created (%v)", err)
			}
		})
	}
}

// TestContainerdVersionFlag checks that --containerd-version picks the
// version of a main file created from nothing.
func TestContainerdVersionFlag(t *testing.T) {
	noEngineProbe(t)
	for release, want := range map[string]string{"1.7": "version = 2\n", "2.1": "version = 3\n", "v2.4.2": "version = 4\n"} {
		root := t.TempDir()
		code, _, errOut := podlockInstall(t, "install", "--root", root, "--engine", "containerd", "--containerd-version", release)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", release, code, errOut)
		}
		contains(t, "created main file", read(t, root, mainConfig), want)
		contains(t, "drop-in", read(t, root, "/etc/containerd/conf.d/podlock.toml"), want)
	}
}

func TestDetectEngine(t *testing.T) {
	noEngineProbe(t)
	tests := []struct {
		name  string
		files []string
		want  string // "" for an error
	}{
		{"containerd config", []string{mainConfig}, "containerd"},
		{"CRI-O main file", []string{"/etc/crio/crio.conf"}, "crio"},
		{"CRI-O drop-ins only", []string{"/etc/crio/crio.conf.d/10-crio.conf"}, "crio"},
		{"both", []string{mainConfig, "/etc/crio/crio.conf"}, "containerd"},
		{"neither", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range tt.files {
				write(t, root, f, "")
			}
			got, err := detectEngine(context.Background(), root)
			if got != tt.want || (err != nil) != (tt.want == "") {
				t.Errorf("detectEngine = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestDetectEngineBinary checks that on the node itself a containerd that
// runs is detected even without a configuration file.
func TestDetectEngineBinary(t *testing.T) {
	saved := versionRuns
	t.Cleanup(func() { versionRuns = saved })
	versionRuns = func(_ context.Context, name string) bool { return name == "containerd" }
	if got, err := detectEngine(context.Background(), "/"); got != "containerd" || err != nil {
		t.Errorf("detectEngine = %q, %v; want containerd", got, err)
	}
}

// TestEngineFromConfig checks that --config alone picks the engine by the
// file's content, wherever the file is: in the node DaemonSet's container
// neither engine's binary is on PATH, and the file need not be at the
// engine's default path.
func TestEngineFromConfig(t *testing.T) {
	noEngineProbe(t)
	tests := []struct {
		name, config, content string
		extra                 []string
		dropIn, said          string
	}{{
		name:    "containerd",
		config:  "/srv/containerd/config.toml",
		content: "version = 3\nroot = '/srv/containerd/root'\n",
		dropIn:  "/srv/containerd/conf.d/podlock.toml",
		said:    "created /srv/containerd/conf.d/podlock.toml\nupdated /srv/containerd/config.toml\nRestart containerd",
	}, {
		name:    "containerd, --engine agrees",
		config:  "/srv/containerd/config.toml",
		content: "version = 2\n[plugins]\n",
		extra:   []string{"--engine", "containerd"},
		dropIn:  "/srv/containerd/conf.d/podlock.toml",
		said:    "created /srv/containerd/conf.d/podlock.toml\n",
	}, {
		name:    "CRI-O",
		config:  "/srv/crio/crio.conf",
		content: "[crio.runtime]\ndefault_runtime = \"crun\"\n",
		dropIn:  "/srv/crio/crio.conf.d/99-podlock.conf",
		said:    "created /srv/crio/crio.conf.d/99-podlock.conf\nRestart crio",
	}, {
		name:    "empty file, --engine says",
		config:  "/srv/crio/crio.conf",
		content: "",
		extra:   []string{"--engine", "crio"},
		dropIn:  "/srv/crio/crio.conf.d/99-podlock.conf",
		said:    "created /srv/crio/crio.conf.d/99-podlock.conf\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			write(t, root, tt.config, tt.content)
			code, out, errOut := podlockInstall(t, append([]string{"install", "--root", root, "--config", tt.config}, tt.extra...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			contains(t, "stdout", out, tt.said)
			contains(t, "drop-in", read(t, root, tt.dropIn), "podlock")
			if code, _, errOut := podlockInstall(t, append([]string{"uninstall", "--root", root, "--config", tt.config}, tt.extra...)...); code != 0 {
				t.Fatalf("uninstall: exit %d: %s", code, errOut)
			}
			if got := read(t, root, tt.config); got != tt.content {
				t.Errorf("uninstall left %s as\n%q\nwant\n%q", tt.config, got, tt.content)
			}
		})
	}
}
