// Package kube starts a real Kubernetes control plane (etcd and
// kube-apiserver, built by tests/tools/build.sh) for podlock's tests, on
// free loopback ports, and talks to it over HTTPS with bearer tokens.
//
// The binaries are looked up in $PODLOCK_TOOLS_DIR, else
// $PODLOCK_TOOLS_CACHE/bin, else <repo>/.cache/tools/bin (what `make tools`
// fills). When they are missing, tests are skipped, or fail when
// PODLOCK_NO_SKIP is set.
package kube

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubewarden/podlock/profiles/dir"
	"github.com/kubewarden/podlock/tests/internal/daemon"
)

// Options configure a control plane.
type Options struct {
	// Tokens adds users to the static token file: user name -> groups.
	// Each user gets a random token, returned by Token. The admin user
	// (group system:masters) always exists.
	Tokens map[string][]string
	// APIServerArgs are appended to kube-apiserver's flags (a repeated
	// single-valued flag overrides the default; list flags accumulate).
	APIServerArgs []string
	// StartTimeout bounds the wait for etcd and for the apiserver's
	// /readyz, at each start. Default 2 minutes.
	StartTimeout time.Duration
	// StopTimeout is how long a stopped process gets between SIGTERM and
	// SIGKILL. Default 5 seconds.
	StopTimeout time.Duration
	// Controllers runs kube-controller-manager and kube-scheduler too, for
	// tests of Deployments, DaemonSets and Services.
	Controllers bool
}

// ControlPlane is a running etcd and kube-apiserver.
type ControlPlane struct {
	opts Options
	dir  string
	bin  string

	etcd      *daemon.Proc
	etcdURL   string
	apiserver *daemon.Proc
	port      int

	controllers []controller

	adminToken string
	tokens     map[string]string

	mu        sync.Mutex
	caCert    []byte
	transport *http.Transport

	discoveryMu sync.Mutex
	discovery   map[string][]apiResource
}

const adminUser = "admin"

// StartControlPlane starts etcd and kube-apiserver for the test and stops
// them (apiserver first) when it ends. Their logs are in Dir().
func StartControlPlane(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	tools := []string{"etcd", "kube-apiserver"}
	if opts.Controllers {
		tools = append(tools, "kube-controller-manager", "kube-scheduler")
		users := map[string][]string{controllerManagerUser: nil, schedulerUser: nil}
		maps.Copy(users, opts.Tokens)
		opts.Tokens = users
	}
	bin := Tools(t, tools...)
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 5 * time.Second
	}
	// Not t.TempDir: the test name may make a path too long, and etcd and
	// the apiserver must be stopped before the directory goes.
	dir, err := os.MkdirTemp("", "podlock-kube-")
	if err != nil {
		t.Fatal(err)
	}
	cp := &ControlPlane{opts: opts, dir: dir, bin: bin, tokens: map[string]string{}}
	started := false
	t.Cleanup(func() {
		cp.stopAll()
		// A failed start already reported the logs.
		if t.Failed() && started {
			logs := []string{"kube-apiserver.log", "etcd.log"}
			if opts.Controllers {
				logs = append(logs, "kube-controller-manager.log", "kube-scheduler.log")
			}
			for _, name := range logs {
				t.Logf("last lines of %s:\n%s", name, daemon.Tail(filepath.Join(dir, name), 40))
			}
		}
		if os.Getenv("PODLOCK_KEEP_KUBE") != "" {
			t.Logf("kept control plane files in %s (PODLOCK_KEEP_KUBE is set)", dir)
			return
		}
		os.RemoveAll(dir)
	})
	if err := cp.writeFiles(); err != nil {
		t.Fatal(err)
	}
	if err := cp.startEtcd(); err != nil {
		t.Fatal(err)
	}
	if err := cp.startAPIServer(true); err != nil {
		t.Fatal(err)
	}
	started = true
	if opts.Controllers {
		if err := cp.startControllers(); err != nil {
			t.Fatal(err)
		}
	}
	return cp
}

