package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubewarden/podlock/node/agent"
	"github.com/kubewarden/podlock/node/denials"
	"github.com/kubewarden/podlock/node/probes"
	"github.com/kubewarden/podlock/node/publish"
	"github.com/kubewarden/podlock/node/setup"
	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/runtime/index"
)

var runCommand = &cli.Command{
	Name:  "run",
	Usage: "keep the node identity's token fresh on the host and the node's podlock labels true",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "host-root", Value: "/host", Usage: "`DIR` where the host's root filesystem is mounted"},
		&cli.StringFlag{Name: "bin-dir", Value: "/usr/local/bin", Usage: "host `DIR` of podlock-runtime and podlock-helper"},
		&cli.StringFlag{Name: "config-dir", Value: "/etc/podlock", Usage: "host `DIR` of the token file"},
		&cli.StringFlag{Name: "node-name", EnvVars: []string{"NODE_NAME"}, Usage: "`NAME` of this node", Required: true},
		&cli.StringFlag{Name: "service-account", Value: "podlock-system/podlock-node", Usage: "`NAMESPACE/NAME` of the identity podlock-runtime uses"},
		&cli.DurationFlag{Name: "token-ttl", Value: time.Hour, Usage: "lifetime of the tokens requested; they are renewed at half of it"},
		&cli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig `FILE` of podlock-node's own identity (default: in-cluster)"},
		&cli.BoolFlag{Name: "once", Usage: "write the token and the labels once, publish the recordings once, then exit"},
		&cli.BoolFlag{Name: "report-denials", Value: true, Usage: "report the denials of confined processes as Events on their pods and as metrics (needs CAP_AUDIT_CONTROL and the host's /proc; no other audit daemon may run)"},
		&cli.StringFlag{Name: "proc", Value: "/proc", Usage: "`DIR` of the host's processes"},
		&cli.StringFlag{Name: "index-dir", Value: index.DefaultDir, Usage: "host `DIR` of podlock-runtime's container index (its indexDir), from which denials are attributed; entries of stopped containers are removed"},
		&cli.BoolFlag{Name: "publish-recordings", Value: true, Usage: "publish what learning mode records on this node as the LandlockProfile <profile>-recorded and SeccompProfiles <profile>-recorded-<container> in the profile's namespace, merged with other nodes' recordings"},
		&cli.StringFlag{Name: "record-dir", Value: "/var/lib/podlock/records", Usage: "host `DIR` where learning mode writes the profiles it records (podlock-node setup's --record-dir)"},
		&cli.DurationFlag{Name: "publish-every", Value: 10 * time.Second, Usage: "how often the record directory is checked for recordings to publish"},
		&cli.StringFlag{Name: "metrics-address", Value: ":9811", Usage: "`ADDRESS` to serve Prometheus metrics on, at /metrics; empty: none"},
		&cli.StringFlag{Name: "probe-address", Value: ":9812", Usage: "`ADDRESS` to answer the kubelet's probes on: /healthz, and /readyz (ready: the binaries installed, the token renewed on time, and with --report-denials the audit socket held); empty: none"},
	},
	Action: func(c *cli.Context) error {
		cfg, err := restConfig(c.String("kubeconfig"))
		if err != nil {
			return err
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		ns, name, ok := strings.Cut(c.String("service-account"), "/")
		if !ok {
			return fmt.Errorf("--service-account %q: want NAMESPACE/NAME", c.String("service-account"))
		}
		a := &agent.Agent{
			Client:      client,
			Log:         slog.New(slog.NewJSONHandler(os.Stderr, nil)),
			Node:        c.String("node-name"),
			SANamespace: ns,
			SAName:      name,
			TTL:         c.Duration("token-ttl"),
			TokenPath:   filepath.Join(c.String("host-root"), c.String("config-dir"), setup.TokenFile),
			Binaries:    filepath.Join(c.String("host-root"), c.String("bin-dir")),
		}
		var pub *publish.Publisher
		if c.Bool("publish-recordings") {
			if pub, err = publisher(cfg, a, filepath.Join(c.String("host-root"), c.String("record-dir")), c.Duration("publish-every")); err != nil {
				return err
			}
		}
		if c.Bool("once") {
			if err := a.Refresh(c.Context); err != nil {
				return err
			}
			if pub != nil {
				return pub.PublishChanged(c.Context)
			}
			return nil
		}
		if pub != nil {
			go pub.Run(c.Context)
		}
		if addr := c.String("probe-address"); addr != "" {
			a.Probes = probes.New(a.Ready, a.TTL, c.Bool("report-denials"))
			go a.Probes.Serve(c.Context, addr, a.Log)
		}
		reg := prometheus.NewRegistry()
		if c.Bool("report-denials") {
			r := denials.NewReporter(client, a.Log, a.Node, reg)
			containers := index.NewReader(filepath.Join(c.String("host-root"), c.String("index-dir")))
			go func() {
				if err := r.Watch(c.Context, c.String("proc"), containers); err != nil {
					a.Log.Error("denials are not reported", "error", err)
				}
			}()
			go denials.Collect(c.Context, a.Log, containers, c.String("proc"))
		}
		if addr := c.String("metrics-address"); addr != "" {
			srv := &http.Server{Addr: addr, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
			go func() {
				if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
					a.Log.Error("serving metrics", "error", err)
				}
			}()
			defer srv.Close()
		}
		return a.Loop(c.Context)
	},
}

func publisher(cfg *rest.Config, a *agent.Agent, dir string, every time.Duration) (*publish.Publisher, error) {
	scheme := runtime.NewScheme()
	if err := crd.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("client for publishing recordings: %w", err)
	}
	return &publish.Publisher{Client: c, Log: a.Log, Node: a.Node, Dir: dir, Every: every}, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return rest.InClusterConfig()
}
