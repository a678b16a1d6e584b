package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// podlock-runtime runs for every runc command containerd issues, and the
// initialisation of every package it links is paid each time: it may link
// only the standard library packages a decision on argv, a flat
// configuration file and the container index needs, and podlock's own
// small packages for those.
func TestFrontLinksLittle(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	allowed := map[string]bool{
		"github.com/kubewarden/podlock/cmd/podlock-runtime":  true,
		"github.com/kubewarden/podlock/runtime/front":        true,
		"github.com/kubewarden/podlock/runtime/runcargs":     true,
		"github.com/kubewarden/podlock/runtime/index/lookup": true,
		"github.com/kubewarden/podlock/runtime/execwrap":     true,
		"github.com/kubewarden/podlock/runtime/realruntime":  true,
		"github.com/kubewarden/podlock/internal/atomicfile":  true,
		"github.com/kubewarden/podlock/internal/sysread":     true,
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, ".") && !allowed[pkg] {
			t.Errorf("podlock-runtime links %s", pkg)
		}
		for _, banned := range []string{"regexp", "crypto/", "net", "log", "os/exec", "flag", "text/template"} {
			if pkg == banned || strings.HasPrefix(pkg, banned+"/") || strings.HasPrefix(pkg, banned) && strings.HasSuffix(banned, "/") {
				t.Errorf("podlock-runtime links %s", pkg)
			}
		}
	}
}
