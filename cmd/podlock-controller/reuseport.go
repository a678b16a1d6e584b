package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
)

// With --reuse-port, the webhook, probe and metrics listeners are opened
// with SO_REUSEPORT, so that replicas sharing one network namespace (pods
// of the host network on one node) can all listen on the same ports; the
// kernel spreads the incoming connections among them, as a Service spreads
// them among its endpoints. The replicas must run as the same user (the
// kernel's condition for sharing a port).

// listenConfig is the configuration of every listener of the controller.
func listenConfig(reusePort bool) net.ListenConfig {
	if !reusePort {
		return net.ListenConfig{}
	}
	return net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); cerr != nil {
			return cerr
		}
		if err != nil {
			return fmt.Errorf("SO_REUSEPORT: %w", err)
		}
		return nil
	}}
}

// sharedPortWebhookServer serves the webhooks that controller-runtime's
// server registers and instruments (it is never started itself) on a
// listener that shares its port.
type sharedPortWebhookServer struct {
	crwebhook.Server
	addr                       string
	tlsOpts                    []func(*tls.Config)
	certDir, certName, keyName string
	started                    atomic.Bool
}

func newSharedPortWebhookServer(opts crwebhook.Options) *sharedPortWebhookServer {
	opts.WebhookMux = http.NewServeMux()
	return &sharedPortWebhookServer{
		Server:   crwebhook.NewServer(opts),
		addr:     net.JoinHostPort(opts.Host, fmt.Sprint(opts.Port)),
		tlsOpts:  opts.TLSOpts,
		certDir:  opts.CertDir,
		certName: opts.CertName,
		keyName:  opts.KeyName,
	}
}

// Start serves until ctx ends, with the TLS settings of controller-runtime's
// server: the options' certificate, else the files of the certificate
// directory, reloaded when they change.
func (s *sharedPortWebhookServer) Start(ctx context.Context) error {
	cfg := &tls.Config{NextProtos: []string{"h2"}}
	for _, op := range s.tlsOpts {
		op(cfg)
	}
	if cfg.GetCertificate == nil {
		w, err := certwatcher.New(filepath.Join(s.certDir, s.certName), filepath.Join(s.certDir, s.keyName))
		if err != nil {
			return err
		}
		cfg.GetCertificate = w.GetCertificate
		go func() {
			if err := w.Start(ctx); err != nil {
				logf.FromContext(ctx).Error(err, "watching the webhook certificate")
			}
		}()
	}
	lc := listenConfig(true)
	l, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("webhook server: %w", err)
	}
	srv := &http.Server{Handler: s.WebhookMux(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	s.started.Store(true)
	logf.FromContext(ctx).Info("serving the webhooks on a shared port", "address", s.addr)
	if err := srv.Serve(tls.NewListener(l, cfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-done
	return nil
}

// StartedChecker is healthy once this replica listens: dialling the port,
// as controller-runtime's checker does, may reach another replica.
func (s *sharedPortWebhookServer) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		if !s.started.Load() {
			return errors.New("webhook server has not been started yet")
		}
		return nil
	}
}

// probeServer serves /healthz and /readyz, as the manager's own probe
// server does, on a listener that shares its port.
func probeServer(ctx context.Context, addr string, live, ready map[string]healthz.Checker) (*manager.Server, error) {
	lc := listenConfig(true)
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("probe server: %w", err)
	}
	mux := http.NewServeMux()
	for path, checks := range map[string]map[string]healthz.Checker{"/healthz": live, "/readyz": ready} {
		h := http.StripPrefix(path, &healthz.Handler{Checks: checks})
		mux.Handle(path, h)
		mux.Handle(path+"/", h)
	}
	timeout := 10 * time.Second
	return &manager.Server{
		Name:            "health probe",
		Server:          &http.Server{Handler: mux, ReadHeaderTimeout: timeout},
		Listener:        l,
		ShutdownTimeout: &timeout,
	}, nil
}

// addProbes registers the liveness and readiness checks: with the
// manager's probe server, or with a server of its own on a shared port.
func addProbes(ctx context.Context, mgr manager.Manager, o *options, live, ready map[string]healthz.Checker) error {
	if !o.reusePort {
		for name, check := range live {
			if err := mgr.AddHealthzCheck(name, check); err != nil {
				return err
			}
		}
		for name, check := range ready {
			if err := mgr.AddReadyzCheck(name, check); err != nil {
				return err
			}
		}
		return nil
	}
	if o.probeAddr == "0" {
		return nil
	}
	srv, err := probeServer(ctx, o.probeAddr, live, ready)
	if err != nil {
		return err
	}
	return mgr.Add(srv)
}
