package certs

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

const day = 24 * time.Hour

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newRotator(c client.Client, clk *clock) *Rotator {
	return &Rotator{
		Client: c, Namespace: "podlock-system", SecretName: "ca",
		Hosts:                          []string{"svc.podlock-system.svc", "127.0.0.1"},
		MutatingWebhookConfiguration:   "podlock",
		ValidatingWebhookConfiguration: "podlock",
		CAValidity:                     365 * day, CertValidity: 30 * day,
		Interval: time.Minute, Now: clk.now, Log: logr.Discard(),
	}
}

func fakeClient(t *testing.T) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "podlock"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "a.podlock.kubewarden.io"}}}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "podlock"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "b.podlock.kubewarden.io"}, {Name: "c.podlock.kubewarden.io"}}}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(mwc, vwc).Build()
}

// state is what the API server and a replica hold.
type state struct {
	secretCAs []*x509.Certificate
	bundles   [][]byte // of every webhook
	leaf      *x509.Certificate
}

func observe(t *testing.T, c client.Client, r *Rotator) state {
	t.Helper()
	ctx := context.Background()
	var s state
	sec := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "podlock-system", Name: "ca"}, sec); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.secretCAs, err = decodeCerts(sec.Data[SecretCAKey]); err != nil {
		t.Fatal(err)
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Get(ctx, types.NamespacedName{Name: "podlock"}, mwc); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, types.NamespacedName{Name: "podlock"}, vwc); err != nil {
		t.Fatal(err)
	}
	for _, w := range mwc.Webhooks {
		s.bundles = append(s.bundles, w.ClientConfig.CABundle)
	}
	for _, w := range vwc.Webhooks {
		s.bundles = append(s.bundles, w.ClientConfig.CABundle)
	}
	cert, err := r.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.leaf = cert.Leaf
	return s
}

// verify checks that the API server, trusting the caBundle, accepts the
// replica's serving certificate at time now.
func verify(t *testing.T, s state, now time.Time) {
	t.Helper()
	for i, b := range s.bundles {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			t.Fatalf("webhook %d: caBundle %q is not PEM", i, b)
		}
		if _, err := s.leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, DNSName: "svc.podlock-system.svc"}); err != nil {
			t.Fatalf("webhook %d: serving certificate not trusted at %s: %v", i, now, err)
		}
		if _, err := s.leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now}); err != nil {
			t.Fatalf("webhook %d: %v", i, err)
		}
	}
	if len(s.leaf.IPAddresses) != 1 || s.leaf.IPAddresses[0].String() != "127.0.0.1" {
		t.Fatalf("serving certificate IP addresses %v, want 127.0.0.1", s.leaf.IPAddresses)
	}
}

func check(t *testing.T, r *Rotator) {
	t.Helper()
	if err := r.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRotation(t *testing.T) {
	c := fakeClient(t)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	t0 := clk.t
	a := newRotator(c, clk)
	if a.Ready(nil) == nil {
		t.Fatal("ready before the first check")
	}

	check(t, a)
	s0 := observe(t, c, a)
	if len(s0.secretCAs) != 1 {
		t.Fatalf("%d CAs in the Secret, want 1", len(s0.secretCAs))
	}
	verify(t, s0, clk.t)
	if a.Ready(nil) != nil {
		t.Fatal("not ready after the first check")
	}

	// Nothing is due: nothing changes.
	clk.t = t0.Add(19 * day)
	check(t, a)
	if s := observe(t, c, a); s.leaf.SerialNumber.Cmp(s0.leaf.SerialNumber) != 0 || !s.secretCAs[0].Equal(s0.secretCAs[0]) {
		t.Fatal("a certificate changed before it was due")
	}

	// A second replica shares the CA and trusts the same bundle.
	b := newRotator(c, clk)
	check(t, b)
	sb := observe(t, c, b)
	if !sb.secretCAs[0].Equal(s0.secretCAs[0]) || sb.leaf.SerialNumber.Cmp(s0.leaf.SerialNumber) == 0 {
		t.Fatal("the second replica did not get its own certificate from the shared CA")
	}
	verify(t, sb, clk.t)

	// A third of the serving certificate's life left: renewed, same CA.
	clk.t = t0.Add(21 * day)
	check(t, a)
	s1 := observe(t, c, a)
	if s1.leaf.SerialNumber.Cmp(s0.leaf.SerialNumber) == 0 {
		t.Fatal("serving certificate not renewed with a third of its life left")
	}
	if len(s1.secretCAs) != 1 || !s1.secretCAs[0].Equal(s0.secretCAs[0]) {
		t.Fatal("the CA changed before it was due")
	}
	verify(t, s1, clk.t)

	// A third of the CA's life left: a new CA signs, the old one stays
	// trusted, so the current serving certificates (renewed on their own
	// schedule) keep working while the API server catches up.
	clk.t = t0.Add(244 * day)
	check(t, b) // b's certificate is old: it is renewed too
	check(t, a)
	s2 := observe(t, c, a)
	if len(s2.secretCAs) != 2 || !s2.secretCAs[1].Equal(s0.secretCAs[0]) || s2.secretCAs[0].Equal(s0.secretCAs[0]) {
		t.Fatalf("after CA renewal the Secret holds %d CAs; want the new one, then the old one", len(s2.secretCAs))
	}
	verify(t, s2, clk.t)
	if s2.leaf.CheckSignatureFrom(s2.secretCAs[0]) != nil {
		t.Fatal("the serving certificate renewed after the CA is not signed by the new CA")
	}

	// The old CA expired: it leaves the bundle.
	clk.t = t0.Add(366 * day)
	check(t, a)
	s3 := observe(t, c, a)
	if len(s3.secretCAs) != 1 || !s3.secretCAs[0].Equal(s2.secretCAs[0]) {
		t.Fatalf("after the old CA expired the Secret holds %d CAs; want only the current one", len(s3.secretCAs))
	}
	verify(t, s3, clk.t)
}

func TestRotationRepairs(t *testing.T) {
	c := fakeClient(t)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := newRotator(c, clk)
	check(t, r)
	ctx := context.Background()

	// An unusable Secret is replaced; the serving certificate follows.
	sec := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "podlock-system", Name: "ca"}, sec); err != nil {
		t.Fatal(err)
	}
	sec.Data[SecretKeyKey] = []byte("garbage")
	if err := c.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	check(t, r)
	verify(t, observe(t, c, r), clk.t)

	// A configuration applied again without caBundle gets it back.
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(ctx, types.NamespacedName{Name: "podlock"}, mwc); err != nil {
		t.Fatal(err)
	}
	mwc.Webhooks[0].ClientConfig.CABundle = nil
	if err := c.Update(ctx, mwc); err != nil {
		t.Fatal(err)
	}
	check(t, r)
	verify(t, observe(t, c, r), clk.t)

	// The Secret deleted: a new CA, and a serving certificate it signs.
	if err := c.Delete(ctx, sec); err != nil {
		t.Fatal(err)
	}
	check(t, r)
	verify(t, observe(t, c, r), clk.t)
}
