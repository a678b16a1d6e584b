// Package setup prepares a node for podlock: it copies podlock-runtime,
// podlock-helper and podlock-interpose onto the host and writes
// podlock-runtime's configuration and node kubeconfig.
package setup

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/kubewarden/podlock/internal/atomicfile"
)

// Files podlock-node writes on the host, under its configuration
// directory.
const (
	ConfigFile     = "config.yaml"
	KubeconfigFile = "kubeconfig"
	TokenFile      = "token"
)

// Setup is one run of `podlock-node setup`. Paths but HostRoot and
// SourceDir are paths on the host.
type Setup struct {
	// HostRoot is where the host's root filesystem is mounted.
	HostRoot string
	// BinDir receives podlock-runtime, podlock-runtime-confine, podlock-helper and
	// podlock-interpose from SourceDir.
	BinDir, SourceDir string
	// ConfigDir receives config.yaml, the kubeconfig and the token.
	ConfigDir string
	// CacheDir, RecordDir and IndexDir are podlock-runtime's.
	CacheDir, RecordDir, IndexDir string
	// Server is the API server's URL as the host reaches it, CAFile the
	// file of its CA certificates.
	Server, CAFile string
}

func (s Setup) host(p string) string { return filepath.Join(s.HostRoot, p) }

// Run installs the binaries and writes the configuration.
func (s Setup) Run() error {
	if err := os.MkdirAll(s.host(s.BinDir), 0o755); err != nil {
		return err
	}
	// In the order of their use by a running podlock: what a binary
	// writes for another (podlock-runtime-confine the helper's policy
	// and the hook's plan) is only ever read by that binary's release
	// or a later one, which reads what earlier releases wrote, also
	// while the node is being upgraded under running containers.
	for _, name := range []string{"podlock-helper", "podlock-interpose", "podlock-runtime-confine", "podlock-runtime"} {
		if err := installBinary(filepath.Join(s.SourceDir, name), s.host(filepath.Join(s.BinDir, name))); err != nil {
			return fmt.Errorf("installing %s: %w", name, err)
		}
	}
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		return fmt.Errorf("reading the API server's CA: %w", err)
	}
	if err := os.MkdirAll(s.host(s.ConfigDir), 0o755); err != nil {
		return err
	}
	kubeconfig, err := yaml.Marshal(map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"current-context": "podlock-node",
		"clusters": []any{map[string]any{"name": "cluster", "cluster": map[string]any{
			"server":                     s.Server,
			"certificate-authority-data": base64.StdEncoding.EncodeToString(ca),
		}}},
		"users": []any{map[string]any{"name": "podlock-node", "user": map[string]any{
			// Written and refreshed by `podlock-node run`.
			"tokenFile": filepath.Join(s.ConfigDir, TokenFile),
		}}},
		"contexts": []any{map[string]any{"name": "podlock-node", "context": map[string]any{"cluster": "cluster", "user": "podlock-node"}}},
	})
	if err != nil {
		return err
	}
	config, err := yaml.Marshal(map[string]any{
		"source":     "kubernetes",
		"kubeconfig": filepath.Join(s.ConfigDir, KubeconfigFile),
		"cacheDir":   s.CacheDir,
		"recordDir":  s.RecordDir,
		"indexDir":   s.IndexDir,
		"helper":     filepath.Join(s.BinDir, "podlock-helper"),
	})
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{KubeconfigFile: kubeconfig, ConfigFile: config} {
		if err := atomicfile.Write(s.host(filepath.Join(s.ConfigDir, name)), data, 0o600); err != nil {
			return err
		}
	}
	fmt.Printf("installed podlock-runtime, podlock-runtime-confine, podlock-helper and podlock-interpose in %s, configuration in %s\n", s.BinDir, s.ConfigDir)
	return nil
}

// installBinary copies a binary to the host unless the host already has
// exactly that file. Running confined containers hold the helper through
// bind mounts of its inode: rewriting it, even unchanged, would leave them
// on an unlinked file for nothing. A changed binary replaces the old one
// by rename (containerd may be executing it right now); the containers
// keep the old helper, which the helper is built to survive.
func installBinary(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("reading it to install: %w", err)
	}
	const mode = 0o755
	current, err := os.ReadFile(to)
	if err == nil && bytes.Equal(current, data) {
		// Same inode whatever its mode was.
		return os.Chmod(to, mode)
	}
	return atomicfile.Write(to, data, mode)
}
