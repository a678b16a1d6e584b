package seccomp_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The package is linked into the static helper that runs in every confined
// container: it must stay free of cgo and of anything but the standard
// library and golang.org/x/sys.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to list dependencies: %v", err)
	}
	cmd := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}} {{len .CgoFiles}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(deps) < 10 {
		t.Fatalf("go list found too few packages:\n%s", out)
	}
	for _, line := range deps {
		var path, standard, cgoFiles string
		fields := strings.Fields(line)
		if len(fields) != 3 {
			t.Fatalf("go list line %q", line)
		}
		path, standard, cgoFiles = fields[0], fields[1], fields[2]
		switch {
		case cgoFiles != "0" || path == "runtime/cgo" || path == "C":
			t.Errorf("%s uses cgo", path)
		case standard == "true", path == "github.com/kubewarden/podlock/seccomp",
			strings.HasPrefix(path, "golang.org/x/sys/"):
		default:
			t.Errorf("dependency %s is neither the standard library nor golang.org/x/sys", path)
		}
	}
}
