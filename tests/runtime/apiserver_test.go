package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/tests/internal/kube"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// nodeUser is the node identity of install/kubernetes/node-rbac.yaml: a
// static token named like the service account authenticates as it.
const nodeUser = "system:serviceaccount:podlock-system:podlock-node"

// apiEnv is podlock-runtime reading profiles from a real kube-apiserver
// with the node identity, keeping copies in its own cache directory.
type apiEnv struct {
	*env
	cp    *kube.ControlPlane
	cache string
}

func newAPIEnv(t testing.TB, apiserverArgs ...string) *apiEnv {
	t.Helper()
	testenv.Require(t, testenv.Root, testenv.Program("runc"), testenv.Busybox)
	cp := kube.StartControlPlane(t, kube.Options{Tokens: map[string][]string{nodeUser: nil}, APIServerArgs: apiserverArgs})
	root := testenv.ModuleRoot()
	crds, err := filepath.Glob(filepath.Join(root, "install", "crds", "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs in install/crds: %v", err)
	}
	for _, file := range append(crds, filepath.Join(root, "install", "kubernetes", "namespace.yaml"), filepath.Join(root, "install", "kubernetes", "node-rbac.yaml")) {
		cp.Apply(t, readFile(t, file))
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig, "podlock-node", cp.Token(nodeUser)); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	e := newEnv(t,
		"PODLOCK_SOURCE=kubernetes",
		"PODLOCK_KUBECONFIG="+kubeconfig,
		"PODLOCK_CACHE_DIR="+cache,
		"PODLOCK_API_TIMEOUT=1s",
	)
	return &apiEnv{env: e, cp: cp, cache: cache}
}

