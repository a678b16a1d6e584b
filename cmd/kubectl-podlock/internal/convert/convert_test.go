package convert_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/cmd/kubectl-podlock/internal/plugin"
)

// convert runs the command with args and stdin, and returns its exit
// status and output.
func convert(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = plugin.Main(context.Background(), append([]string{"kubectl-podlock", "convert"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

const twoProfiles = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
  namespace: default
spec:
  profilesByContainer:
    app:
      /bin/sh:
        readExec: [/bin/echo, /bin/cat]
        readWrite: [/tmp]
        readOnly: [/etc/hostname]
---
apiVersion: podlock.kubewarden.io/v1alpha1
kind: SeccompProfile
metadata:
  name: ignored
spec: {}
---
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: web
spec:
  containerWide:
    web:
      readExec: [/usr/local/bin/server]
      network: {bindTCP: [8080]}
      scope: {signal: true}
`

// A binary's rules and a container's container-wide rules go to
// landlockconfig and back into a LandlockProfile, new or existing.
func TestLandlockconfigRoundTrip(t *testing.T) {
	profiles := write(t, "profiles.yaml", twoProfiles)

	code, doc, stderr := convert(t, "", "landlockconfig", "export", "--name", "demo", "--container", "app", "--binary", "/bin/sh", "--format", "toml", profiles)
	if code != 0 {
		t.Fatalf("export: %s", stderr)
	}
	if !strings.Contains(doc, "[[path_beneath]]\nallowed_access = ['execute', 'read_file', 'read_dir']\nparent = ['/bin/echo', '/bin/cat']\n") {
		t.Fatalf("export:\n%s", doc)
	}
	code, manifest, stderr := convert(t, doc, "landlockconfig", "import", "--format", "toml", "--name", "demo", "--namespace", "default", "--container", "app", "--binary", "/bin/sh", "-")
	if code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	want := `apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
  namespace: default
spec:
  profilesByContainer:
    app:
      /bin/sh:
        readExec:
        - /bin/cat
        - /bin/echo
        readOnly:
        - /etc/hostname
        readWrite:
        - /tmp
`
	if manifest != want {
		t.Fatalf("import:\n%s\nwant:\n%s", manifest, want)
	}

	code, doc, stderr = convert(t, "", "landlockconfig", "export", "--name", "web", "--container", "web", profiles)
	if code != 0 || !strings.HasPrefix(doc, "{\n") {
		t.Fatalf("export as JSON by default: %d %s\n%s", code, stderr, doc)
	}
	// Into the manifest just imported: the container-wide rules join the
	// binary's.
	existing := write(t, "demo.yaml", manifest)
	code, merged, stderr := convert(t, doc, "landlockconfig", "import", "--format", "json", "--into", existing, "--container", "web", "-")
	if code != 0 {
		t.Fatalf("import --into: %s", stderr)
	}
	for _, w := range []string{"  containerWide:\n    web:\n", "      network:\n        bindTCP:\n        - 8080\n", "      scope:\n        signal: true\n", "      /bin/sh:\n"} {
		if !strings.Contains(merged, w) {
			t.Errorf("merged manifest lacks %q:\n%s", w, merged)
		}
	}
}

func TestSeccompImport(t *testing.T) {
	code, out, stderr := convert(t, `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "mkdir", "action": "SCMP_ACT_ERRNO", "comment": "no"}]}`,
		"seccomp", "import", "--name", "no-mkdir", "--namespace", "team-a", "-")
	want := `apiVersion: podlock.kubewarden.io/v1alpha1
kind: SeccompProfile
metadata:
  name: no-mkdir
  namespace: team-a
spec:
  defaultAction: SCMP_ACT_ALLOW
  syscalls:
  - action: SCMP_ACT_ERRNO
    names:
    - mkdir
`
	if code != 0 || out != want {
		t.Fatalf("%d %s\n%s\nwant:\n%s", code, stderr, out, want)
	}
}

// Every refusal names its cause; nothing is printed on stdout.
func TestRefusals(t *testing.T) {
	profiles := write(t, "profiles.yaml", twoProfiles)
	demo := write(t, "demo.yaml", strings.Split(twoProfiles, "---")[0])
	doc := write(t, "doc.json", `{"ruleset": [{"handledAccessFs": ["execute"]}]}`)
	exact := write(t, "exact.toml", "abi = 3\n[[ruleset]]\nhandled_access_fs = ['abi.all']\n")
	for _, tt := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"several profiles", "", []string{"landlockconfig", "export", "--container", "app", profiles}, "has several LandlockProfiles (demo, web): choose one with --name"},
		{"no such profile", "", []string{"landlockconfig", "export", "--name", "nope", "--container", "app", profiles}, `has no LandlockProfile named "nope" (it has: demo, web)`},
		{"no such binary", "", []string{"landlockconfig", "export", "--name", "demo", "--container", "app", "--binary", "/bin/cat", profiles}, "LandlockProfile demo has no rules for binary /bin/cat of container \"app\""},
		{"container-wide rules absent", "", []string{"landlockconfig", "export", "--name", "demo", "--container", "app", profiles}, `LandlockProfile demo has no containerWide rules for container "app"`},
		{"no container", "", []string{"landlockconfig", "export", profiles}, `Required flag "container" not set`},
		{"bad format", "", []string{"landlockconfig", "export", "--format", "yaml", "--container", "app", demo}, `unknown format "yaml"`},
		{"format of stdin", "{}", []string{"landlockconfig", "import", "--name", "x", "--container", "app", "-"}, "pass --format json or --format toml"},
		{"not exact", "", []string{"landlockconfig", "import", "--name", "x", "--container", "app", doc}, "it leaves write_file, read_file"},
		{"no name", "", []string{"landlockconfig", "import", "--container", "app", exact}, "name the new LandlockProfile with --name"},
		{"bad name", "", []string{"landlockconfig", "import", "--name", "Demo", "--container", "app", exact}, `name "Demo" is not a DNS-1123 subdomain`},
		{"bad container", "", []string{"landlockconfig", "import", "--name", "x", "--container", "App", exact}, `container name "App" is not a DNS-1123 label`},
		{"relative binary", "", []string{"landlockconfig", "import", "--name", "x", "--container", "app", "--binary", "sh", exact}, `path "sh" is not absolute`},
		{"into and name", "", []string{"landlockconfig", "import", "--into", demo, "--name", "x", "--container", "app", exact}, "--into takes the name and namespace from the manifest"},
		{"taken", "", []string{"landlockconfig", "import", "--into", demo, "--container", "app", "--binary", "/bin/sh", exact}, "LandlockProfile demo has rules for binary /bin/sh of container \"app\" already"},
		{"two arguments", "", []string{"landlockconfig", "import", "--name", "x", "--container", "app", exact, exact}, "takes one argument"},
		{"seccomp archMap", `{"archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}`, []string{"seccomp", "import", "--name", "x", "-"}, "archMap chooses the architectures"},
		{"seccomp without name", `{}`, []string{"seccomp", "import", "-"}, `Required flag "name" not set`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := convert(t, tt.stdin, tt.args...)
			if code == 0 || out != "" || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want a failure mentioning %q", code, out, stderr, tt.want)
			}
		})
	}
}
