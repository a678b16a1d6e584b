package containerd

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/kubewarden/podlock/install/engine"
	"github.com/kubewarden/podlock/install/internal/installtest"
)

// skipUnless skips the test with the reason, or fails it when
// PODLOCK_NO_SKIP is set (as `make test` does), the way
// tests/internal/testenv.Require does for the tests under tests/ (which
// packages outside tests/ cannot import).
func skipUnless(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("PODLOCK_NO_SKIP") != "" {
		t.Fatalf("cannot run: %s (PODLOCK_NO_SKIP is set)", why)
	}
	t.Skip("skipping: " + why)
}

// containerdBinary returns the containerd 2.x that tests/tools/build.sh
// builds: in $PODLOCK_TOOLS_DIR, else $PODLOCK_TOOLS_CACHE/bin, else
// <repo>/.cache/tools/bin.
func containerdBinary(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PODLOCK_TOOLS_DIR")
	if dir == "" {
		if cache := os.Getenv("PODLOCK_TOOLS_CACHE"); cache != "" {
			dir = filepath.Join(cache, "bin")
		} else {
			// Tests run in their package directory, install/containerd.
			root, err := filepath.Abs(filepath.Join("..", ".."))
			if err != nil {
				t.Fatal(err)
			}
			dir = filepath.Join(root, ".cache", "tools", "bin")
		}
	}
	bin := filepath.Join(dir, "containerd")
	if _, err := os.Stat(bin); err != nil {
		skipUnless(t, "needs containerd 2.x at "+bin+" (tests/tools/build.sh containerd builds it)")
	}
	return bin
}

// dump runs `containerd config dump`, which loads the main file and its
// imports as the daemon does and prints the merged configuration, and
// returns it decoded. containerd's warnings about the drop-in (an unknown
// key, say) fail the test.
func dump(t *testing.T, bin, config, dropIn string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config", config, "config", "dump")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("containerd config dump: %v\n%s", err, stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, dropIn) || strings.Contains(line, "level=error") {
			t.Errorf("containerd complains: %s", line)
		}
	}
	var doc map[string]any
	if err := toml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("decoding the dump: %v\n%s", err, out)
	}
	return doc
}

// TestContainerdAcceptsDropIn installs the handler into real default
// configurations and asks containerd 2.4 what it makes of the result: the
// podlock handler must be there as written, with runc's options, and the
// rest of the configuration exactly as before. After uninstall, containerd
// must see the original configuration.
func TestContainerdAcceptsDropIn(t *testing.T) {
	bin := containerdBinary(t)
	tests := []struct {
		name    string
		fixture string // "" for no main file
		version int
	}{
		{"v2 containerd 1.7 default", "containerd-1.7-default.toml", 0},
		{"v2 Debian 12 shipped", "debian-12-shipped.toml", 0},
		{"v3 containerd 2.1 default", "containerd-2.1-default.toml", 0},
		{"v4 containerd 2.4 default", "containerd-2.4-default.toml", 0},
		{"no main file", "", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			config := filepath.Join(dir, "config.toml")
			if tt.fixture != "" {
				// The node's own /etc/containerd/conf.d stays out of the
				// test; the glob now covers the drop-in in dir.
				content := strings.ReplaceAll(installtest.Fixture(t, tt.fixture),
					"'/etc/containerd/conf.d/*.toml'", "'"+filepath.Join(dir, "conf.d", "*.toml")+"'")
				if err := os.WriteFile(config, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			dropIn := DropInPath(config, podlock.Handler)
			before := dump(t, bin, config, dropIn)

			c, err := New(Options{ConfigPath: config, Version: tt.version})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.AddRuntime(podlock); err != nil {
				t.Fatal(err)
			}
			if err := c.Save(); err != nil {
				t.Fatal(err)
			}
			after := dump(t, bin, config, dropIn)

			runtimes := engine.TableAt(after, "plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes")
			got := engine.TableAt(runtimes, "podlock")
			if got == nil {
				t.Fatalf("containerd does not see the podlock handler; runtimes: %v", runtimes)
			}
			if got["runtime_type"] != runtimeType {
				t.Errorf("runtime_type = %v, want %s", got["runtime_type"], runtimeType)
			}
			if want := []any{PodAnnotations}; !reflect.DeepEqual(got["pod_annotations"], want) {
				t.Errorf("pod_annotations = %v, want %v", got["pod_annotations"], want)
			}
			options := engine.TableAt(got, "options")
			if options["BinaryName"] != engine.DefaultRuntimePath {
				t.Errorf("BinaryName = %v, want %s", options["BinaryName"], engine.DefaultRuntimePath)
			}
			runc := engine.TableAt(runtimes, "runc", "options")
			if runc == nil {
				t.Fatalf("the runc handler is gone; runtimes: %v", runtimes)
			}
			// An option left out is the shim's default, as runc's
			// zero-valued one.
			if systemd, _ := options["SystemdCgroup"].(bool); systemd != runc["SystemdCgroup"] {
				t.Errorf("SystemdCgroup = %v, runc's is %v", options["SystemdCgroup"], runc["SystemdCgroup"])
			}

			// Apart from the handler and the imports list, containerd sees
			// what it saw before.
			delete(runtimes, "podlock")
			delete(after, "imports")
			delete(before, "imports")
			if !reflect.DeepEqual(before, after) {
				b, _ := toml.Marshal(before)
				a, _ := toml.Marshal(after)
				t.Errorf("install changed more than the handler:\n%s", engine.UnifiedDiff("before", "after", b, a))
			}

			if err := c.RemoveRuntime(podlock.Handler); err != nil {
				t.Fatal(err)
			}
			if err := c.Save(); err != nil {
				t.Fatal(err)
			}
			restored := dump(t, bin, config, dropIn)
			delete(restored, "imports")
			if !reflect.DeepEqual(before, restored) {
				b, _ := toml.Marshal(before)
				r, _ := toml.Marshal(restored)
				t.Errorf("uninstall did not restore the configuration:\n%s", engine.UnifiedDiff("before", "restored", b, r))
			}
		})
	}
}
