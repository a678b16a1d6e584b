// Package plugin is kubectl-podlock, the kubectl plugin of podlock
// (`kubectl podlock ...`): the commands that review what learning mode
// recorded in the cluster and promote it, show which pods are confined by
// what and what was denied, and convert profiles from other formats. Each
// command is one file; this one holds the app and its argument handling.
package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/kubewarden/podlock/cmd/kubectl-podlock/internal/convert"
)

// Main runs kubectl-podlock with args (args[0] is the program) and returns
// its exit status. Errors are printed once, on stderr.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	if err := app.RunContext(ctx, interspersed(app, args)); err != nil {
		fmt.Fprintf(stderr, "kubectl-podlock: %v\n", err)
		return 1
	}
	return 0
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:  "kubectl-podlock",
		Usage: "review, promote and record podlock profiles in a cluster (kubectl podlock ...)",
		Description: `The learning workflow: kubectl podlock record PROFILE, run the workload,
kubectl podlock diff PROFILE, kubectl podlock promote PROFILE, then
kubectl podlock status and diff show what the promoted profile denies.`,
		Writer:    stdout,
		ErrWriter: stderr,
		Reader:    stdin,
		// Errors are printed once, by Main.
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		Commands: []*cli.Command{
			statusCommand(),
			diffCommand(),
			promoteCommand(),
			recordCommand(),
			applySeccompCommand(),
			convert.NewCommand(),
		},
	}
}

// interspersed moves the flags that follow a command's positional
// arguments before them, as kubectl accepts them (`kubectl podlock promote
// web -n shop --yes`): urfave/cli stops reading flags at the first
// argument. Everything after "--" stays an argument.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	var cmd *cli.Command
	commands := app.Commands
	for len(rest) > 0 {
		next := findCommand(commands, rest[0])
		if next == nil {
			break
		}
		cmd, commands = next, next.Subcommands
		out = append(out, rest[0])
		rest = rest[1:]
	}
	if cmd == nil {
		return args
	}
	var flags, positional []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i:]...)
			i = len(rest)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			if !strings.Contains(a, "=") && takesValue(cmd, strings.TrimLeft(a, "-")) && i+1 < len(rest) {
				i++
				flags = append(flags, rest[i])
			}
		default:
			positional = append(positional, a)
		}
	}
	return append(append(out, flags...), positional...)
}

func findCommand(commands []*cli.Command, name string) *cli.Command {
	for _, c := range commands {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// takesValue reports whether the command's flag of that name is followed
// by a value: every flag but the boolean ones.
func takesValue(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				df, ok := f.(cli.DocGenerationFlag)
				return !ok || df.TakesValue()
			}
		}
	}
	return false
}
