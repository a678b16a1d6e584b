package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// deps lists the packages a command links.
func deps(t *testing.T, env ...string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	return strings.Fields(string(out))
}

// podlock-runtime-confine runs for every confined create and exec,
// and the initialisation of every linked package is paid each time: no
// Kubernetes client, API types, gRPC or metrics may be linked.
func TestNoHeavyDependencies(t *testing.T) {
	for _, pkg := range deps(t) {
		for _, banned := range []string{"k8s.io/client-go/", "k8s.io/api/", "k8s.io/apimachinery/", "sigs.k8s.io/controller-runtime", "google.golang.org/grpc", "github.com/prometheus/"} {
			if strings.HasPrefix(pkg+"/", banned) || strings.HasPrefix(pkg, banned) {
				t.Errorf("podlock-runtime-confine links %s", pkg)
			}
		}
	}
}
