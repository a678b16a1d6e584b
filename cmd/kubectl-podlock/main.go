// Command kubectl-podlock is podlock's kubectl plugin: on the PATH, kubectl
// runs it as `kubectl podlock ...`. See README.md.
package main

import (
	"context"
	"os"

	"github.com/kubewarden/podlock/cmd/kubectl-podlock/internal/plugin"
)

func main() {
	os.Exit(plugin.Main(context.Background(), os.Args, os.Stdin, os.Stdout, os.Stderr))
}
