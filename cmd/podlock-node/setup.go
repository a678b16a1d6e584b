package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/kubewarden/podlock/node/setup"
	"github.com/kubewarden/podlock/runtime/index"
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
		s := setup.Setup{
			HostRoot:  c.String("host-root"),
			BinDir:    c.String("bin-dir"),
			SourceDir: source,
			ConfigDir: c.String("config-dir"),
			CacheDir:  c.String("cache-dir"),
			RecordDir: c.String("record-dir"),
			IndexDir:  c.String("index-dir"),
			Server:    server,
			CAFile:    c.String("ca-file"),
		}
		return s.Run()
	},
}