// writeFiles writes the service-account key and the token file.
func (cp *ControlPlane) writeFiles() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(cp.path("sa.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(cp.path("sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return err
	}

	cp.adminToken = randomToken()
	var b strings.Builder
	// token,user,uid,"group1,group2"
	fmt.Fprintf(&b, "%s,%s,%s,\"system:masters\"\n", cp.adminToken, adminUser, adminUser)
	users := make([]string, 0, len(cp.opts.Tokens))
	for u := range cp.opts.Tokens {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range users {
		if u == adminUser || strings.ContainsAny(u, ",\"\n") {
			return fmt.Errorf("kube: invalid token user name %q", u)
		}
		tok := randomToken()
		cp.tokens[u] = tok
		fmt.Fprintf(&b, "%s,%s,%s", tok, u, u)
		if groups := cp.opts.Tokens[u]; len(groups) > 0 {
			fmt.Fprintf(&b, ",\"%s\"", strings.Join(groups, ","))
		}
		b.WriteString("\n")
	}
	return os.WriteFile(cp.path("tokens.csv"), []byte(b.String()), 0o600)
}

func (cp *ControlPlane) startEtcd() error {
	var lastErr error
	for range 3 { // a free port may be taken before etcd binds it
		clientPort, peerPort := freePort(), freePort()
		cp.etcdURL = "http://127.0.0.1:" + strconv.Itoa(clientPort)
		peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
		dataDir := cp.path("etcd")
		os.RemoveAll(dataDir)
		p, err := daemon.Start(filepath.Join(cp.bin, "etcd"), cp.path("etcd.log"), nil,
			"--name", "podlock-test",
			"--data-dir", dataDir,
			"--listen-client-urls", cp.etcdURL,
			"--advertise-client-urls", cp.etcdURL,
			"--listen-peer-urls", peerURL,
			"--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", "podlock-test="+peerURL,
			"--unsafe-no-fsync",
			"--log-level", "warn",
		)
		if err != nil {
			return err
		}
		cp.etcd = p
		client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
		lastErr = p.WaitFor(cp.opts.StartTimeout, 100*time.Millisecond, readiness(func() bool {
			resp, err := client.Get(cp.etcdURL + "/health")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"true"`))
		}))
		if lastErr == nil {
			return nil
		}
		p.Stop(cp.opts.StopTimeout)
		if !portTaken(cp.path("etcd.log")) {
			break
		}
	}
	return fmt.Errorf("etcd: %v\n%s", lastErr, daemon.Tail(cp.path("etcd.log"), 30))
}

func (cp *ControlPlane) startAPIServer(first bool) error {
	var lastErr error
	for range 3 {
		if first {
			cp.port = freePort()
		}
		args := append([]string{
			"--etcd-servers", cp.etcdURL,
			"--bind-address", "127.0.0.1",
			"--advertise-address", "127.0.0.1",
			"--secure-port", strconv.Itoa(cp.port),
			"--cert-dir", cp.path("certs"),
			"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file", cp.path("sa.pub"),
			"--service-account-signing-key-file", cp.path("sa.key"),
			"--token-auth-file", cp.path("tokens.csv"),
			"--authorization-mode", "RBAC",
			// Only a setting of the service IP allocator: nothing is sent there.
			"--service-cluster-ip-range", "10.0.0.0/24",
			// The loopback advertise address cannot be an Endpoints address.
			"--endpoint-reconciler-type", "none",
			// Lets a kubelet named localhost on 127.0.0.1 serve logs and exec.
			"--kubelet-preferred-address-types", "Hostname,InternalIP",
			"--allow-privileged",
		}, cp.opts.APIServerArgs...)
		p, err := daemon.Start(filepath.Join(cp.bin, "kube-apiserver"), cp.path("kube-apiserver.log"), nil, args...)
		if err != nil {
			return err
		}
		cp.mu.Lock()
		cp.apiserver = p
		cp.mu.Unlock()
		lastErr = p.WaitFor(cp.opts.StartTimeout, 100*time.Millisecond, readiness(cp.ready))
		if lastErr == nil {
			return nil
		}
		p.Stop(cp.opts.StopTimeout)
		// Only a port taken since freePort is worth retrying, and only
		// when the port is ours to choose.
		if !first || !portTaken(cp.path("kube-apiserver.log")) {
			break
		}
	}
	return fmt.Errorf("kube-apiserver: %v\n%s", lastErr, daemon.Tail(cp.path("kube-apiserver.log"), 40))
}

// ready reports whether /readyz answers ok. The first time, it waits for
// the apiserver to have written its self-signed certificate (leaf and CA)
// and keeps a transport that trusts it once a TLS handshake succeeded: the
// file may be read half-written.
func (cp *ControlPlane) ready() bool {
	cp.mu.Lock()
	tr := cp.transport
	cp.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if tr != nil {
		status, body, err := cp.request(ctx, tr, cp.adminToken, http.MethodGet, "/readyz", "", nil)
		return err == nil && status == http.StatusOK && strings.TrimSpace(string(body)) == "ok"
	}
	cert, err := os.ReadFile(cp.path("certs", "apiserver.crt"))
	if err != nil {
		return false
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cert) {
		return false
	}
	tr = &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		Proxy:           nil, // loopback only, whatever the environment says
	}
	status, body, err := cp.request(ctx, tr, cp.adminToken, http.MethodGet, "/readyz", "", nil)
	if err != nil {
		tr.CloseIdleConnections()
		return false
	}
	cp.mu.Lock()
	cp.caCert, cp.transport = cert, tr
	cp.mu.Unlock()
	return status == http.StatusOK && strings.TrimSpace(string(body)) == "ok"
}

// URL is the apiserver's address, https://127.0.0.1:PORT. It stays the same
// across Restart.
func (cp *ControlPlane) URL() string { return "https://127.0.0.1:" + strconv.Itoa(cp.port) }

// AdminToken is a bearer token of user admin in group system:masters.
func (cp *ControlPlane) AdminToken() string { return cp.adminToken }

// Token returns the bearer token of a user from Options.Tokens. It panics
// for another user.
func (cp *ControlPlane) Token(user string) string {
	tok, ok := cp.tokens[user]
	if !ok {
		panic(fmt.Sprintf("kube: no token for user %q (add it to Options.Tokens)", user))
	}
	return tok
}

// CACert is the PEM of the apiserver's self-signed serving certificate and
// its CA, to verify the apiserver with.
func (cp *ControlPlane) CACert() []byte {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return slices.Clone(cp.caCert)
}

// Dir is the control plane's directory: logs (etcd.log,
// kube-apiserver.log, kube-controller-manager.log, kube-scheduler.log),
// certs/, tokens.csv, sa.key. Removed at the end of
// the test unless PODLOCK_KEEP_KUBE is set.
func (cp *ControlPlane) Dir() string { return cp.dir }

// EtcdURL is etcd's client URL.
func (cp *ControlPlane) EtcdURL() string { return cp.etcdURL }

// WriteKubeconfig writes a kubeconfig for user with token, trusting
// CACert, with one context that is current.
func (cp *ControlPlane) WriteKubeconfig(path, user, token string) error {
	ca := base64.StdEncoding.EncodeToString(cp.CACert())
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) } // JSON strings are YAML
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: podlock-test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: podlock-test
  context:
    cluster: podlock-test
    user: %s
current-context: podlock-test
`, q(cp.URL()), ca, q(user), q(token), q(user))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(cfg), 0o600)
}

// HTTPClient returns a client that trusts the apiserver (and no proxy);
// requests need an Authorization: Bearer header. Its idle connections are
// closed by Stop.
func (cp *ControlPlane) HTTPClient() *http.Client {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return &http.Client{Transport: cp.transport}
}

// Do sends a request as admin. path is absolute ("/api/v1/namespaces").
// A body is sent as application/json when it looks like JSON, else as
// application/yaml; for PATCH as application/merge-patch+json.
func (cp *ControlPlane) Do(method, path string, body []byte) (status int, respBody []byte, err error) {
	return cp.DoAs(cp.adminToken, method, path, body)
}

// DoAs is Do with another bearer token ("" for none).
func (cp *ControlPlane) DoAs(token, method, path string, body []byte) (status int, respBody []byte, err error) {
	ctype := ""
	if len(body) > 0 {
		switch trimmed := bytes.TrimSpace(body); {
		case method == http.MethodPatch:
			ctype = "application/merge-patch+json"
		case len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '['):
			ctype = "application/json"
		default:
			ctype = "application/yaml"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cp.request(ctx, nil, token, method, path, ctype, body)
}

// request sends a request through tr, or the control plane's transport.
func (cp *ControlPlane) request(ctx context.Context, tr *http.Transport, token, method, path, ctype string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, cp.URL()+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	client := cp.HTTPClient()
	if tr != nil {
		client.Transport = tr
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// Stop stops the apiserver (SIGTERM, then SIGKILL after StopTimeout);
// etcd keeps running. Requests fail until Restart.
func (cp *ControlPlane) Stop() {
	cp.mu.Lock()
	p, tr := cp.apiserver, cp.transport
	cp.mu.Unlock()
	if p != nil {
		p.Stop(cp.opts.StopTimeout)
	}
	if tr != nil {
		tr.CloseIdleConnections()
	}
}

// Restart stops the apiserver if it runs and starts it again on the same
// port, with the same certificates, tokens and etcd, and waits until it is
// ready. The error includes the end of the apiserver's log.
func (cp *ControlPlane) Restart() error {
	cp.Stop()
	return cp.startAPIServer(false)
}

func (cp *ControlPlane) stopAll() {
	cp.mu.Lock()
	controllers := cp.controllers
	cp.mu.Unlock()
	for _, c := range controllers {
		c.proc.Stop(cp.opts.StopTimeout)
	}
	cp.Stop()
	if cp.etcd != nil {
		cp.etcd.Stop(cp.opts.StopTimeout)
	}
}

func (cp *ControlPlane) path(elem ...string) string {
	return filepath.Join(append([]string{cp.dir}, elem...)...)
}

// Apply applies every object of a manifest (YAML documents separated by
// "---", a JSON object, or a List) with server-side apply as admin, in
// order, and fails the test on the first error. Objects of a
// CustomResourceDefinition applied just before are retried until the
// resource is served.
func (cp *ControlPlane) Apply(t testing.TB, manifest []byte) {
	t.Helper()
	objs, err := splitManifest(manifest)
	if err != nil {
		t.Fatalf("kube: apply: %v", err)
	}
	for _, obj := range objs {
		if err := cp.applyOne(obj, false); err != nil {
			t.Fatalf("kube: apply: %v", err)
		}
	}
}

// DryRunApply is Apply with the API server's dry run: every object is
// validated and admitted as if applied, and nothing is stored. It returns
// the first error.
func (cp *ControlPlane) DryRunApply(manifest []byte) error {
	objs, err := splitManifest(manifest)
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if err := cp.applyOne(obj, true); err != nil {
			return err
		}
	}
	return nil
}

type objectMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

func splitManifest(manifest []byte) ([]json.RawMessage, error) {
	docs, err := dir.Documents(manifest)
	if err != nil {
		return nil, err
	}
	var out []json.RawMessage
	var add func(raw []byte) error
	add = func(raw []byte) error {
		var m objectMeta
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		if strings.HasSuffix(m.Kind, "List") && m.Metadata.Name == "" {
			for _, item := range m.Items {
				if err := add(item); err != nil {
					return err
				}
			}
			return nil
		}
		out = append(out, raw)
		return nil
	}
	for _, doc := range docs {
		if err := add(doc); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (cp *ControlPlane) applyOne(raw json.RawMessage, dryRun bool) error {
	var m objectMeta
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	what := fmt.Sprintf("%s %s %s", m.APIVersion, m.Kind, m.Metadata.Name)
	if m.APIVersion == "" || m.Kind == "" || m.Metadata.Name == "" {
		return fmt.Errorf("%s: apiVersion, kind and metadata.name are required", what)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := cp.resource(m.APIVersion, m.Kind)
		if err == nil {
			var path string
			if m.APIVersion == "v1" {
				path = "/api/v1"
			} else {
				path = "/apis/" + m.APIVersion
			}
			if res.Namespaced {
				ns := m.Metadata.Namespace
				if ns == "" {
					ns = "default"
				}
				path += "/namespaces/" + ns
			}
			path += "/" + res.Name + "/" + m.Metadata.Name + "?fieldManager=podlock-tests&force=true"
			if dryRun {
				path += "&dryRun=All"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			status, body, err := cp.request(ctx, nil, cp.adminToken, http.MethodPatch, path, "application/apply-patch+yaml", raw)
			cancel()
			switch {
			case err != nil:
				return fmt.Errorf("%s: %v", what, err)
			case status == http.StatusOK || status == http.StatusCreated:
				return nil
			case status != http.StatusNotFound || time.Now().After(deadline):
				return fmt.Errorf("%s: %d %s", what, status, body)
			}
			// 404: a CRD's resource just being set up.
			cp.forgetDiscovery(m.APIVersion)
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type apiResource struct {
	Name       string `json:"name"`
	Namespaced bool   `json:"namespaced"`
	Kind       string `json:"kind"`
}

// resource finds the resource serving kind in apiVersion through
// discovery, refreshing it on a miss.
func (cp *ControlPlane) resource(apiVersion, kind string) (apiResource, error) {
	cp.discoveryMu.Lock()
	defer cp.discoveryMu.Unlock()
	for refreshed := false; ; refreshed = true {
		list, ok := cp.discovery[apiVersion]
		if !ok || refreshed {
			path := "/apis/" + apiVersion
			if apiVersion == "v1" {
				path = "/api/v1"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			status, body, err := cp.request(ctx, nil, cp.adminToken, http.MethodGet, path, "", nil)
			cancel()
			if err != nil {
				return apiResource{}, err
			}
			if status != http.StatusOK {
				return apiResource{}, fmt.Errorf("discovery of %s: %d %s", apiVersion, status, body)
			}
			var doc struct {
				Resources []apiResource `json:"resources"`
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				return apiResource{}, fmt.Errorf("discovery of %s: %v", apiVersion, err)
			}
			list = doc.Resources
			if cp.discovery == nil {
				cp.discovery = map[string][]apiResource{}
			}
			cp.discovery[apiVersion] = list
		}
		for _, r := range list {
			if r.Kind == kind && !strings.Contains(r.Name, "/") {
				return r, nil
			}
		}
		if refreshed {
			return apiResource{}, fmt.Errorf("no resource of kind %s in %s", kind, apiVersion)
		}
	}
}

func (cp *ControlPlane) forgetDiscovery(apiVersion string) {
	cp.discoveryMu.Lock()
	delete(cp.discovery, apiVersion)
	cp.discoveryMu.Unlock()
}

// Tools returns the directory of the binaries built by tests/tools/build.sh
// after checking that the named ones are there. When one is missing, it
// skips the test, or fails it when PODLOCK_NO_SKIP is set.
func Tools(t testing.TB, names ...string) string {
	t.Helper()
	dir := ToolsDir()
	for _, name := range names {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			why := fmt.Sprintf("needs %s in %s: run make tools (tests/tools/build.sh)", name, dir)
			if os.Getenv("PODLOCK_NO_SKIP") != "" {
				t.Fatalf("cannot run: %s (PODLOCK_NO_SKIP is set)", why)
			}
			t.Skipf("skipping: %s", why)
		}
	}
	return dir
}

// ToolsDir is where tests/tools/build.sh puts the binaries:
// $PODLOCK_TOOLS_DIR, else $PODLOCK_TOOLS_CACHE/bin, else
// <repo>/.cache/tools/bin.
func ToolsDir() string {
	if d := os.Getenv("PODLOCK_TOOLS_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("PODLOCK_TOOLS_CACHE"); d != "" {
		return filepath.Join(d, "bin")
	}
	return filepath.Join(repoRoot(), ".cache", "tools", "bin")
}

// CNIBinDir returns the directory of the CNI plugins built by
// tests/tools/build.sh (next to ToolsDir: ../cni/bin), with the same
// skipping as Tools.
func CNIBinDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(ToolsDir()), "cni", "bin")
	for _, name := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			why := fmt.Sprintf("needs the CNI plugin %s in %s: run make tools (tests/tools/build.sh)", name, dir)
			if os.Getenv("PODLOCK_NO_SKIP") != "" {
				t.Fatalf("cannot run: %s (PODLOCK_NO_SKIP is set)", why)
			}
			t.Skipf("skipping: %s", why)
		}
	}
	return dir
}

// repoRoot is the directory of podlock's go.mod: from this file's path, or
// up from the working directory (a test's is its package directory).
func repoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if ok && filepath.IsAbs(file) {
		return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
	}
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil &&
			bytes.Contains(data, []byte("module github.com/kubewarden/podlock\n")) {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// readiness adapts a yes-or-no check to daemon.Proc.WaitFor.
func readiness(ready func() bool) func() error {
	return func() error {
		if ready() {
			return nil
		}
		return daemon.ErrNotReady
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("kube: no free loopback port: %v", err))
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// portTaken reports whether the last run logged in a log file (after its
// "====" line) failed to listen on a port already in use.
func portTaken(logPath string) bool {
	data, _ := os.ReadFile(logPath)
	if i := bytes.LastIndex(data, []byte("\n==== ")); i >= 0 {
		data = data[i:]
	}
	return bytes.Contains(data, []byte("address already in use"))
}