func readFile(t testing.TB, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// deleteProfile deletes a LandlockProfile as the admin.
func (a *apiEnv) deleteProfile(t *testing.T, namespace, name string) {
	t.Helper()
	status, body, err := a.cp.Do("DELETE", "/apis/podlock.kubewarden.io/v1alpha1/namespaces/"+namespace+"/landlockprofiles/"+name, nil)
	if err != nil || status != 200 {
		t.Fatalf("deleting %s/%s: %d %v %s", namespace, name, status, err, body)
	}
}

// runQuickstart runs the quickstart script in a container asking for
// profile, and returns what it printed.
func (a *apiEnv) runQuickstart(t *testing.T, namespace, profile, id string) testenv.Result {
	t.Helper()
	b := testenv.NewBundle(t, "sh", "-c", testenv.QuickstartScript).Annotate(namespace, "app", profile)
	b.Write(t)
	return a.rt.Run(b, id)
}

var quickstartConfined = struct{ stdout, stderr []string }{
	stdout: []string{"podlock-test", "copied motd to /tmp", "done"},
	stderr: []string{
		"sh: /opt/bin/id: Permission denied",
		"cp: can't create '/motd': Permission denied",
		"cp: can't open '/etc/passwd': Permission denied",
	},
}

// Profiles from a real API server, read with the node's read-only
// identity: applied profiles confine, missing ones fail closed, other
// namespaces' profiles are out of reach, a re-created profile is taken
// afresh, and the on-disk copy covers an API server outage but never a
// profile the node has not seen.
func TestProfilesFromAPIServer(t *testing.T) {
	a := newAPIEnv(t)
	a.cp.Apply(t, []byte(testenv.QuickstartProfile))
	a.cp.Apply(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-b\n"))
	a.cp.Apply(t, []byte(strings.Replace(strings.Replace(testenv.QuickstartProfile, "name: demo", "name: team-b-only", 1), "namespace: default", "namespace: team-b", 1)))

	t.Run("a profile applied through the API confines the container", func(t *testing.T) {
		res := a.runQuickstart(t, "default", "demo", "api-demo")
		if res.Err != nil {
			t.Fatalf("run: %v %s %q", res.Err, res.Stderr, a.rt.LogErrors(t))
		}
		wantLines(t, "stdout", res.Stdout, quickstartConfined.stdout)
		wantLines(t, "stderr", res.Stderr, quickstartConfined.stderr)
		fi, err := os.Stat(filepath.Join(a.cache, "landlockprofile", "default", "demo.json"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("copy kept on the node: %v %v, want mode 0600", fi, err)
		}
	})

	t.Run("a missing profile fails closed and is named in the runc log", func(t *testing.T) {
		res := a.runQuickstart(t, "default", "absent", "api-absent")
		if res.Err == nil || strings.Contains(res.Stdout, "podlock-test") {
			t.Fatalf("container ran: %v %q", res.Err, res.Stdout)
		}
		errs := a.rt.LogErrors(t)
		want := `asks for LandlockProfile "absent", which does not exist in namespace default`
		if len(errs) == 0 || !strings.Contains(errs[len(errs)-1], want) || !strings.Contains(errs[len(errs)-1], a.cp.URL()) {
			t.Errorf("log errors %q, want %q and the API server", errs, want)
		}
	})

	t.Run("another namespace's profile is out of reach", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			setup func(b *testenv.Bundle)
			want  string
		}{
			{"by name", func(b *testenv.Bundle) {}, `which does not exist in namespace default`},
			{"with a podlock namespace annotation", func(b *testenv.Bundle) {
				b.Spec.Annotations["podlock.kubewarden.io/namespace"] = "team-b"
			}, `which does not exist in namespace default`},
			{"with a namespaced profile name", func(b *testenv.Bundle) {
				b.Spec.Annotations["podlock.kubewarden.io/profile"] = "team-b/team-b-only"
			}, `is not a DNS-1123 subdomain`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := testenv.NewBundle(t, "sh", "-c", "echo UNCONFINED").Annotate("default", "app", "team-b-only")
				tc.setup(b)
				b.Write(t)
				res := a.rt.Run(b, "api-other-ns")
				if res.Err == nil || strings.Contains(res.Stdout, "UNCONFINED") {
					t.Fatalf("container ran: %v %q", res.Err, res.Stdout)
				}
				if errs := a.rt.LogErrors(t); len(errs) == 0 || !strings.Contains(errs[len(errs)-1], tc.want) {
					t.Errorf("log errors %q, want %q", errs, tc.want)
				}
			})
		}
	})

	t.Run("the node identity reads profiles and nothing else", func(t *testing.T) {
		token := a.cp.Token(nodeUser)
		for _, tc := range []struct {
			path string
			want int
		}{
			{"/apis/podlock.kubewarden.io/v1alpha1/namespaces/default/landlockprofiles/demo", 200},
			{"/api/v1/namespaces/default/secrets", 403},
			{"/api/v1/namespaces/kube-system/secrets/anything", 403},
			{"/apis/podlock.kubewarden.io/v1alpha1/landlockprofiles", 403},
			{"/api/v1/namespaces/default/pods", 403},
		} {
			status, body, err := a.cp.DoAs(token, "GET", tc.path, nil)
			if err != nil || status != tc.want {
				t.Errorf("GET %s as the node: %d %v, want %d: %s", tc.path, status, err, tc.want, body)
			}
		}
	})

	t.Run("a deleted and re-created profile is read afresh", func(t *testing.T) {
		a.cp.Apply(t, []byte(strings.Replace(testenv.QuickstartProfile, "name: demo", "name: recreated", 1)))
		res := a.runQuickstart(t, "default", "recreated", "api-recreated-1")
		wantLines(t, "stderr", res.Stderr, quickstartConfined.stderr)

		a.deleteProfile(t, "default", "recreated")
		a.cp.Apply(t, []byte(strings.Replace(strings.Replace(testenv.QuickstartProfile, "name: demo", "name: recreated", 1),
			"readOnly: [/etc/hostname, /etc/motd]", "readOnly: [/etc/hostname, /etc/motd, /etc/passwd]", 1)))
		res = a.runQuickstart(t, "default", "recreated", "api-recreated-2")
		wantLines(t, "stderr", res.Stderr, quickstartConfined.stderr[:2])
	})

	t.Run("API server down: the copy kept on the node confines", func(t *testing.T) {
		a.cp.Stop()
		defer a.cp.Restart()
		res := a.runQuickstart(t, "default", "demo", "api-down-cached")
		if res.Err != nil {
			t.Fatalf("run: %v %s %q", res.Err, res.Stderr, a.rt.LogErrors(t))
		}
		wantLines(t, "stdout", res.Stdout, quickstartConfined.stdout)
		wantLines(t, "stderr", res.Stderr, quickstartConfined.stderr)

		t.Run("and a profile never read on this node fails closed", func(t *testing.T) {
			res := a.runQuickstart(t, "team-b", "team-b-only", "api-down-uncached")
			if res.Err == nil || strings.Contains(res.Stdout, "podlock-test") {
				t.Fatalf("container ran: %v %q", res.Err, res.Stdout)
			}
			errs := a.rt.LogErrors(t)
			for _, want := range []string{"LandlockProfile team-b/team-b-only", "cannot be loaded now", "connection refused", "no copy of it is kept on this node"} {
				if len(errs) == 0 || !strings.Contains(errs[len(errs)-1], want) {
					t.Errorf("log errors %q, want %q", errs, want)
				}
			}
		})
	})

	t.Run("a profile deleted from the API server is not taken from the copy", func(t *testing.T) {
		a.deleteProfile(t, "default", "demo")
		res := a.runQuickstart(t, "default", "demo", "api-deleted")
		if res.Err == nil {
			t.Fatalf("container ran: %q", res.Stdout)
		}
		if _, err := os.Stat(filepath.Join(a.cache, "landlockprofile", "default", "demo.json")); !os.IsNotExist(err) {
			t.Errorf("copy of the deleted profile kept: %v", err)
		}
	})
}
