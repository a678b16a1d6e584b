package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kubewarden/podlock/profiles"
	"github.com/kubewarden/podlock/profiles/cache"
	"github.com/kubewarden/podlock/profiles/dir"
	"github.com/kubewarden/podlock/profiles/kube"
	"github.com/kubewarden/podlock/runtime/index"
	"github.com/kubewarden/podlock/runtime/realruntime"
)

// Config is podlock-runtime's configuration file, /etc/podlock/config.yaml
// unless PODLOCK_CONFIG names another. Every key is optional;
// runtime/README.md documents each.
type Config struct {
	// Runtime is the real OCI runtime: a path, or a name looked up in PATH.
	// Default: the first runc in PATH that is not podlock-runtime itself.
	// Env: PODLOCK_RUNTIME.
	Runtime string `json:"runtime,omitempty"`
	// ProfilesDir holds LandlockProfile and SeccompProfile manifests.
	// Default: /etc/podlock/profiles. Env: PODLOCK_PROFILES_DIR.
	ProfilesDir string `json:"profilesDir,omitempty"`
	// Helper is the static helper binary mounted into confined
	// containers. Default: podlock-helper next to podlock-runtime.
	// Env: PODLOCK_HELPER.
	Helper string `json:"helper,omitempty"`
	// Source is where profiles come from: "kubernetes" (the API server of
	// Kubeconfig), "directory" (ProfilesDir) or "auto", the default:
	// kubernetes when Kubeconfig exists, else directory.
	// Env: PODLOCK_SOURCE.
	Source string `json:"source,omitempty"`
	// Kubeconfig is the node's read-only credential for the API server.
	// Default: /etc/podlock/kubeconfig. Env: PODLOCK_KUBECONFIG.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// CacheDir keeps the last copy of each profile read from the API
	// server. Default: /var/lib/podlock/cache. Env: PODLOCK_CACHE_DIR.
	CacheDir string `json:"cacheDir,omitempty"`
	// APITimeout bounds one request to the API server, as a Go duration.
	// Default: 2s. Env: PODLOCK_API_TIMEOUT.
	APITimeout string `json:"apiTimeout,omitempty"`
	// RecordDir receives the profiles recorded from the containers of
	// pods whose LandlockProfile is in mode Record, one manifest file per
	// pod under a directory per namespace. Default: /var/lib/podlock/records.
	// Env: PODLOCK_RECORD_DIR.
	RecordDir string `json:"recordDir,omitempty"`
	// IndexDir is where podlock-runtime records each container it
	// confines (its ID, bundle, cgroup and pod), root-only, for
	// podlock-node to attribute denials from the host's view of a
	// process. Default: /run/podlock/containers. Env: PODLOCK_INDEX_DIR.
	IndexDir string `json:"indexDir,omitempty"`
}

// Defaults.
const (
	DefaultConfigFile  = "/etc/podlock/config.yaml"
	DefaultProfilesDir = "/etc/podlock/profiles"
	DefaultKubeconfig  = "/etc/podlock/kubeconfig"
	DefaultRecordDir   = "/var/lib/podlock/records"
	helperName         = "podlock-helper"
	frontName          = "podlock-runtime"
)

// Values of Config.Source.
const (
	SourceAuto       = "auto"
	SourceKubernetes = "kubernetes"
	SourceDirectory  = "directory"
)

func (c *Config) timeout() (time.Duration, error) {
	d, err := time.ParseDuration(c.APITimeout)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("config: apiTimeout %q is not a positive duration such as 2s", c.APITimeout)
	}
	return d, nil
}

