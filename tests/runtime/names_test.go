package runtime_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// Namespace, pod and container names reach file names (a recording, its
// log): a name Kubernetes would not allow stops create, naming the
// annotation, and nothing is written.
func TestUnsafeNamesWriteNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		key   string
		value string
		want  string
	}{
		{"container name with a path", "io.kubernetes.cri.container-name", "../app", `annotation io.kubernetes.cri.container-name: container name "../app" is not a DNS-1123 label`},
		{"upper-case container name", "io.kubernetes.cri.container-name", "App", `container name "App" is not a DNS-1123 label`},
		{"pod name with a path", "io.kubernetes.cri.sandbox-name", "web/../../x", `annotation io.kubernetes.cri.sandbox-name: pod name "web/../../x" is not a DNS-1123 subdomain`},
		{"namespace with a path", "io.kubernetes.cri.sandbox-namespace", "../default", `annotation io.kubernetes.cri.sandbox-namespace: namespace "../default" is not a DNS-1123 label`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Short enough for the agent's socket: t.TempDir is named
			// after the test.
			records, err := os.MkdirTemp("", "podlock-names-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(records) })
			e := newEnv(t, "PODLOCK_RECORD_DIR="+filepath.Join(records, "records"))
			e.profile("learned", recordProfile)
			b := testenv.NewBundle(t, "sh", "-c", "echo STARTED").Annotate("default", "app", "learned")
			b.Spec.Annotations[tc.key] = tc.value
			before := b.Write(t)
			res := e.rt.Run(b, "names")
			if res.Err == nil || strings.Contains(res.Stdout, "STARTED") {
				t.Fatalf("the container ran: %v %q", res.Err, res.Stdout)
			}
			errs := e.rt.LogErrors(t)
			if len(errs) == 0 || !strings.Contains(errs[len(errs)-1], tc.want) {
				t.Errorf("log errors %q, want the last to contain %q", errs, tc.want)
			}
			if !bytes.Equal(before, b.Config(t)) {
				t.Error("config.json changed")
			}
			filepath.WalkDir(records, func(p string, d fs.DirEntry, err error) error {
				if p != records {
					t.Errorf("%s was written", p)
				}
				return err
			})
		})
	}
}
