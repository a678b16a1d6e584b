// Command podlock-controller serves podlock's admission webhooks and keeps
// profiles in use from being deleted. It is wiring only: the policy is in
// profiles/webhook, the finalizer controller in profiles/controller.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/kubewarden/podlock/profiles/controller"
	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/webhook"
	"github.com/kubewarden/podlock/profiles/webhook/certs"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const (
	defaultConfig      = "/etc/podlock/controller.yaml"
	defaultNamespace   = "podlock-system"
	defaultService     = "podlock-controller-webhook"
	defaultWebhookName = "podlock-controller"
	leaderElectionID   = "podlock-controller.podlock.kubewarden.io"
)

type options struct {
	configPath     string
	configSet      bool
	namespace      string
	webhookHost    string
	webhookPort    int
	tlsMode        string
	certDir        string
	certName       string
	keyName        string
	caSecret       string
	webhookHosts   string
	mutatingName   string
	validatingName string
	caValidity     time.Duration
	certValidity   time.Duration
	certInterval   time.Duration
	metricsAddr    string
	probeAddr      string
	leaderElect    bool
	leaderNS       string
	enableHTTP2    bool
	reusePort      bool
	logLevel       string
	logFormat      string
	showVersion    bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("podlock-controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: podlock-controller [flags]

Serves podlock's admission webhooks (%s, %s, %s) and keeps
LandlockProfiles and SeccompProfiles that pods use from being deleted.
The admission policy is in the YAML file of --config; install/controller/README.md
documents its keys.

Flags:
`, webhook.PathMutatePods, webhook.PathValidatePods, webhook.PathValidateWorkloads)
		fs.PrintDefaults()
	}
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = defaultNamespace
	}
	config.RegisterFlags(fs) // --kubeconfig; in a pod, the service account is used
	fs.StringVar(&o.configPath, "config", defaultConfig, "policy configuration file (YAML); when the default path does not exist, the defaults apply")
	fs.StringVar(&o.namespace, "namespace", ns, "namespace of the controller, where the CA Secret and the leader-election lease are (the default is $POD_NAMESPACE when set)")
	fs.StringVar(&o.webhookHost, "webhook-bind-address", "", "address the webhook server listens on (empty: every address)")
	fs.IntVar(&o.webhookPort, "webhook-port", 9443, "port of the webhook server (HTTPS)")
	fs.StringVar(&o.tlsMode, "tls-mode", "cert-files", "where the serving certificate comes from: cert-files (read from --cert-dir, reloaded when it changes, e.g. by cert-manager) or self-signed (a CA of its own, see --ca-secret)")
	fs.StringVar(&o.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "cert-files mode: directory of the certificate and key")
	fs.StringVar(&o.certName, "cert-name", "tls.crt", "cert-files mode: certificate file name in --cert-dir")
	fs.StringVar(&o.keyName, "key-name", "tls.key", "cert-files mode: key file name in --cert-dir")
	fs.StringVar(&o.caSecret, "ca-secret", "podlock-webhook-ca", "self-signed mode: Secret of --namespace that holds the CA, shared by the replicas")
	fs.StringVar(&o.webhookHosts, "webhook-hosts", "", "self-signed mode: comma-separated DNS names and IP addresses of the serving certificate (default: the service "+defaultService+" of --namespace, .svc and .svc.cluster.local)")
	fs.StringVar(&o.mutatingName, "mutating-webhook-configuration", defaultWebhookName, "self-signed mode: MutatingWebhookConfiguration whose caBundle is written (empty: none)")
	fs.StringVar(&o.validatingName, "validating-webhook-configuration", defaultWebhookName, "self-signed mode: ValidatingWebhookConfiguration whose caBundle is written (empty: none)")
	fs.DurationVar(&o.caValidity, "ca-validity", 365*24*time.Hour, "self-signed mode: lifetime of a CA; it is renewed when a third is left")
	fs.DurationVar(&o.certValidity, "cert-validity", 30*24*time.Hour, "self-signed mode: lifetime of a serving certificate; it is renewed when a third is left")
	fs.DurationVar(&o.certInterval, "cert-check-interval", time.Minute, "self-signed mode: how often the CA, the caBundle and the serving certificate are checked")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint /metrics (HTTP; 0 disables it)")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address of the probes /healthz and /readyz (HTTP)")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader among replicas to run the finalizer controller; every replica serves the webhooks")
	fs.StringVar(&o.leaderNS, "leader-election-namespace", "", "namespace of the leader-election lease (default: --namespace)")
	fs.BoolVar(&o.reusePort, "reuse-port", false, "open the webhook, probe and metrics listeners with SO_REUSEPORT, so that replicas in one network namespace (host network, one node) share the ports; connections, probes included, then reach any of them")
	fs.BoolVar(&o.enableHTTP2, "enable-http2", false, "serve webhooks over HTTP/2 too (off: HTTP/2 stream resets made denial of service cheap, CVE-2023-44487)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: error, info, debug, or a number N for logr's V(N)")
	fs.StringVar(&o.logFormat, "log-format", "json", "log format: json or text (to stderr)")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			o.configSet = true
		}
	})
	if o.tlsMode != "cert-files" && o.tlsMode != "self-signed" {
		return nil, fmt.Errorf("--tls-mode %q: want cert-files or self-signed", o.tlsMode)
	}
	if o.leaderNS == "" {
		o.leaderNS = o.namespace
	}
	return o, nil
}

func newLogger(o *options, w io.Writer) (logr.Logger, error) {
	var level slog.Level
	switch o.logLevel {
	case "error":
		level = slog.LevelError
	case "info":
		level = slog.LevelInfo
	case "debug":
		level = slog.Level(-1) // logr's V(1)
	default:
		n, err := strconv.Atoi(o.logLevel)
		if err != nil || n < 0 {
			return logr.Logger{}, fmt.Errorf("--log-level %q: want error, info, debug or a number", o.logLevel)
		}
		level = slog.Level(-n)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "json":
		return logr.FromSlogHandler(slog.NewJSONHandler(w, hopts)), nil
	case "text":
		return logr.FromSlogHandler(slog.NewTextHandler(w, hopts)), nil
	}
	return logr.Logger{}, fmt.Errorf("--log-format %q: want json or text", o.logFormat)
}

func run(args []string, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "podlock-controller: %v\n", err)
		return 2
	}
	if o.showVersion {
		fmt.Fprintln(os.Stdout, "podlock-controller", version)
		return 0
	}
	log, err := newLogger(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "podlock-controller: %v\n", err)
		return 2
	}
	ctrl.SetLogger(log)
	klog.SetLogger(log)
	if err := serve(ctrl.SetupSignalHandler(), o, log); err != nil {
		log.Error(err, "podlock-controller stopped")
		return 1
	}
	return 0
}

func loadConfig(o *options) (webhook.Config, error) {
	if !o.configSet {
		if _, err := os.Stat(o.configPath); errors.Is(err, os.ErrNotExist) {
			return webhook.DefaultConfig(), nil
		}
	}
	return webhook.LoadConfig(o.configPath)
}

func serve(ctx context.Context, o *options, log logr.Logger) error {
	cfg, err := loadConfig(o)
	if err != nil {
		return err
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, crd.AddToScheme} {
		if err := add(scheme); err != nil {
			return fmt.Errorf("scheme: %w", err)
		}
	}

	tlsOpts := []func(*tls.Config){}
	if !o.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	var rotator *certs.Rotator
	if o.tlsMode == "self-signed" {
		direct, err := client.New(restCfg, client.Options{Scheme: scheme})
		if err != nil {
			return fmt.Errorf("API client: %w", err)
		}
		rotator = &certs.Rotator{
			Client:                         direct,
			Namespace:                      o.namespace,
			SecretName:                     o.caSecret,
			Hosts:                          hosts(o),
			MutatingWebhookConfiguration:   o.mutatingName,
			ValidatingWebhookConfiguration: o.validatingName,
			CAValidity:                     o.caValidity,
			CertValidity:                   o.certValidity,
			Interval:                       o.certInterval,
			Log:                            log.WithName("certificates"),
		}
		// The first certificate is needed before serving; the API server
		// may be restarting, so give it a little time.
		if err := retry(ctx, 30*time.Second, rotator.Check); err != nil {
			return fmt.Errorf("self-signed certificates: %w", err)
		}
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.GetCertificate = rotator.GetCertificate })
	}

	cached := map[client.Object]cache.ByObject{
		&corev1.Pod{}: {Transform: controller.StripPod},
	}
	if rotator != nil {
		maps.Copy(cached, rotator.CacheByObject())
	}
	webhookOpts := crwebhook.Options{
		Host:     o.webhookHost,
		Port:     o.webhookPort,
		CertDir:  o.certDir,
		CertName: o.certName,
		KeyName:  o.keyName,
		TLSOpts:  tlsOpts,
	}
	webhookServer := crwebhook.NewServer(webhookOpts)
	managerProbes := o.probeAddr
	if o.reusePort {
		webhookServer = newSharedPortWebhookServer(webhookOpts)
		managerProbes = "0" // served by addProbes
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                        scheme,
		Logger:                        log,
		Metrics:                       metricsserver.Options{BindAddress: o.metricsAddr, ListenConfig: listenConfig(o.reusePort)},
		HealthProbeBindAddress:        managerProbes,
		WebhookServer:                 webhookServer,
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              leaderElectionID,
		LeaderElectionNamespace:       o.leaderNS,
		LeaderElectionReleaseOnCancel: true,
		Cache: cache.Options{
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject:         cached,
		},
	})
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}

	if err := controller.Setup(mgr); err != nil {
		return err
	}
	// Start the informers the webhooks read with the cache, so that the
	// first admission request does not wait for a list.
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	informers := []client.Object{ns, &crd.LandlockProfile{}, &crd.SeccompProfile{}}
	if len(cfg.ReservedRuntimes) > 0 {
		informers = append(informers, &nodev1.RuntimeClass{})
	}
	for _, obj := range informers {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("informer for %T: %w", obj, err)
		}
	}
	hooks, err := webhook.New(cfg, webhook.ClientStore{Cache: mgr.GetCache(), Live: mgr.GetAPIReader()}, log.WithName("webhook"))
	if err != nil {
		return err
	}
	for path, h := range hooks.Handlers() {
		mgr.GetWebhookServer().Register(path, h)
	}
	ready := map[string]healthz.Checker{
		"webhook": mgr.GetWebhookServer().StartedChecker(),
		"cache": func(r *http.Request) error {
			c, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			if !mgr.GetCache().WaitForCacheSync(c) {
				return errors.New("cache not synced")
			}
			return nil
		},
	}
	if rotator != nil {
		if err := mgr.Add(rotator); err != nil {
			return fmt.Errorf("certificate rotation: %w", err)
		}
		if err := rotator.SetupWatch(mgr); err != nil {
			return fmt.Errorf("webhook configurations watch: %w", err)
		}
		ready["certificate"] = rotator.Ready
	}
	if err := addProbes(ctx, mgr, o, map[string]healthz.Checker{"ping": healthz.Ping}, ready); err != nil {
		return err
	}
	log.Info("starting", "version", version, "runtimeClassName", cfg.RuntimeClassName,
		"reservedRuntimes", cfg.ReservedRuntimes, "fallbackRuntime", cfg.FallbackRuntime,
		"defaultRuntimeReserved", cfg.DefaultRuntimeReserved, "tlsMode", o.tlsMode, "leaderElect", o.leaderElect, "reusePort", o.reusePort)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	return nil
}

func hosts(o *options) []string {
	if o.webhookHosts != "" {
		var out []string
		for _, h := range strings.Split(o.webhookHosts, ",") {
			if h = strings.TrimSpace(h); h != "" {
				out = append(out, h)
			}
		}
		return out
	}
	svc := defaultService + "." + o.namespace + ".svc"
	return []string{svc, svc + ".cluster.local"}
}

// retry calls f until it succeeds, ctx ends or timeout passes.
func retry(ctx context.Context, timeout time.Duration, f func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f(ctx)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}
