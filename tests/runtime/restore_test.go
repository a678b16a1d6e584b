package runtime_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// A container that asks for a podlock profile is never restored from a
// checkpoint: CRIU would bring its processes back without their Landlock
// domains. podlock-runtime refuses before runc runs, with its reason in
// runc's log; any other restore is runc's, as if podlock were not there.
func TestRestore(t *testing.T) {
	const refusal = `, and podlock-runtime does not restore confined containers from a checkpoint: ` +
		`CRIU restores neither Landlock domains nor what podlock sets up when it creates a container, so the restored processes would run unconfined; ` +
		`the container is not restored: create it anew instead`
	for _, tc := range []struct {
		name     string
		annotate func(*testenv.Bundle)
		refusal  string // "" when runc must get the restore
	}{
		{"profile", func(b *testenv.Bundle) { b.Annotate("default", "app", "demo") },
			`container "app" of pod default/test-pod asks for LandlockProfile "demo"` + refusal},
		{"profile that does not name the container", func(b *testenv.Bundle) { b.Annotate("default", "sidecar", "demo") },
			`container "sidecar" of pod default/test-pod asks for LandlockProfile "demo"` + refusal},
		{"namespace's seccomp profile", func(b *testenv.Bundle) {
			b.Annotate("default", "app", "")
			b.Spec.Annotations["podlock.kubewarden.io/seccomp"] = "runtime-default"
		}, `container "app" of pod default/test-pod asks for SeccompProfile "runtime-default" (annotation podlock.kubewarden.io/seccomp)` + refusal},
		{"namespace's LandlockProfile", func(b *testenv.Bundle) {
			b.Annotate("default", "app", "")
			b.Spec.Annotations["podlock.kubewarden.io/namespace-profile"] = "demo"
		}, `container "app" of pod default/test-pod asks for LandlockProfile "demo" (annotation podlock.kubewarden.io/namespace-profile)` + refusal},
		{"not annotated", func(b *testenv.Bundle) {}, ""},
		{"kubernetes container without profile", func(b *testenv.Bundle) { b.Annotate("default", "app", "") }, ""},
		{"sandbox", func(b *testenv.Bundle) {
			b.Annotate("default", "app", "demo")
			b.Spec.Annotations["io.kubernetes.cri.container-type"] = "sandbox"
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Runtimes of their own: one log each.
			e := newEnv(t)
			e.profile("demo", testenv.QuickstartProfile)
			runc := testenv.NewRuntime(t, "runc")
			b := testenv.NewBundle(t, "sh", "-c", "echo restored > /restored")
			tc.annotate(b)
			before := b.Write(t)
			// What containerd's shim runs for a restore. The images are
			// empty: runc 1.1 fails reading them, which shows that it got
			// the command.
			images, work := t.TempDir(), t.TempDir()
			restore := func(rt *testenv.Runtime, id string) testenv.Result {
				return rt.Command("restore", "--detach", "--pid-file", filepath.Join(b.Dir, id+".pid"),
					"--image-path", images, "--work-path", work, "--no-pivot", "--bundle", b.Dir, id)
			}
			res := restore(e.rt, "restored")
			got := e.rt.LogErrors(t)
			if after := b.Config(t); !bytes.Equal(before, after) {
				t.Errorf("config.json changed:\n%s", after)
			}
			if _, err := os.Stat(filepath.Join(b.Dir, "podlock")); !os.IsNotExist(err) {
				t.Errorf("podlock state in the bundle: %v", err)
			}
			if st := e.rt.Command("state", "restored"); st.Err == nil {
				t.Errorf("a container exists after the restore: %s", st.Stdout)
			}
			if _, err := os.Stat(filepath.Join(b.Dir, "rootfs", "restored")); err == nil {
				t.Error("the container's process ran")
			}
			if tc.refusal != "" {
				if res.Err == nil || !slices.Equal(got, []string{tc.refusal}) {
					t.Errorf("restore: %v; log errors %q\nwant exactly the refusal %q", res.Err, got, tc.refusal)
				}
				return
			}
			// Handed over: the same errors, from runc, as runc alone.
			want := restore(runc, "reference")
			if wantErrs := runc.LogErrors(t); len(wantErrs) == 0 || !slices.Equal(got, wantErrs) || (res.Err == nil) != (want.Err == nil) {
				t.Errorf("podlock-runtime restore: %v, log errors %q; runc restore: %v, log errors %q", res.Err, got, want.Err, wantErrs)
			}
		})
	}
}
