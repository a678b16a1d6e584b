package runtime_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// podlockConvert runs `bin/kubectl-podlock convert` with stdin and
// returns its stdout.
func podlockConvert(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(filepath.Join(testenv.Binaries(t), "kubectl-podlock"), append([]string{"convert"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl-podlock convert %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// The quickstart profile exported to landlockconfig, in JSON and in TOML,
// and imported back, confines the quickstart container exactly as the
// original does: the same output, the same denials.
func TestQuickstartThroughLandlockconfig(t *testing.T) {
	for _, format := range []string{"json", "toml"} {
		t.Run(format, func(t *testing.T) {
			doc := podlockConvert(t, []byte(testenv.QuickstartProfile),
				"landlockconfig", "export", "--container", "app", "--binary", "/bin/sh", "--format", format, "-")
			if format == "toml" && !bytes.Contains(doc, []byte("[[path_beneath]]")) || format == "json" && !bytes.Contains(doc, []byte(`"pathBeneath"`)) {
				t.Fatalf("not a landlockconfig %s document:\n%s", format, doc)
			}
			manifest := podlockConvert(t, doc,
				"landlockconfig", "import", "--format", format, "--name", "demo", "--namespace", "default", "--container", "app", "--binary", "/bin/sh", "-")

			e := newEnv(t)
			e.profile("demo", string(manifest))
			b := testenv.NewBundle(t, "sh", "-c", testenv.QuickstartScript).Annotate("default", "app", "demo")
			b.Write(t)
			res := e.rt.Run(b, "landlockconfig-"+format)
			if res.Err != nil {
				t.Fatalf("run: %v\nstderr: %s\nlog: %q\nprofile:\n%s", res.Err, res.Stderr, e.rt.LogErrors(t), manifest)
			}
			wantLines(t, "stdout", res.Stdout, quickstartConfined.stdout)
			wantLines(t, "stderr", res.Stderr, quickstartConfined.stderr)
		})
	}
}

// The Kubernetes seccomp tutorial's fine-grained.json, as users have it,
// becomes a SeccompProfile through the real API server, unchanged in
// meaning, and filters a container: what it allows runs, the rest fails
// with EPERM.
func TestSeccompFileThroughAPIServer(t *testing.T) {
	a := newAPIEnv(t)
	path := filepath.Join(testenv.ModuleRoot(), "seccomp", "oci", "testdata", "fine-grained.json")
	file := readFile(t, path)
	a.cp.Apply(t, []byte(bindSeccomp("fine-grained")))

	// What kubectl apply sends: a create with strict field validation,
	// which kubectl uses unless told otherwise.
	create := func(t *testing.T, manifest []byte) (int, []byte) {
		t.Helper()
		status, body, err := a.cp.Do("POST", "/apis/podlock.kubewarden.io/v1alpha1/namespaces/default/seccompprofiles?fieldValidation=Strict", manifest)
		if err != nil {
			t.Fatal(err)
		}
		return status, body
	}
	// The spec the API server stores, as JSON with its keys sorted.
	storedSpec := func(t *testing.T, name string) string {
		t.Helper()
		status, body, err := a.cp.Do("GET", "/apis/podlock.kubewarden.io/v1alpha1/namespaces/default/seccompprofiles/"+name, nil)
		if err != nil || status != 200 {
			t.Fatalf("GET %s: %d %v %s", name, status, err, body)
		}
		var obj struct {
			Spec any `json:"spec"`
		}
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatal(err)
		}
		return canonical(t, obj.Spec)
	}
	var fileSpec any
	if err := json.Unmarshal(file, &fileSpec); err != nil {
		t.Fatal(err)
	}

	// The profile filters containers: what it allows runs, the rest fails.
	filters := func(t *testing.T) {
		t.Helper()
		// One program per container: the tutorial's list lacks wait4, so a
		// shell could not wait for the programs it starts.
		for _, tc := range []struct {
			args           []string
			stdout, stderr []string
		}{
			{[]string{"cat", "/etc/hostname"}, []string{"podlock-test"}, nil},
			{[]string{"mkdir", "/tmp/x"}, nil, []string{"mkdir: can't create directory '/tmp/x': Operation not permitted"}},
			{[]string{"ls", "/tmp"}, nil, []string{"ls: /tmp: Operation not permitted"}},
		} {
			b := testenv.NewBundle(t, tc.args...).Annotate("default", "app", "demo")
			b.Write(t)
			res := a.rt.Run(b, "fine-grained")
			if (res.Err == nil) != (tc.stderr == nil) {
				t.Errorf("%v: %v %s %q", tc.args, res.Err, res.Stderr, a.rt.LogErrors(t))
			}
			wantLines(t, "stdout", res.Stdout, tc.stdout)
			wantLines(t, "stderr", res.Stderr, tc.stderr)
		}
	}

	t.Run("kubectl-podlock convert seccomp import", func(t *testing.T) {
		manifest := podlockConvert(t, file, "seccomp", "import", "--name", "fine-grained", "-")
		if status, body := create(t, manifest); status != 201 {
			t.Fatalf("create: %d %s", status, body)
		}
		if got, want := storedSpec(t, "fine-grained"), canonical(t, fileSpec); got != want {
			t.Errorf("the API server holds\n%s\nnot the file's\n%s", got, want)
		}
		filters(t)
	})

	t.Run("kubectl-podlock apply-seccomp", func(t *testing.T) {
		if status, body, err := a.cp.Do("DELETE", "/apis/podlock.kubewarden.io/v1alpha1/namespaces/default/seccompprofiles/fine-grained", nil); err != nil || status != 200 {
			t.Fatalf("DELETE: %d %v %s", status, err, body)
		}
		kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
		if err := a.cp.WriteKubeconfig(kubeconfig, "admin", a.cp.AdminToken()); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(testenv.Binaries(t), "kubectl-podlock"), "apply-seccomp", path, "--name", "fine-grained", "--kubeconfig", kubeconfig)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "SeccompProfile default/fine-grained created") {
			t.Fatalf("apply-seccomp: %v %s", err, out)
		}
		if got, want := storedSpec(t, "fine-grained"), canonical(t, fileSpec); got != want {
			t.Errorf("the API server holds\n%s\nnot the file's\n%s", got, want)
		}
		filters(t)
	})

	t.Run("the file wrapped as spec, as the README's jq one-liner does", func(t *testing.T) {
		manifest, err := json.Marshal(map[string]any{
			"apiVersion": "podlock.kubewarden.io/v1alpha1", "kind": "SeccompProfile",
			"metadata": map[string]any{"name": "fine-grained-jq"}, "spec": fileSpec,
		})
		if err != nil {
			t.Fatal(err)
		}
		if status, body := create(t, manifest); status != 201 {
			t.Fatalf("create: %d %s", status, body)
		}
		if got, want := storedSpec(t, "fine-grained-jq"), canonical(t, fileSpec); got != want {
			t.Errorf("the API server holds\n%s\nnot the file's\n%s", got, want)
		}
	})

	// A Docker-only field is refused, not dropped: the schema has no place
	// for it, and strict field validation makes that an error.
	t.Run("a Docker field the schema lacks is refused", func(t *testing.T) {
		status, body := create(t, []byte(`{"apiVersion": "podlock.kubewarden.io/v1alpha1", "kind": "SeccompProfile",
			"metadata": {"name": "moby"},
			"spec": {"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
				"syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}}]}}`))
		if status == 201 || !bytes.Contains(body, []byte(`unknown field \"spec.archMap\"`)) || !bytes.Contains(body, []byte(`unknown field \"spec.syscalls[0].excludes\"`)) {
			t.Fatalf("create: %d %s", status, body)
		}
	})
}

func canonical(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
