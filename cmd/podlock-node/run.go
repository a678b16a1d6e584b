package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubewarden/podlock/internal/atomicfile"
	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/runtime/index"
)

// Node labels: the RuntimeClass podlock selects nodes where podlock is
// ready, and operators can see each node's Landlock ABI.
const (
	labelLandlockVersion = "podlock.kubewarden.io/landlock-version"
	labelReady           = "podlock.kubewarden.io/ready"
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
		&cli.BoolFlag{Name: "once", Usage: "write the token and the labels once, then exit"},
		&cli.BoolFlag{Name: "report-denials", Value: true, Usage: "report the denials of confined processes as Events on their pods and as metrics (needs CAP_AUDIT_CONTROL and the host's /proc; no other audit daemon may run)"},
		&cli.StringFlag{Name: "proc", Value: "/proc", Usage: "`DIR` of the host's processes"},
		&cli.StringFlag{Name: "index-dir", Value: index.DefaultDir, Usage: "host `DIR` of podlock-runtime's container index (its indexDir), from which denials are attributed; entries of stopped containers are removed"},
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
		a := &agent{
			client:    client,
			log:       slog.New(slog.NewJSONHandler(os.Stderr, nil)),
			node:      c.String("node-name"),
			saNS:      ns,
			saName:    name,
			ttl:       c.Duration("token-ttl"),
			tokenPath: filepath.Join(c.String("host-root"), c.String("config-dir"), tokenFile),
			binaries:  filepath.Join(c.String("host-root"), c.String("bin-dir")),
		}
		if c.Bool("once") {
			return a.refresh(c.Context)
		}
		if addr := c.String("probe-address"); addr != "" {
			a.probes = newProbes(a.ready, a.ttl, c.Bool("report-denials"))
			go a.probes.serve(c.Context, addr, a.log)
		}
		reg := prometheus.NewRegistry()
		if c.Bool("report-denials") {
			r := newReporter(client, a.log, a.node, reg)
			containers := index.NewReader(filepath.Join(c.String("host-root"), c.String("index-dir")))
			go func() {
				if err := r.watch(c.Context, c.String("proc"), containers); err != nil {
					a.log.Error("denials are not reported", "error", err)
				}
			}()
			go collect(c.Context, a.log, containers, c.String("proc"))
		}
		if addr := c.String("metrics-address"); addr != "" {
			srv := &http.Server{Addr: addr, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
			go func() {
				if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
					a.log.Error("serving metrics", "error", err)
				}
			}()
			defer srv.Close()
		}
		return a.loop(c.Context)
	},
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return rest.InClusterConfig()
}

// agent keeps one node ready for podlock.
type agent struct {
	client       kubernetes.Interface
	log          *slog.Logger
	node         string
	saNS, saName string
	ttl          time.Duration
	tokenPath    string
	binaries     string
	probes       *probes // nil: none
}

func (a *agent) loop(ctx context.Context) error {
	for {
		wait := a.ttl / 2
		if err := a.refresh(ctx); err != nil {
			a.log.Error("refreshing the node's podlock state", "error", err)
			wait = 10 * time.Second
		}
		select {
		case <-ctx.Done():
			// Leaving: new confined pods must not be scheduled here on
			// the strength of a token nobody renews.
			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return a.label(shutdown, false)
		case <-time.After(wait):
		}
	}
}

// refresh writes a new token for podlock-runtime and labels the node.
func (a *agent) refresh(ctx context.Context) error {
	seconds := int64(a.ttl.Seconds())
	tr, err := a.client.CoreV1().ServiceAccounts(a.saNS).CreateToken(ctx, a.saName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token for %s/%s: %w", a.saNS, a.saName, err)
	}
	if err := os.MkdirAll(filepath.Dir(a.tokenPath), 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(a.tokenPath, []byte(tr.Status.Token), 0o600); err != nil {
		return err
	}
	if a.probes != nil {
		a.probes.tokenWritten(tr.Status.ExpirationTimestamp.Time)
	}
	ready := a.ready()
	if err := a.label(ctx, ready); err != nil {
		return err
	}
	a.log.Info("node refreshed", "node", a.node, "ready", ready, "tokenExpires", tr.Status.ExpirationTimestamp.Time)
	return nil
}

// ready reports whether confined containers can start here.
func (a *agent) ready() bool {
	if landlock.KernelABI() < landlock.MinABI {
		return false
	}
	for _, name := range []string{"podlock-runtime", "podlock-runtime-confine", "podlock-helper", "podlock-interpose"} {
		if fi, err := os.Stat(filepath.Join(a.binaries, name)); err != nil || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

func (a *agent) label(ctx context.Context, ready bool) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{
		labelLandlockVersion: strconv.Itoa(landlock.KernelABI()),
		labelReady:           strconv.FormatBool(ready),
	}}})
	if err != nil {
		return err
	}
	if _, err := a.client.CoreV1().Nodes().Patch(ctx, a.node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("labelling node %s: %w", a.node, err)
	}
	return nil
}
