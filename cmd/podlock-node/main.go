// Command podlock-node prepares a node for podlock and keeps it ready. The
// node DaemonSet of install/kubernetes runs it:
//
//	podlock-node setup   copy podlock-runtime and podlock-helper onto the
//	                     host, write podlock-runtime's config and node
//	                     kubeconfig (init container; podlock-install then
//	                     adds the runtime handler)
//	podlock-node run     keep the node identity's token fresh on the host
//	                     and label the node with its Landlock ABI and
//	                     whether podlock is ready on it, report denials,
//	                     publish learning mode's recordings (main
//	                     container)
//
// The logic lives in node/setup, node/agent, node/denials, node/probes and
// node/publish; this command holds the flags and the wiring.
//
// The node identity that podlock-runtime uses on the host may only read
// profiles; podlock-node's own identity may request tokens for it, post
// Events, set podlock's labels on its own node and write the recorded
// profiles (RBAC and the ValidatingAdmissionPolicies of
// install/kubernetes), nothing else.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := newApp().RunContext(ctx, os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "podlock-node: %v\n", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "podlock-node",
		Usage: "prepare a node for podlock and keep it ready",
		Commands: []*cli.Command{
			setupCommand,
			runCommand,
		},
	}
}
