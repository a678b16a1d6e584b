package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Keys of the CA Secret.
const (
	// SecretCAKey holds the trusted CA certificates, PEM: the signing CA
	// first, then the previous one while it is valid, so that serving
	// certificates it signed stay trusted until they are renewed.
	SecretCAKey = "ca.crt"
	// SecretKeyKey holds the signing CA's private key, PEM PKCS#8.
	SecretKeyKey = "ca.key"
)

// Rotator keeps the CA Secret, the webhook configurations' caBundle and
// this replica's serving certificate up to date. Every replica runs one:
// they share the CA through the Secret, and each writes the same caBundle.
type Rotator struct {
	// Client reads and writes the Secret and the webhook configurations.
	// It should not be a cached client: a cache would list and watch
	// every Secret of the cluster.
	Client client.Client
	// Namespace and SecretName locate the CA Secret.
	Namespace, SecretName string
	// Hosts are the DNS names and IP addresses of the serving certificate.
	Hosts []string
	// MutatingWebhookConfiguration and ValidatingWebhookConfiguration
	// name the configurations whose every webhook gets the caBundle ("":
	// none).
	MutatingWebhookConfiguration, ValidatingWebhookConfiguration string
	// CAValidity and CertValidity are the lifetimes of new certificates.
	CAValidity, CertValidity time.Duration
	// Interval is the time between two checks.
	Interval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	Log logr.Logger

	mu     sync.RWMutex
	cert   *tls.Certificate
	bundle []byte
}

func (r *Rotator) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// due reports whether less than a third of a certificate's lifetime is
// left.
func due(c *x509.Certificate, now time.Time) bool {
	lifetime := c.NotAfter.Sub(c.NotBefore.Add(backdate))
	return !now.Before(c.NotAfter.Add(-lifetime / 3))
}

// GetCertificate serves the current certificate, for tls.Config.
func (r *Rotator) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.cert == nil {
		return nil, errors.New("no serving certificate yet")
	}
	return r.cert, nil
}

// CABundle returns the CA certificates written into the configurations.
func (r *Rotator) CABundle() []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return bytes.Clone(r.bundle)
}

// Ready is a readiness check: ready once there is a serving certificate.
func (r *Rotator) Ready(*http.Request) error {
	_, err := r.GetCertificate(nil)
	return err
}

// NeedLeaderElection tells the manager that every replica rotates: every
// replica serves.
func (r *Rotator) NeedLeaderElection() bool { return false }

// Start checks every Interval until ctx ends, sooner after a failure.
func (r *Rotator) Start(ctx context.Context) error {
	wait := r.Interval
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if err := r.Check(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.Log.Error(err, "webhook certificate check failed; retrying")
			wait = min(r.Interval, 5*time.Second)
			continue
		}
		wait = r.Interval
	}
}

// Check renews what is due: the CA (and the Secret), the caBundle of the
// configurations, this replica's serving certificate. A configuration
// that does not exist yet is skipped; SetupWatch writes it as soon as it
// is created.
func (r *Rotator) Check(ctx context.Context) error {
	now := r.now()
	ca, trusted, err := r.ensureCA(ctx, now)
	if err != nil {
		return err
	}
	bundle := encodeCerts(trusted)
	r.mu.Lock()
	r.bundle = bundle
	cur := r.cert
	r.mu.Unlock()
	// The configurations trust a new CA before any certificate it signs
	// is served.
	injectErr := r.inject(ctx, bundle)

	// The serving certificate is renewed on its own schedule, not when the
	// CA is: the previous CA stays in the bundle while it is valid, and
	// the API server may not have seen the new bundle yet.
	if cur == nil || due(cur.Leaf, now) || !signedByOneOf(cur.Leaf, trusted) {
		leaf, err := ca.issue(now, r.CertValidity, r.Hosts)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.cert = leaf
		r.mu.Unlock()
		r.Log.Info("issued a webhook serving certificate", "notAfter", leaf.Leaf.NotAfter, "hosts", r.Hosts)
	}
	return injectErr
}

func signedByOneOf(leaf *x509.Certificate, cas []*x509.Certificate) bool {
	for _, ca := range cas {
		if leaf.CheckSignatureFrom(ca) == nil {
			return true
		}
	}
	return false
}

