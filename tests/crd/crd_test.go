// Package crd_test installs podlock's CustomResourceDefinitions in a real
// kube-apiserver and checks that the API server itself enforces their
// validation: bad profiles are rejected at `kubectl apply`, with messages a
// user can act on, and the README's examples are accepted.
package crd_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kubewarden/podlock/seccomp/builtin"
	"github.com/kubewarden/podlock/tests/internal/kube"
)

const (
	crdPath   = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
	namespace = "default"
)

// repoRoot is the module root: tests run in their package directory,
// tests/crd. (runtime.Caller would give a module path under -trimpath.)
func repoRoot() string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return root
}

// installCRDs creates every CRD of install/crds through the API and waits
// until each is established and its resource is served.
func installCRDs(t *testing.T, cp *kube.ControlPlane) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(), "install", "crds", "*.yaml"))
	if err != nil || len(files) != 2 {
		t.Fatalf("install/crds: want 2 CRD files, found %v (%v)", files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body, err := yaml.YAMLToJSON(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var crd struct {
			Metadata struct{ Name string } `json:"metadata"`
			Spec     struct {
				Group string `json:"group"`
				Names struct {
					Plural string `json:"plural"`
				} `json:"names"`
				Versions []struct {
					Name string `json:"name"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(body, &crd); err != nil || len(crd.Spec.Versions) != 1 {
			t.Fatalf("%s: %v %+v", f, err, crd)
		}
		// The API server checks the schema and the cost of its CEL
		// rules here: a rejected CRD is a bug of the markers.
		status, resp, err := cp.Do(http.MethodPost, crdPath, body)
		if err != nil || status != http.StatusCreated {
			t.Fatalf("creating %s: %d %v\n%s", filepath.Base(f), status, err, resp)
		}
		waitEstablished(t, cp, crd.Metadata.Name)
		list := fmt.Sprintf("/apis/%s/%s/namespaces/%s/%s", crd.Spec.Group, crd.Spec.Versions[0].Name, namespace, crd.Spec.Names.Plural)
		waitFor(t, "resource "+list+" to be served", func() (bool, string) {
			status, resp, err := cp.Do(http.MethodGet, list, nil)
			return err == nil && status == http.StatusOK, fmt.Sprintf("%d %v %s", status, err, resp)
		})
	}
}

func waitEstablished(t *testing.T, cp *kube.ControlPlane, name string) {
	t.Helper()
	waitFor(t, "CRD "+name+" to be established", func() (bool, string) {
		status, resp, err := cp.Do(http.MethodGet, crdPath+"/"+name, nil)
		if err != nil || status != http.StatusOK {
			return false, fmt.Sprintf("%d %v %s", status, err, resp)
		}
		var crd struct {
			Status struct {
				Conditions []struct {
					Type, Status, Reason, Message string
				} `json:"conditions"`
			} `json:"status"`
		}
		if err := json.Unmarshal(resp, &crd); err != nil {
			return false, err.Error()
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == "Established" && c.Status == "True" {
				return true, ""
			}
		}
		return false, string(resp)
	})
}

func waitFor(t *testing.T, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, last := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %s", what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// create posts a profile manifest (YAML) to its resource in the default
// namespace and returns the HTTP status and the API server's message.
func create(t *testing.T, cp *kube.ControlPlane, manifest string) (int, string) {
	t.Helper()
	body, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatalf("manifest: %v\n%s", err, manifest)
	}
	var obj struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(body, &obj); err != nil {
		t.Fatal(err)
	}
	resource := map[string]string{"LandlockProfile": "landlockprofiles", "SeccompProfile": "seccompprofiles"}[obj.Kind]
	if resource == "" {
		t.Fatalf("not a profile: %s", manifest)
	}
	status, resp, err := cp.Do(http.MethodPost, "/apis/podlock.kubewarden.io/v1alpha1/namespaces/"+namespace+"/"+resource, body)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(resp, &st) != nil || st.Message == "" {
		return status, string(resp)
	}
	return status, st.Message
}

func TestCRDValidation(t *testing.T) {
	cp := kube.StartControlPlane(t, kube.Options{})
	installCRDs(t, cp)

	t.Run("discovery", func(t *testing.T) {
		status, body, err := cp.Do(http.MethodGet, "/apis/podlock.kubewarden.io/v1alpha1", nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("discovery: %d %v %s", status, err, body)
		}
		var doc struct {
			Resources []struct {
				Name       string   `json:"name"`
				Kind       string   `json:"kind"`
				Namespaced bool     `json:"namespaced"`
				ShortNames []string `json:"shortNames"`
				Categories []string `json:"categories"`
			} `json:"resources"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"landlockprofiles":        "LandlockProfile llp",
			"landlockprofiles/status": "LandlockProfile",
			"seccompprofiles":         "SeccompProfile scp",
			"seccompprofiles/status":  "SeccompProfile",
		}
		got := map[string]string{}
		for _, r := range doc.Resources {
			got[r.Name] = strings.Join(append([]string{r.Kind}, r.ShortNames...), " ")
			if !r.Namespaced {
				t.Errorf("%s is not namespaced", r.Name)
			}
			if !strings.Contains(r.Name, "/") && strings.Join(r.Categories, ",") != "podlock" {
				t.Errorf("%s: categories %v, want [podlock]", r.Name, r.Categories)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("resources %v, want %v", got, want)
		}
	})

	t.Run("README examples are accepted", func(t *testing.T) {
		examples := readmeProfiles(t)
		kinds := map[string]int{}
		for i, ex := range examples {
			// Unique names: the examples may share one.
			ex = strings.Replace(ex, "\n  name: ", fmt.Sprintf("\n  name: readme-%d-", i), 1)
			status, msg := create(t, cp, ex)
			if status != http.StatusCreated {
				t.Errorf("README example rejected: %d %s\n%s", status, msg, ex)
			}
			var obj struct{ Kind string }
			yaml.Unmarshal([]byte(ex), &obj)
			kinds[obj.Kind]++
		}
		if kinds["LandlockProfile"] == 0 || kinds["SeccompProfile"] == 0 {
			t.Errorf("README examples: want at least one of each kind, found %v", kinds)
		}
	})

	t.Run("valid profiles are accepted", func(t *testing.T) {
		for i, manifest := range []string{
			landlock(`
  profilesByContainer:
    app:
      /bin/sh: {}                         # deny all but the binary itself
      /usr/bin/env:
        readOnly: [/]
        readExec: [/usr/lib/.hidden, /opt/...x, /a..b/c]
  containerWide:
    sidecar-1:
      readWriteExec: [/]
    "*":                                  # every container not named otherwise
      readOnly: [/etc]
  seccompByContainer:
    app: runtime-default
    sidecar-1: my.profile
  bestEffort: true`),
			seccomp(`
  baseProfileName: runtime-default
  defaultErrnoRet: 38                     # with the base's action
  syscalls:
  - names: [ptrace]
    action: SCMP_ACT_TRACE
    errnoRet: 30000
  - names: [personality]
    action: SCMP_ACT_ALLOW
    args: [{index: 0, value: 0, op: SCMP_CMP_EQ}, {index: 5, value: 255, valueTwo: 1, op: SCMP_CMP_MASKED_EQ}]`),
		} {
			manifest = strings.Replace(manifest, "name: x", fmt.Sprintf("name: valid-%d", i), 1)
			if status, msg := create(t, cp, manifest); status != http.StatusCreated {
				t.Errorf("rejected: %d %s\n%s", status, msg, manifest)
			}
		}
		// containerd's RuntimeDefault profile, podlock's largest, fits the bounds.
		for _, name := range builtin.Names() {
			spec, _ := builtin.Get(name)
			obj := map[string]any{"apiVersion": "podlock.kubewarden.io/v1alpha1", "kind": "SeccompProfile",
				"metadata": map[string]any{"name": "builtin-" + name}, "spec": spec}
			data, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			if status, msg := create(t, cp, string(data)); status != http.StatusCreated {
				t.Errorf("built-in profile %s rejected: %d %s", name, status, msg)
			}
		}
		// The controller reports through the status subresource.
		path := "/apis/podlock.kubewarden.io/v1alpha1/namespaces/" + namespace + "/landlockprofiles/valid-0/status"
		status, body, err := cp.Do(http.MethodPatch, path, []byte(`{"status":{"podsInUse":2}}`))
		if err != nil || status != http.StatusOK || !strings.Contains(string(body), `"podsInUse":2`) {
			t.Errorf("PATCH %s: %d %v %s", path, status, err, body)
		}
		status, body, err = cp.Do(http.MethodPatch, path, []byte(`{"status":{"podsInUse":-1}}`))
		if err != nil || status != http.StatusUnprocessableEntity {
			t.Errorf("PATCH %s with podsInUse -1: %d %v %s, want 422", path, status, err, body)
		}
	})

	for _, c := range []struct {
		name, manifest string
		// want are substrings of the API server's message.
		want []string
	}{
		{"relative path", landlock(`
  containerWide:
    app:
      readOnly: [etc/passwd]`), []string{`readOnly[0]`, `"etc/passwd"`, `must be an absolute path`}},
		{"relative dot-dot path", landlock(`
  profilesByContainer:
    app:
      /bin/sh:
        readOnly: [../etc]`), []string{`spec.profilesByContainer.app./bin/sh.readOnly[0]`, `must be an absolute path`, `"../etc"`}},
		{"dot-dot path", landlock(`
  profilesByContainer:
    app:
      /bin/sh:
        readWrite: [/tmp/../etc]`), []string{`readWrite[0]`, `"/tmp/../etc"`}},
		{"relative binary", landlock(`
  profilesByContainer:
    app:
      bin/sh:
        readOnly: [/etc]`), []string{`spec.profilesByContainer[app]`, `binaries must be absolute, clean paths`}},
		{"binary with dot-dot", landlock(`
  profilesByContainer:
    app:
      /bin/../sbin/sh: {}`), []string{`binaries must be absolute, clean paths`}},
		{"binary named like a replaced executable", landlock(`
  profilesByContainer:
    app:
      "/bin/sh (deleted)": {}`), []string{`spec.profilesByContainer[app]`, `binary names must not end in ' (deleted)'`}},
		{"mode Record with rules", landlock(`
  mode: Record
  seccompByContainer:
    app: runtime-default`), []string{`a profile in mode Record confines nothing`}},
		{"unknown mode", landlock(`
  mode: Learn`), []string{`spec.mode`, `Unsupported value: "Learn"`}},
		{"seccomp profile name not a DNS name", landlock(`
  seccompByContainer:
    app: Runtime/Default`), []string{`spec.seccompByContainer.app`, `should match`}},
		{"trailing slash", landlock(`
  profilesByContainer:
    app:
      /bin/sh:
        readExec: [/bin/]`), []string{`readExec[0]`, `"/bin/"`}},
		{"double slash", landlock(`
  containerWide:
    app:
      readWriteExec: [//tmp]`), []string{`readWriteExec[0]`, `"//tmp"`}},
		{"dot path", landlock(`
  containerWide:
    app:
      readOnly: [/etc/.]`), []string{`readOnly[0]`, `"/etc/."`}},
		{"empty list", landlock(`
  profilesByContainer:
    app:
      /bin/sh:
        readOnly: []`), []string{`spec.profilesByContainer.app./bin/sh.readOnly`, `at least 1 item`}},
		{"container without binaries", landlock(`
  profilesByContainer:
    app: {}`), []string{`spec.profilesByContainer.app`, `should have at least 1 properties`}},
		{"bad container name", landlock(`
  containerWide:
    My_App:
      readOnly: [/etc]`), []string{`spec.containerWide`, `container names must be DNS-1123 labels`, `not: My_App`}},
		{"every other container outside containerWide", landlock(`
  profilesByContainer:
    "*":
      /bin/sh: {}`), []string{`spec.profilesByContainer`, `container names must be DNS-1123 labels`, `not: *`}},
		{"bad container name in seccompByContainer", landlock(`
  seccompByContainer:
    -app: runtime-default`), []string{`spec.seccompByContainer`, `container names must be DNS-1123 labels`}},
		{"unknown seccomp action", seccomp(`
  defaultAction: SCMP_ACT_NOTIFY`), []string{`spec.defaultAction`, `Unsupported value: "SCMP_ACT_NOTIFY"`, `"SCMP_ACT_ALLOW"`}},
		{"unknown rule action", seccomp(`
  syscalls:
  - names: [mkdir]
    action: SCMP_ACT_DENY`), []string{`spec.syscalls[0].action`, `Unsupported value: "SCMP_ACT_DENY"`}},
		{"errnoRet with SCMP_ACT_ALLOW", seccomp(`
  syscalls:
  - names: [mkdir]
    action: SCMP_ACT_ALLOW
    errnoRet: 1`), []string{`spec.syscalls[0].errnoRet`, `errnoRet is only allowed with SCMP_ACT_ERRNO`}},
		{"errno out of range", seccomp(`
  syscalls:
  - names: [mkdir]
    action: SCMP_ACT_ERRNO
    errnoRet: 4096`), []string{`spec.syscalls[0].errnoRet`, `at most 4095`}},
		{"defaultErrnoRet with SCMP_ACT_KILL", seccomp(`
  defaultAction: SCMP_ACT_KILL
  defaultErrnoRet: 1`), []string{`spec.defaultErrnoRet`, `only allowed with defaultAction SCMP_ACT_ERRNO`}},
		{"arg index 6", seccomp(`
  syscalls:
  - names: [ioctl]
    action: SCMP_ACT_ALLOW
    args: [{index: 6, value: 1, op: SCMP_CMP_EQ}]`), []string{`spec.syscalls[0].args[0].index`, `less than or equal to 5`}},
		{"unknown operator", seccomp(`
  syscalls:
  - names: [ioctl]
    action: SCMP_ACT_ALLOW
    args: [{index: 1, value: 1, op: SCMP_CMP_EQUAL}]`), []string{`spec.syscalls[0].args[0].op`, `Unsupported value: "SCMP_CMP_EQUAL"`}},
		{"no syscall names", seccomp(`
  syscalls:
  - names: []
    action: SCMP_ACT_ALLOW`), []string{`spec.syscalls[0].names`, `at least 1 item`}},
		{"bad syscall name", seccomp(`
  syscalls:
  - names: [Mkdir]
    action: SCMP_ACT_ALLOW`), []string{`spec.syscalls[0].names[0]`, `"Mkdir"`}},
		{"unknown architecture", seccomp(`
  architectures: [SCMP_ARCH_Z80]`), []string{`spec.architectures[0]`, `Unsupported value: "SCMP_ARCH_Z80"`}},
		{"unsupported flag", seccomp(`
  flags: [SECCOMP_FILTER_FLAG_TSYNC]`), []string{`spec.flags[0]`, `Unsupported value: "SECCOMP_FILTER_FLAG_TSYNC"`}},
		{"bad base profile name", seccomp(`
  baseProfileName: ../etc`), []string{`spec.baseProfileName`, `must be a DNS-1123 subdomain`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, msg := create(t, cp, c.manifest)
			if status != http.StatusUnprocessableEntity {
				t.Fatalf("API server answered %d, want 422 (rejected): %s\n%s", status, msg, c.manifest)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%s", w, msg)
				}
			}
			t.Logf("rejected: %s", msg)
		})
	}
}

func landlock(spec string) string {
	return "apiVersion: podlock.kubewarden.io/v1alpha1\nkind: LandlockProfile\nmetadata:\n  name: x\nspec:" + spec + "\n"
}

func seccomp(spec string) string {
	return "apiVersion: podlock.kubewarden.io/v1alpha1\nkind: SeccompProfile\nmetadata:\n  name: x\nspec:" + spec + "\n"
}

// readmeProfiles returns the profile manifests of the yaml blocks of the
// pages that show profiles: the README's quickstart and the reference.
func readmeProfiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, page := range []string{"README.md", "profiles/README.md", "runtime/record/README.md"} {
		data, err := os.ReadFile(filepath.Join(repoRoot(), page))
		if err != nil {
			t.Fatal(err)
		}
		var block strings.Builder
		in := false
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := sc.Text()
			switch {
			case !in && strings.HasPrefix(line, "```yaml"):
				in = true
				block.Reset()
			case in && strings.HasPrefix(line, "```"):
				in = false
				for _, doc := range strings.Split(block.String(), "\n---\n") {
					if strings.Contains(doc, "apiVersion: podlock.kubewarden.io/") {
						out = append(out, doc)
					}
				}
			case in:
				block.WriteString(line + "\n")
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the documentation has no profile examples in yaml blocks")
	}
	return out
}
