// Package node_test checks podlock-node against a real kube-apiserver, and
// every manifest of install/ with the API server's dry run.
package node_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/profiles"
	"github.com/kubewarden/podlock/profiles/kube"
	"github.com/kubewarden/podlock/runtime"
	kubetest "github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/podlockctl"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

const agentUser = podlockctl.AgentUser

func manifests(t *testing.T, patterns ...string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, p := range patterns {
		files, err := filepath.Glob(filepath.Join(testenv.ModuleRoot(), "install", p))
		if err != nil || len(files) == 0 {
			t.Fatalf("no manifests match install/%s: %v", p, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, data)
		}
	}
	return out
}

// podlock-node setup writes a configuration with which podlock-runtime
// reads profiles; podlock-node run gives it a token of the read-only node
// identity and labels the node.
func TestNodeAgent(t *testing.T) {
	testenv.Require(t, testenv.Root)
	cp := kubetest.StartControlPlane(t, kubetest.Options{Tokens: map[string][]string{agentUser: nil}})
	for _, m := range manifests(t, "crds/*.yaml", "kubernetes/namespace.yaml", "kubernetes/node-rbac.yaml", "kubernetes/node-admission-policy.yaml") {
		cp.Apply(t, m)
	}
	cp.Apply(t, []byte("apiVersion: v1\nkind: Node\nmetadata:\n  name: test-node\n"))
	cp.Apply(t, []byte("apiVersion: podlock.kubewarden.io/v1alpha1\nkind: LandlockProfile\nmetadata:\n  name: demo\n  namespace: default\nspec:\n  containerWide:\n    app:\n      readOnly: [/etc]\n"))

	bin := testenv.Binaries(t)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, cp.CACert(), 0o644); err != nil {
		t.Fatal(err)
	}
	agentKubeconfig := filepath.Join(dir, "agent.kubeconfig")
	// The token of the DaemonSet's pod on the node, which the shipped
	// admission policy lets label that node.
	if err := cp.WriteKubeconfig(agentKubeconfig, "agent", agentPodToken(t, cp, "test-node")); err != nil {
		t.Fatal(err)
	}
	hostBin, hostConfig := filepath.Join(dir, "usr-local-bin"), filepath.Join(dir, "etc-podlock")
	node := filepath.Join(bin, "podlock-node")

	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(node, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("podlock-node %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("setup", "--host-root=/", "--bin-dir="+hostBin, "--config-dir="+hostConfig, "--source-dir="+bin,
		"--api-server="+cp.URL(), "--ca-file="+ca, "--cache-dir="+filepath.Join(dir, "cache"), "--record-dir="+filepath.Join(dir, "records"), "--index-dir="+filepath.Join(dir, "index"))
	for _, f := range []string{filepath.Join(hostBin, "podlock-runtime"), filepath.Join(hostBin, "podlock-helper"), filepath.Join(hostConfig, "config.yaml"), filepath.Join(hostConfig, "kubeconfig")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("setup did not write %s: %v", f, err)
		}
	}
	run("run", "--once", "--host-root=/", "--bin-dir="+hostBin, "--config-dir="+hostConfig, "--node-name=test-node", "--kubeconfig="+agentKubeconfig,
		"--record-dir="+filepath.Join(dir, "records"))

	t.Run("the node is labelled", func(t *testing.T) {
		status, body, err := cp.Do("GET", "/api/v1/nodes/test-node", nil)
		if err != nil || status != 200 {
			t.Fatalf("%d %v %s", status, err, body)
		}
		var n struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(body, &n); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"podlock.kubewarden.io/landlock-version": strconv.Itoa(landlock.KernelABI()),
			"podlock.kubewarden.io/ready":            "true",
		}
		for k, v := range want {
			if n.Metadata.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, n.Metadata.Labels[k], v)
			}
		}
	})
	t.Run("podlock-runtime's kubeconfig reads profiles", func(t *testing.T) {
		src, err := kube.New(filepath.Join(hostConfig, "kubeconfig"), kube.Options{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := src.LandlockProfile(context.Background(), profiles.Ref{Namespace: "default", Name: "demo"})
		if err != nil || p.Metadata.Name != "demo" {
			t.Fatalf("reading the profile: %v", err)
		}
		token, err := os.ReadFile(filepath.Join(hostConfig, "token"))
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(filepath.Join(hostConfig, "token")); fi.Mode().Perm() != 0o600 {
			t.Errorf("token mode %v, want 0600", fi.Mode().Perm())
		}
		if status, _, _ := cp.DoAs(string(token), "GET", "/api/v1/namespaces/default/secrets", nil); status != 403 {
			t.Errorf("the node token read secrets: %d", status)
		}
	})
	t.Run("podlock-runtime reads the configuration", func(t *testing.T) {
		t.Setenv("PODLOCK_CONFIG", filepath.Join(hostConfig, "config.yaml"))
		cfg, err := runtime.LoadConfig()
		if err != nil {
			t.Fatal(err)
		}
		want := runtime.Config{
			Source:      runtime.SourceKubernetes,
			Kubeconfig:  filepath.Join(hostConfig, "kubeconfig"),
			CacheDir:    filepath.Join(dir, "cache"),
			RecordDir:   filepath.Join(dir, "records"),
			IndexDir:    filepath.Join(dir, "index"),
			Helper:      filepath.Join(hostBin, "podlock-helper"),
			ProfilesDir: runtime.DefaultProfilesDir,
			APITimeout:  cfg.APITimeout,
		}
		if *cfg != want {
			t.Errorf("configuration %+v, want %+v", *cfg, want)
		}
	})
	t.Run("the agent cannot read secrets", func(t *testing.T) {
		if status, _, _ := cp.DoAs(cp.Token(agentUser), "GET", "/api/v1/namespaces/podlock-system/secrets", nil); status != 403 {
			t.Errorf("the agent read secrets: %d", status)
		}
	})
}

// podlock-node run answers the kubelet's probes: alive while it runs,
// ready only while podlock works on the node as it keeps it.
func TestNodeAgentProbes(t *testing.T) {
	testenv.Require(t, testenv.Root)
	cp := kubetest.StartControlPlane(t, kubetest.Options{Tokens: map[string][]string{agentUser: nil}})
	// After the control plane, whose cleanup must come after podlock-node's.
	testenv.LockAudit(t)
	for _, m := range manifests(t, "kubernetes/namespace.yaml", "kubernetes/node-rbac.yaml") {
		cp.Apply(t, m)
	}
	cp.Apply(t, []byte("apiVersion: v1\nkind: Node\nmetadata:\n  name: test-node\n"))

	ready := podlockctl.StartNodeAgent(t, cp, "test-node", t.TempDir())
	waitFor(t, "the agent to be ready", func() bool {
		status, _ := ready.Probe("/readyz")
		return status == 200
	})
	if status, body := ready.Probe("/healthz"); status != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", status, body)
	}

	for _, tt := range []struct {
		name  string
		extra []string
		want  string
	}{
		{"binaries missing", []string{"--bin-dir=" + t.TempDir(), "--report-denials=false"},
			"podlock-runtime, podlock-runtime-confine, podlock-helper or podlock-interpose is not installed"},
		{"token refused", []string{"--service-account=podlock-system/nobody", "--report-denials=false"},
			"no token written for podlock-runtime yet"},
		{"audit socket held by another", nil,
			"denials are not reported: the kernel's audit daemon is pid "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			agent := podlockctl.StartNodeAgent(t, cp, "test-node", t.TempDir(), tt.extra...)
			// Past the first refresh, unless it is what fails.
			var status int
			var body string
			waitFor(t, "/readyz to say "+tt.want, func() bool {
				status, body = agent.Probe("/readyz")
				return status == 503 && strings.Contains(body, tt.want) &&
					(tt.name == "token refused" || !strings.Contains(body, "no token written"))
			})
			if status, _ := agent.Probe("/healthz"); status != 200 {
				t.Errorf("/healthz: %d, want 200", status)
			}
		})
	}
}

// thirdParty are manifests for clusters that have another project's CRDs.
var thirdParty = map[string]string{
	"install/controller/cert-manager.yaml": "cert-manager's Issuer and Certificate",
}

// Every manifest podlock ships is accepted by a real API server.
func TestManifestsDryRun(t *testing.T) {
	cp := kubetest.StartControlPlane(t, kubetest.Options{})
	cp.Apply(t, manifests(t, "kubernetes/namespace.yaml")[0])
	for _, m := range manifests(t, "crds/*.yaml") {
		cp.Apply(t, m) // the objects of other manifests may be CRs
	}
	files, err := filepath.Glob(filepath.Join(testenv.ModuleRoot(), "install", "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(testenv.ModuleRoot(), f)
		if strings.Contains(rel, "testdata") || filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		if needs, ok := thirdParty[rel]; ok {
			t.Logf("%s: not checked, needs %s", rel, needs)
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := cp.DryRunApply(data); err != nil {
			t.Errorf("%s: %v", rel, err)
		}
	}
}
