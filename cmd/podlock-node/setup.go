package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"

	"github.com/kubewarden/podlock/internal/atomicfile"
	"github.com/kubewarden/podlock/runtime/index"
)

// Files podlock-node writes on the host, under --config-dir.
const (
	configFile     = "config.yaml"
	kubeconfigFile = "kubeconfig"
	tokenFile      = "token"
)

const inClusterCA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"

var setupCommand = &cli.Command{
	Name:  "setup",
	Usage: "copy podlock-runtime, podlock-runtime-confine, podlock-helper and podlock-interpose onto the host and write podlock-runtime's configuration",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "host-root", Value: "/host", Usage: "`DIR` where the host's root filesystem is mounted"},
		&cli.StringFlag{Name: "bin-dir", Value: "/usr/local/bin", Usage: "host `DIR` for podlock-runtime, podlock-runtime-confine, podlock-helper and podlock-interpose"},
		&cli.StringFlag{Name: "source-dir", Usage: "`DIR` holding the binaries to copy (default: the directory of podlock-node)"},
		&cli.StringFlag{Name: "config-dir", Value: "/etc/podlock", Usage: "host `DIR` for config.yaml, kubeconfig and the token"},
		&cli.StringFlag{Name: "cache-dir", Value: "/var/lib/podlock/cache", Usage: "host `DIR` for podlock-runtime's copies of profiles"},
		&cli.StringFlag{Name: "record-dir", Value: "/var/lib/podlock/records", Usage: "host `DIR` where learning mode writes the profiles it records"},
		&cli.StringFlag{Name: "index-dir", Value: index.DefaultDir, Usage: "host `DIR` where podlock-runtime records the containers it confines, for podlock-node run's --index-dir"},
		&cli.StringFlag{Name: "api-server", Usage: "`URL` of the API server as the host reaches it (default: the in-cluster address)"},
		&cli.StringFlag{Name: "ca-file", Value: inClusterCA, Usage: "`FILE` with the API server's CA certificates"},
	},
	Action: func(c *cli.Context) error {
		server := c.String("api-server")
		if server == "" {
			host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
			if host == "" || port == "" {
				return fmt.Errorf("--api-server is needed outside a pod")
			}
			server = "https://" + host + ":" + port
		}
		source := c.String("source-dir")
		if source == "" {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			source = filepath.Dir(self)
		}
		s := setup{
			hostRoot:  c.String("host-root"),
			binDir:    c.String("bin-dir"),
			sourceDir: source,
			configDir: c.String("config-dir"),
			cacheDir:  c.String("cache-dir"),
			recordDir: c.String("record-dir"),
			indexDir:  c.String("index-dir"),
			server:    server,
			caFile:    c.String("ca-file"),
		}
		return s.run()
	},
}

// setup is one run of `podlock-node setup`. Paths but hostRoot are paths
// on the host.
type setup struct {
	hostRoot, binDir, sourceDir, configDir, cacheDir, recordDir, indexDir, server, caFile string
}

func (s setup) host(p string) string { return filepath.Join(s.hostRoot, p) }

func (s setup) run() error {
	if err := os.MkdirAll(s.host(s.binDir), 0o755); err != nil {
		return err
	}
	for _, name := range []string{"podlock-runtime", "podlock-runtime-confine", "podlock-helper", "podlock-interpose"} {
		if err := installBinary(filepath.Join(s.sourceDir, name), s.host(filepath.Join(s.binDir, name))); err != nil {
			return fmt.Errorf("installing %s: %w", name, err)
		}
	}
	ca, err := os.ReadFile(s.caFile)
	if err != nil {
		return fmt.Errorf("reading the API server's CA: %w", err)
	}
	if err := os.MkdirAll(s.host(s.configDir), 0o755); err != nil {
		return err
	}
	kubeconfig, err := yaml.Marshal(map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"current-context": "podlock-node",
		"clusters": []any{map[string]any{"name": "cluster", "cluster": map[string]any{
			"server":                     s.server,
			"certificate-authority-data": base64.StdEncoding.EncodeToString(ca),
		}}},
		"users": []any{map[string]any{"name": "podlock-node", "user": map[string]any{
			// Written and refreshed by `podlock-node run`.
			"tokenFile": filepath.Join(s.configDir, tokenFile),
		}}},
		"contexts": []any{map[string]any{"name": "podlock-node", "context": map[string]any{"cluster": "cluster", "user": "podlock-node"}}},
	})
	if err != nil {
		return err
	}
	config, err := yaml.Marshal(map[string]any{
		"source":     "kubernetes",
		"kubeconfig": filepath.Join(s.configDir, kubeconfigFile),
		"cacheDir":   s.cacheDir,
		"recordDir":  s.recordDir,
		"indexDir":   s.indexDir,
		"helper":     filepath.Join(s.binDir, "podlock-helper"),
	})
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{kubeconfigFile: kubeconfig, configFile: config} {
		if err := atomicfile.Write(s.host(filepath.Join(s.configDir, name)), data, 0o600); err != nil {
			return err
		}
	}
	fmt.Printf("installed podlock-runtime, podlock-runtime-confine, podlock-helper and podlock-interpose in %s, configuration in %s\n", s.binDir, s.configDir)
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
