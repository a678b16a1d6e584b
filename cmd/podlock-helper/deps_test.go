package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The helper runs inside every confined container, of any image: static,
// without cgo, and linking nothing but podlock's landlock, seccomp and
// sysread packages, go-landlock and x/sys beside the standard library.
func TestDependencies(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}} {{len .CgoFiles}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	allowed := []string{
		"github.com/kubewarden/podlock/cmd/podlock-helper",
		"github.com/kubewarden/podlock/landlock",
		"github.com/kubewarden/podlock/internal/sysread",
		"github.com/kubewarden/podlock/seccomp",
		"github.com/landlock-lsm/go-landlock/",
		"golang.org/x/sys/",
		"kernel.org/pub/linux/libs/security/libcap/psx",
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, std, cgo := fields[0], fields[1] == "true", fields[2] != "0"
		if cgo {
			t.Errorf("the helper links cgo package %s", pkg)
		}
		if std {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || pkg == a || strings.HasPrefix(pkg, a)
		}
		if !ok {
			t.Errorf("the helper links %s", pkg)
		}
	}
}
