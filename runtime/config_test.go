package runtime

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/profiles/cache"
	"github.com/kubewarden/podlock/profiles/dir"
	"github.com/kubewarden/podlock/profiles/kube"
	"github.com/kubewarden/podlock/runtime/index"
	"github.com/kubewarden/podlock/runtime/realruntime"
)

// cleanConfigEnv clears every variable LoadConfig reads; t.Setenv restores
// them after the test.
func cleanConfigEnv(t *testing.T) {
	t.Helper()
	for _, env := range []string{"PODLOCK_CONFIG", "PODLOCK_RUNTIME", "PODLOCK_PROFILES_DIR", "PODLOCK_HELPER",
		"PODLOCK_SOURCE", "PODLOCK_KUBECONFIG", "PODLOCK_CACHE_DIR", "PODLOCK_API_TIMEOUT", "PODLOCK_RECORD_DIR", "PODLOCK_INDEX_DIR"} {
		t.Setenv(env, "")
		os.Unsetenv(env)
	}
}

func writeFile(t *testing.T, file, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return file
}

// withDefaults fills the fields of c that LoadConfig defaults.
func withDefaults(c Config) Config {
	for field, def := range map[*string]string{
		&c.ProfilesDir: DefaultProfilesDir,
		&c.Source:      SourceAuto,
		&c.Kubeconfig:  DefaultKubeconfig,
		&c.CacheDir:    cache.DefaultDir,
		&c.APITimeout:  kube.DefaultTimeout.String(),
		&c.RecordDir:   DefaultRecordDir,
		&c.IndexDir:    index.DefaultDir,
	} {
		if *field == "" {
			*field = def
		}
	}
	return c
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		file    string // content of the PODLOCK_CONFIG file; "-" for no file
		env     map[string]string
		want    Config // unset fields are the defaults
		wantErr string // substring of the error; "FILE" stands for the file's path
	}{
		{
			name: "empty file",
			file: "",
			want: Config{},
		},
		{
			name: "runtime",
			file: "runtime: /usr/bin/crun\n",
			want: Config{Runtime: "/usr/bin/crun"},
		},
		{
			name: "profilesDir",
			file: "profilesDir: /srv/profiles\n",
			want: Config{ProfilesDir: "/srv/profiles"},
		},
		{
			name: "helper",
			file: "helper: /opt/podlock/podlock-helper\n",
			want: Config{Helper: "/opt/podlock/podlock-helper"},
		},
		{
			name: "source",
			file: "source: directory\n",
			want: Config{Source: SourceDirectory},
		},
		{
			name: "indexDir",
			file: "indexDir: /run/other/index\n",
			want: Config{IndexDir: "/run/other/index"},
		},
		{
			name: "kubeconfig, cacheDir, apiTimeout",
			file: "kubeconfig: /k\ncacheDir: /c\napiTimeout: 500ms\n",
			want: Config{Kubeconfig: "/k", CacheDir: "/c", APITimeout: "500ms"},
		},
		{
			name: "every key",
			file: "runtime: crun\nprofilesDir: /p\nhelper: /h\nsource: kubernetes\nkubeconfig: /k\ncacheDir: /c\napiTimeout: 1m\n",
			want: Config{Runtime: "crun", ProfilesDir: "/p", Helper: "/h", Source: SourceKubernetes, Kubeconfig: "/k", CacheDir: "/c", APITimeout: "1m"},
		},
		{
			name:    "unknown source",
			file:    "source: etcd\n",
			wantErr: `source "etcd"`,
		},
		{
			name:    "bad apiTimeout",
			file:    "apiTimeout: 2\n",
			wantErr: `apiTimeout "2"`,
		},
		{
			name:    "negative apiTimeout",
			file:    "apiTimeout: -1s\n",
			wantErr: `apiTimeout "-1s"`,
		},
		{
			name: "JSON is YAML",
			file: `{"runtime": "runc", "profilesDir": "/p"}`,
			want: Config{Runtime: "runc", ProfilesDir: "/p"},
		},
		{
			name: "environment wins over the file",
			file: "runtime: crun\nprofilesDir: /p\nhelper: /h\nsource: kubernetes\nkubeconfig: /k\ncacheDir: /c\napiTimeout: 1m\nrecordDir: /r\nindexDir: /i\n",
			env: map[string]string{"PODLOCK_RUNTIME": "/env/runc", "PODLOCK_PROFILES_DIR": "/env/p", "PODLOCK_HELPER": "/env/h",
				"PODLOCK_SOURCE": "directory", "PODLOCK_KUBECONFIG": "/env/k", "PODLOCK_CACHE_DIR": "/env/c", "PODLOCK_API_TIMEOUT": "3s",
				"PODLOCK_RECORD_DIR": "/env/r", "PODLOCK_INDEX_DIR": "/env/i"},
			want: Config{Runtime: "/env/runc", ProfilesDir: "/env/p", Helper: "/env/h",
				Source: SourceDirectory, Kubeconfig: "/env/k", CacheDir: "/env/c", APITimeout: "3s", RecordDir: "/env/r", IndexDir: "/env/i"},
		},
		{
			name:    "missing file is an error even with the environment set",
			file:    "-",
			env:     map[string]string{"PODLOCK_RUNTIME": "crun"},
			wantErr: "config file: ",
		},
		{
			name: "empty variables do not override",
			file: "runtime: crun\n",
			env:  map[string]string{"PODLOCK_RUNTIME": ""},
			want: Config{Runtime: "crun"},
		},
		{
			name:    "unknown key",
			file:    "runtime: crun\nprofileDir: /p\n",
			wantErr: "config file FILE: ",
		},
		{
			name:    "malformed YAML",
			file:    "runtime: [\n",
			wantErr: "config file FILE: ",
		},
		{
			name:    "duplicate key",
			file:    "runtime: a\nruntime: b\n",
			wantErr: "config file FILE: ",
		},
		{
			name:    "missing file named by PODLOCK_CONFIG",
			file:    "-",
			wantErr: "FILE",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanConfigEnv(t)
			file := filepath.Join(t.TempDir(), "config.yaml")
			if tt.file != "-" {
				writeFile(t, file, tt.file, 0o644)
			}
			t.Setenv("PODLOCK_CONFIG", file)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := LoadConfig()
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "FILE", file)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("LoadConfig() error = %v, want one containing %q", err, want)
				}
				if tt.file == "-" && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("LoadConfig() error = %v, want it to wrap fs.ErrNotExist", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig() error = %v", err)
			}
			if want := withDefaults(tt.want); *got != want {
				t.Errorf("LoadConfig() = %+v, want %+v", *got, want)
			}
		})
	}
}

