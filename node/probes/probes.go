// Package probes answers the kubelet's liveness and readiness probes of
// `podlock-node run`.
package probes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/kubewarden/podlock/landlock/audit"
)

// Probes answers the kubelet's liveness (/healthz) and readiness (/readyz)
// probes of `podlock-node run`. Ready means podlock works on the node as
// the agent keeps it: the binaries are installed and the kernel has
// Landlock, podlock-runtime's token was renewed on time, and, when denials
// are reported, this process is the kernel's audit daemon.
type Probes struct {
	// installed reports whether confined containers can start here.
	installed func() bool
	// ttl is the lifetime of the tokens the agent requests.
	ttl time.Duration
	// reportDenials says whether the agent must hold the audit socket.
	reportDenials bool
	// auditDaemon returns the PID of the kernel's audit daemon.
	auditDaemon func() (int, error)
	now         func() time.Time

	// tokenExpires is when the last token written expires, in Unix
	// nanoseconds; 0 before the first.
	tokenExpires atomic.Int64
}

// New returns the probes of an agent: installed reports whether confined
// containers can start on the node.
func New(installed func() bool, ttl time.Duration, reportDenials bool) *Probes {
	return &Probes{installed: installed, ttl: ttl, reportDenials: reportDenials, auditDaemon: audit.DaemonPID, now: time.Now}
}

// TokenWritten records the expiry of the token just written.
func (p *Probes) TokenWritten(expires time.Time) { p.tokenExpires.Store(expires.UnixNano()) }

// NotReady returns why the node is not ready, or nil.
func (p *Probes) NotReady() error {
	var errs []error
	if !p.installed() {
		errs = append(errs, errors.New("podlock-runtime, podlock-runtime-confine, podlock-helper or podlock-interpose is not installed, or the kernel has no Landlock ABI 3"))
	}
	// Renewed at half its lifetime: with a quarter left, renewals have
	// failed for a quarter of it.
	switch expires := p.tokenExpires.Load(); {
	case expires == 0:
		errs = append(errs, errors.New("no token written for podlock-runtime yet"))
	case time.Unix(0, expires).Sub(p.now()) < p.ttl/4:
		errs = append(errs, fmt.Errorf("podlock-runtime's token was not renewed on time: it expires at %s", time.Unix(0, expires).UTC().Format(time.RFC3339)))
	}
	if p.reportDenials {
		pid, err := p.auditDaemon()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("reading the audit status: %w", err))
		case pid != os.Getpid():
			errs = append(errs, fmt.Errorf("denials are not reported: the kernel's audit daemon is pid %d, not podlock-node (%d)", pid, os.Getpid()))
		}
	}
	return errors.Join(errs...)
}

// Handler serves /healthz and /readyz.
func (p *Probes) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := p.NotReady(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Serve answers the probes on addr until ctx ends.
func (p *Probes) Serve(ctx context.Context, addr string, log *slog.Logger) {
	srv := &http.Server{Addr: addr, Handler: p.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("serving the probes", "address", addr, "error", err)
	}
}
