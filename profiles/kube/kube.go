// Package kube is a profiles.Source that reads profiles from the
// Kubernetes API server with the node's own read-only credential.
//
// It speaks plain HTTPS rather than going through client-go: it is linked
// into podlock-runtime, which the container runtime executes for every runc
// command, and client-go's package initialisation alone costs several
// milliseconds at each of them (see profiles/README.md, "Profiles from the API server").
// A lookup is one GET.
package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/kubewarden/podlock/profiles"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// DefaultTimeout bounds one lookup, connection included.
const DefaultTimeout = 2 * time.Second

// maxObjectSize bounds what is read of one answer.
const maxObjectSize = 4 << 20

// Source reads profiles from an API server.
type Source struct {
	ep      *endpoint
	client  *http.Client
	timeout time.Duration
}

// Options tune a Source.
type Options struct {
	// Timeout bounds one lookup; 0 means DefaultTimeout.
	Timeout time.Duration
	// SessionDir, if set, keeps TLS sessions for the next process to
	// resume.
	SessionDir string
}

// New returns a source for the API server and credential of a kubeconfig
// file.
func New(kubeconfigFile string, opts Options) (*Source, error) {
	ep, err := loadKubeconfig(kubeconfigFile)
	if err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if opts.SessionDir != "" {
		ep.tls.ClientSessionCache = sessionCache{dir: opts.SessionDir}
	}
	transport := &http.Transport{
		TLSClientConfig:     ep.tls,
		DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		TLSHandshakeTimeout: timeout,
		// Profiles live behind the API server the node reaches directly;
		// an HTTPS_PROXY of the container runtime's environment is not
		// meant for it.
		Proxy: nil,
	}
	return &Source{ep: ep, client: &http.Client{Transport: transport}, timeout: timeout}, nil
}

// Server is the API server's URL.
func (s *Source) Server() string { return s.ep.server }

// LandlockProfile implements profiles.Source.
func (s *Source) LandlockProfile(ctx context.Context, ref profiles.Ref) (*v1alpha1.LandlockProfile, error) {
	var p v1alpha1.LandlockProfile
	if err := s.get(ctx, "landlockprofiles", v1alpha1.KindLandlockProfile, ref, &p); err != nil {
		return nil, err
	}
	if err := p.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", v1alpha1.KindLandlockProfile, ref, err)
	}
	return &p, nil
}

// SeccompProfile implements profiles.Source.
func (s *Source) SeccompProfile(ctx context.Context, ref profiles.Ref) (*v1alpha1.SeccompProfile, error) {
	var p v1alpha1.SeccompProfile
	if err := s.get(ctx, "seccompprofiles", v1alpha1.KindSeccompProfile, ref, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func (s *Source) get(ctx context.Context, resource, kind string, ref profiles.Ref, obj v1alpha1.Object) error {
	if err := ref.Validate(); err != nil {
		return fmt.Errorf("%s %s: %w", kind, ref, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	u := s.ep.server + "/apis/" + v1alpha1.Group + "/" + v1alpha1.Version + "/namespaces/" +
		url.PathEscape(ref.Namespace) + "/" + resource + "/" + url.PathEscape(ref.Name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%s %s: %w", kind, ref, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "podlock-runtime")
	if s.ep.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.ep.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// No answer: the caller may fall back to a copy it has.
		return fmt.Errorf("%s %s: API server %s: %w: %w", kind, ref, s.ep.server, err, profiles.ErrUnavailable)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxObjectSize))
	if err != nil {
		return fmt.Errorf("%s %s: reading the API server's answer: %w: %w", kind, ref, err, profiles.ErrUnavailable)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		if err := v1alpha1.Decode(body, obj); err != nil {
			return fmt.Errorf("%s %s from the API server: %w", kind, ref, err)
		}
		return nil
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s %s: API server %s: %s: %w", kind, ref, s.ep.server, statusMessage(body, resp.Status), profiles.ErrNotFound)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("%s %s: API server %s: %s: %w", kind, ref, s.ep.server, statusMessage(body, resp.Status), profiles.ErrUnavailable)
	}
	// Unauthorized, forbidden: the node is misconfigured, which a cached
	// copy must not hide.
	return fmt.Errorf("%s %s: API server %s refused the node's credential: %s; check the kubeconfig and the podlock-node RBAC binding",
		kind, ref, s.ep.server, statusMessage(body, resp.Status))
}

// statusMessage returns the message of a metav1.Status answer, or the
// HTTP status.
func statusMessage(body []byte, fallback string) string {
	var status struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &status) == nil && status.Message != "" {
		return status.Message
	}
	return fallback
}

var _ profiles.Source = (*Source)(nil)