// ensureCA returns the signing CA and the trusted CAs, creating or
// renewing them in the Secret.
func (r *Rotator) ensureCA(ctx context.Context, now time.Time) (*authority, []*x509.Certificate, error) {
	key := types.NamespacedName{Namespace: r.Namespace, Name: r.SecretName}
	sec := &corev1.Secret{}
	err := r.Client.Get(ctx, key, sec)
	if apierrors.IsNotFound(err) {
		ca, err := newAuthority(now, r.CAValidity)
		if err != nil {
			return nil, nil, err
		}
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: r.SecretName,
			Labels: map[string]string{"app.kubernetes.io/name": "podlock", "app.kubernetes.io/component": "controller"}}}
		if err := r.fill(sec, ca, []*x509.Certificate{ca.cert}); err != nil {
			return nil, nil, err
		}
		if err := r.Client.Create(ctx, sec); err != nil {
			// Another replica created it first: use theirs next time.
			return nil, nil, fmt.Errorf("creating the CA Secret %s: %w", key, err)
		}
		r.Log.Info("created the webhook CA", "secret", key, "notAfter", ca.cert.NotAfter)
		return ca, []*x509.Certificate{ca.cert}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the CA Secret %s: %w", key, err)
	}

	certs, certErr := decodeCerts(sec.Data[SecretCAKey])
	caKey, keyErr := decodeKey(sec.Data[SecretKeyKey])
	var trusted []*x509.Certificate
	for _, c := range certs {
		if now.Before(c.NotAfter) {
			trusted = append(trusted, c)
		}
	}
	var ca *authority
	switch {
	case certErr != nil || keyErr != nil:
		r.Log.Info("the CA Secret is unusable: replacing it", "secret", key, "certificates", errString(certErr), "key", errString(keyErr))
		trusted = nil
	case !caKey.PublicKey.Equal(certs[0].PublicKey):
		r.Log.Info("the CA Secret's key does not match its first certificate: replacing it", "secret", key)
		trusted = nil
	case len(trusted) > 0 && trusted[0] == certs[0] && !due(certs[0], now):
		ca = &authority{cert: certs[0], key: caKey}
		if len(trusted) == len(certs) {
			return ca, trusted, nil
		}
		// Only expired certificates to prune.
	}
	if ca == nil {
		next, err := newAuthority(now, r.CAValidity)
		if err != nil {
			return nil, nil, err
		}
		if len(trusted) > 0 {
			// Keep the previous CA, and only it, while it is valid.
			trusted = []*x509.Certificate{next.cert, trusted[0]}
		} else {
			trusted = []*x509.Certificate{next.cert}
		}
		ca = next
		r.Log.Info("renewed the webhook CA", "secret", key, "notAfter", next.cert.NotAfter)
	}
	if err := r.fill(sec, ca, trusted); err != nil {
		return nil, nil, err
	}
	// Update carries the resourceVersion read: of two replicas renewing
	// at once, one fails with a conflict and reads the other's CA next.
	if err := r.Client.Update(ctx, sec); err != nil {
		return nil, nil, fmt.Errorf("updating the CA Secret %s: %w", key, err)
	}
	return ca, trusted, nil
}

func (r *Rotator) fill(sec *corev1.Secret, ca *authority, trusted []*x509.Certificate) error {
	keyPEM, err := encodeKey(ca.key)
	if err != nil {
		return fmt.Errorf("encoding the CA key: %w", err)
	}
	sec.Type = corev1.SecretTypeOpaque
	sec.Data = map[string][]byte{SecretCAKey: encodeCerts(trusted), SecretKeyKey: keyPEM}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// inject writes bundle into every webhook of the configurations.
func (r *Rotator) inject(ctx context.Context, bundle []byte) error {
	var errs []error
	update := func(obj client.Object, configs []*admissionregistrationv1.WebhookClientConfig) {
		changed := false
		for _, c := range configs {
			if !bytes.Equal(c.CABundle, bundle) {
				c.CABundle = bundle
				changed = true
			}
		}
		if !changed {
			return
		}
		if err := r.Client.Update(ctx, obj); err != nil {
			errs = append(errs, fmt.Errorf("writing the caBundle of %T %s: %w", obj, obj.GetName(), err))
			return
		}
		r.Log.Info("wrote the caBundle", "configuration", obj.GetName())
	}
	get := func(name string, obj client.Object) bool {
		err := r.Client.Get(ctx, types.NamespacedName{Name: name}, obj)
		switch {
		case apierrors.IsNotFound(err):
			r.Log.V(1).Info("webhook configuration not found; the caBundle is written when it is created", "configuration", name)
			return false
		case err != nil:
			errs = append(errs, fmt.Errorf("reading webhook configuration %s: %w", name, err))
			return false
		}
		return true
	}
	if name := r.MutatingWebhookConfiguration; name != "" {
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if get(name, cfg) {
			var ccs []*admissionregistrationv1.WebhookClientConfig
			for i := range cfg.Webhooks {
				ccs = append(ccs, &cfg.Webhooks[i].ClientConfig)
			}
			update(cfg, ccs)
		}
	}
	if name := r.ValidatingWebhookConfiguration; name != "" {
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if get(name, cfg) {
			var ccs []*admissionregistrationv1.WebhookClientConfig
			for i := range cfg.Webhooks {
				ccs = append(ccs, &cfg.Webhooks[i].ClientConfig)
			}
			update(cfg, ccs)
		}
	}
	return errors.Join(errs...)
}