// ProfileSource builds the source the configuration names: the API server
// behind an on-disk copy, or the directory of manifests.
func (c *Config) ProfileSource(log *slog.Logger) (profiles.Source, error) {
	useAPI := c.Source == SourceKubernetes
	if c.Source == SourceAuto {
		_, err := os.Stat(c.Kubeconfig)
		useAPI = err == nil
	}
	if !useAPI {
		return dir.Source{Dir: c.ProfilesDir}, nil
	}
	timeout, err := c.timeout()
	if err != nil {
		return nil, err
	}
	api, err := kube.New(c.Kubeconfig, kube.Options{Timeout: timeout, SessionDir: c.CacheDir})
	if err != nil {
		return nil, fmt.Errorf("profiles from the API server: %w; fix kubeconfig in %s or PODLOCK_KUBECONFIG", err, DefaultConfigFile)
	}
	return &cache.Source{Inner: api, Dir: c.CacheDir, Log: log}, nil
}

// LoadConfig reads the configuration file (a missing default file is not
// an error; a missing file named by PODLOCK_CONFIG is) and applies the
// environment's overrides and the defaults.
func LoadConfig() (*Config, error) {
	file, explicit := os.LookupEnv("PODLOCK_CONFIG")
	if !explicit {
		file = DefaultConfigFile
	}
	var c Config
	data, err := os.ReadFile(file)
	switch {
	case err == nil:
		if err := yaml.UnmarshalStrict(data, &c); err != nil {
			return nil, fmt.Errorf("config file %s: %w", file, err)
		}
	case errors.Is(err, os.ErrNotExist) && !explicit:
	default:
		return nil, fmt.Errorf("config file: %w", err)
	}
	for env, field := range map[string]*string{
		"PODLOCK_RUNTIME":      &c.Runtime,
		"PODLOCK_PROFILES_DIR": &c.ProfilesDir,
		"PODLOCK_HELPER":       &c.Helper,
		"PODLOCK_SOURCE":       &c.Source,
		"PODLOCK_KUBECONFIG":   &c.Kubeconfig,
		"PODLOCK_CACHE_DIR":    &c.CacheDir,
		"PODLOCK_API_TIMEOUT":  &c.APITimeout,
		"PODLOCK_RECORD_DIR":   &c.RecordDir,
		"PODLOCK_INDEX_DIR":    &c.IndexDir,
	} {
		if v := os.Getenv(env); v != "" {
			*field = v
		}
	}
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
	if _, err := c.timeout(); err != nil {
		return nil, err
	}
	switch c.Source {
	case SourceAuto, SourceKubernetes, SourceDirectory:
	default:
		return nil, fmt.Errorf("config: source %q is none of %s, %s, %s", c.Source, SourceAuto, SourceKubernetes, SourceDirectory)
	}
	return &c, nil
}

// RealRuntime resolves the runtime to hand over to.
func (c *Config) RealRuntime() (string, error) {
	self, _ := os.Executable()
	// podlock-runtime, the front that executed this binary, sits next
	// to it and must not be taken for runc either.
	front := filepath.Join(filepath.Dir(self), frontName)
	p, err := realruntime.Find(c.Runtime, self, front)
	switch {
	case errors.Is(err, realruntime.ErrOurs):
		return "", fmt.Errorf("real runtime %s %w; point runtime in %s or PODLOCK_RUNTIME at runc or crun", p, err, DefaultConfigFile)
	case errors.Is(err, realruntime.ErrNoRunc):
		return "", fmt.Errorf("real runtime not found: %w; install runc or set runtime in %s or PODLOCK_RUNTIME", err, DefaultConfigFile)
	case err != nil:
		return "", fmt.Errorf("real runtime %q: %w; fix runtime in %s or PODLOCK_RUNTIME", c.Runtime, err, DefaultConfigFile)
	}
	return p, nil
}

// HelperPath resolves the helper binary.
func (c *Config) HelperPath() (string, error) {
	p := c.Helper
	if p == "" {
		self, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("locating %s: %w", helperName, err)
		}
		p = filepath.Join(filepath.Dir(self), helperName)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("podlock helper: %w; install it next to podlock-runtime or set helper in %s", err, DefaultConfigFile)
	}
	if !fi.Mode().IsRegular() || fi.Mode()&0o005 != 0o005 {
		return "", fmt.Errorf("podlock helper %s must be a regular file that every user may read and execute (mode %v)", p, fi.Mode())
	}
	return p, nil
}