// TestLoadConfigDefaultFile: a missing /etc/podlock/config.yaml is not an
// error. The test machine has no such file.
func TestLoadConfigDefaultFile(t *testing.T) {
	if _, err := os.Stat(DefaultConfigFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("this test needs %s not to exist (stat: %v)", DefaultConfigFile, err)
	}
	cleanConfigEnv(t)
	t.Setenv("PODLOCK_PROFILES_DIR", "/env/p")
	got, err := LoadConfig()
	if err != nil {
		t.Fatalf("LoadConfig() error = %v", err)
	}
	if want := withDefaults(Config{ProfilesDir: "/env/p"}); *got != want {
		t.Errorf("LoadConfig() = %+v, want %+v", *got, want)
	}
}

func TestRealRuntime(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	script := "#!/bin/sh\nexit 0\n"
	// PATH directories, each with something called runc.
	var (
		selfLink   = filepath.Join(tmp, "self")     // runc -> this test binary
		noExec     = filepath.Join(tmp, "noexec")   // runc not executable
		isDir      = filepath.Join(tmp, "dir")      // runc is a directory
		good       = filepath.Join(tmp, "good")     // runc script
		other      = filepath.Join(tmp, "other")    // another runc script
		empty      = filepath.Join(tmp, "empty")    // no runc
		crunDir    = filepath.Join(tmp, "crun")     // crun only
		missingDir = filepath.Join(tmp, "missing")  // does not exist
		selfHard   = filepath.Join(tmp, "selfhard") // runc is a hard link to this test binary
	)
	for _, d := range []string{selfLink, noExec, isDir, good, other, empty, crunDir, selfHard} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(self, filepath.Join(selfLink, "runc")); err != nil {
		t.Fatal(err)
	}
	hardLinked := os.Link(self, filepath.Join(selfHard, "runc")) == nil // same file system only
	writeFile(t, filepath.Join(noExec, "runc"), script, 0o644)
	if err := os.Mkdir(filepath.Join(isDir, "runc"), 0o755); err != nil {
		t.Fatal(err)
	}
	goodRunc := writeFile(t, filepath.Join(good, "runc"), script, 0o755)
	otherRunc := writeFile(t, filepath.Join(other, "runc"), script, 0o755)
	crun := writeFile(t, filepath.Join(crunDir, "crun"), script, 0o755)

	path := func(dirs ...string) string { return strings.Join(dirs, string(os.PathListSeparator)) }
	tests := []struct {
		name    string
		runtime string
		path    string
		want    string
		wantErr string
	}{
		{name: "first runc in PATH", path: path(empty, good, other), want: goodRunc},
		{name: "empty PATH entries are skipped", path: path("", good), want: goodRunc},
		{name: "itself through a symlink is skipped", path: path(selfLink, other), want: otherRunc},
		{name: "not executable is skipped", path: path(noExec, good), want: goodRunc},
		{name: "directory is skipped", path: path(isDir, missingDir, good), want: goodRunc},
		{name: "only itself", path: path(selfLink), wantErr: "real runtime not found"},
		{name: "no runc", path: path(empty, crunDir), wantErr: "real runtime not found"},
		{name: "empty PATH: the system's directories", path: "", want: goodRunc},
		{name: "explicit name in PATH", runtime: "crun", path: path(good, crunDir), want: crun},
		{name: "explicit path", runtime: otherRunc, path: path(good), want: otherRunc},
		{name: "explicit name not found", runtime: "crun", path: path(good), wantErr: `real runtime "crun": `},
		{name: "explicit path not found", runtime: filepath.Join(empty, "runc"), path: path(good), wantErr: "PODLOCK_RUNTIME"},
		{name: "explicit path not executable", runtime: filepath.Join(noExec, "runc"), path: path(good), wantErr: "real runtime"},
		{name: "explicit path to itself", runtime: self, path: path(good), wantErr: "is podlock-runtime itself"},
		{name: "explicit symlink to itself", runtime: filepath.Join(selfLink, "runc"), path: path(good), wantErr: "is podlock-runtime itself"},
	}
	if hardLinked {
		tests = append(tests, struct {
			name    string
			runtime string
			path    string
			want    string
			wantErr string
		}{name: "itself through a hard link is skipped", path: path(selfHard, good), want: goodRunc})
	}
	saved := realruntime.SystemPath
	t.Cleanup(func() { realruntime.SystemPath = saved })
	realruntime.SystemPath = path(empty, good, other)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", tt.path)
			c := &Config{Runtime: tt.runtime}
			got, err := c.RealRuntime()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("RealRuntime() = %q, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("RealRuntime() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("RealRuntime() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHelperPath(t *testing.T) {
	tmp := t.TempDir()
	good := writeFile(t, filepath.Join(tmp, "good"), "x", 0o755)
	private := writeFile(t, filepath.Join(tmp, "private"), "x", 0o750)
	tests := []struct {
		name    string
		helper  string
		want    string
		wantErr string
	}{
		{name: "readable and executable by all", helper: good, want: good},
		{name: "missing", helper: filepath.Join(tmp, "missing"), wantErr: "podlock helper: "},
		{name: "not for every user", helper: private, wantErr: "every user"},
		{name: "directory", helper: tmp, wantErr: "regular file"},
		// The test binary has no podlock-helper next to it.
		{name: "default next to the executable", helper: "", wantErr: "install it next to podlock-runtime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := (&Config{Helper: tt.helper}).HelperPath()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("HelperPath() = %q, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("HelperPath() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestProfileSource(t *testing.T) {
	tmp := t.TempDir()
	missing := filepath.Join(tmp, "missing-kubeconfig")
	malformed := writeFile(t, filepath.Join(tmp, "malformed"), "clusters: [", 0o600)
	valid := writeFile(t, filepath.Join(tmp, "kubeconfig"), `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: secret}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`, 0o600)
	tests := []struct {
		name    string
		c       Config
		wantDir bool   // a dir.Source of ProfilesDir
		wantAPI bool   // the API server behind the cache
		wantErr string // substring of the error
	}{
		{name: "directory", c: Config{Source: SourceDirectory, Kubeconfig: valid}, wantDir: true},
		{name: "auto without kubeconfig", c: Config{Source: SourceAuto, Kubeconfig: missing}, wantDir: true},
		{name: "auto with kubeconfig", c: Config{Source: SourceAuto, Kubeconfig: valid}, wantAPI: true},
		{name: "kubernetes", c: Config{Source: SourceKubernetes, Kubeconfig: valid}, wantAPI: true},
		{name: "kubernetes without kubeconfig", c: Config{Source: SourceKubernetes, Kubeconfig: missing}, wantErr: "PODLOCK_KUBECONFIG"},
		{name: "auto with a malformed kubeconfig", c: Config{Source: SourceAuto, Kubeconfig: malformed}, wantErr: "PODLOCK_KUBECONFIG"},
		{name: "bad timeout", c: Config{Source: SourceKubernetes, Kubeconfig: valid, APITimeout: "soon"}, wantErr: `apiTimeout "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := withDefaults(tt.c)
			c.ProfilesDir = filepath.Join(tmp, "profiles")
			src, err := c.ProfileSource(nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ProfileSource() = %T, %v; want an error containing %q", src, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ProfileSource() error = %v", err)
			}
			switch s := src.(type) {
			case dir.Source:
				if !tt.wantDir || s.Dir != c.ProfilesDir {
					t.Errorf("ProfileSource() = %#v", s)
				}
			case *cache.Source:
				if !tt.wantAPI || s.Dir != c.CacheDir {
					t.Errorf("ProfileSource() = %#v", s)
				}
			default:
				t.Errorf("ProfileSource() = %T", src)
			}
		})
	}
}
