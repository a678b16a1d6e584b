// Command podlock-install adds podlock's runtime handler to the node's
// container engine, containerd or CRI-O, and removes it. It is a separate
// binary from podlock-runtime, which the engines run for every container
// operation and which must not pay for a TOML parser.
//
// It changes configuration files only: restarting the engine, which
// applies them, is left to the administrator. See packages
// install/containerd and install/crio for what it writes and why.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/kubewarden/podlock/install/containerd"
	"github.com/kubewarden/podlock/install/crio"
	"github.com/kubewarden/podlock/install/engine"
)

func main() {
	os.Exit(run(context.Background(), os.Args, os.Stdout, os.Stderr))
}

const (
	engineContainerd = "containerd"
	engineCRIO       = "crio"
)

const description = `podlock-install configures the node's container engine to run pods of the
podlock RuntimeClass with podlock-runtime:

  containerd  a drop-in file, conf.d/<handler>.toml beside the main file,
              with the CRI runtime handler (BinaryName = podlock-runtime,
              pod_annotations = ["podlock.kubewarden.io/*"], the runc
              handler's options), and its path added to the main file's
              "imports" unless an entry there covers it already. The main
              file is otherwise left byte for byte as it is; a missing one
              is created with only "version" and "imports". Configuration
              versions 2 (containerd 1.x), 3 and 4 (containerd 2.x).
  crio        a drop-in file, crio.conf.d/99-<handler>.conf, with the
              runtime handler; no other file changes.

Without --engine, the content of --config tells which engine it configures
(containerd's top-level keys, or CRI-O's [crio] table); without either, the
engine is the one whose configuration exists on the node.

Running install again changes nothing, or refreshes the drop-in when the
configuration it derives from changed; uninstall removes exactly what
install added. Nothing is written when a file cannot be parsed, and
nothing at all with --dry-run, which prints the changes as a unified diff.
The engine must be restarted afterwards; podlock-install never does it.`

func newApp(stdout, stderr io.Writer) *cli.App {
	common := []cli.Flag{
		&cli.StringFlag{
			Name:  "engine",
			Usage: "container `ENGINE`: containerd or crio (default: the engine whose configuration --config is; without --config, containerd if its configuration exists or \"containerd --version\" runs, else crio if CRI-O's configuration or binary is found)",
		},
		&cli.StringFlag{
			Name:  "config",
			Usage: "the engine's main configuration `FILE` (default: " + containerd.DefaultConfigPath + " or " + crio.DefaultConfigPath + "); without --engine, its content tells which engine it is",
		},
		&cli.StringFlag{
			Name:  "handler",
			Value: engine.DefaultHandler,
			Usage: "runtime handler `NAME`, as in the RuntimeClass's handler",
		},
		&cli.BoolFlag{
			Name:  "dry-run",
			Usage: "print a unified diff of every file that would change, and change nothing",
		},
		&cli.StringFlag{
			Name:  "containerd-version",
			Usage: "containerd `VERSION` on the node, such as 1.7 or 2.1; needed only when the main file does not exist and \"containerd --version\" cannot run, to pick the configuration version to write",
		},
		&cli.StringFlag{
			Name:  "root",
			Value: "/",
			Usage: "the `DIR` where the node's root filesystem is, when running with it mounted elsewhere (such as /host in a container); --config and --runtime-path stay paths on the node",
		},
	}
	install := append([]cli.Flag{
		&cli.StringFlag{
			Name:  "runtime-path",
			Value: engine.DefaultRuntimePath,
			Usage: "`PATH` of podlock-runtime on the node",
		},
	}, common...)
	return &cli.App{
		Name:        "podlock-install",
		Usage:       "add podlock's runtime handler to containerd or CRI-O, or remove it",
		Description: description,
		Writer:      stdout,
		ErrWriter:   stderr,
		// Errors are printed once, by run.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{{
			Name:      "install",
			Usage:     "add the runtime handler (again: refresh it)",
			ArgsUsage: " ",
			Flags:     install,
			Action: func(c *cli.Context) error {
				return act(c, stdout, stderr, true)
			},
		}, {
			Name:      "uninstall",
			Usage:     "remove what install added",
			ArgsUsage: " ",
			Flags:     common,
			Action: func(c *cli.Context) error {
				return act(c, stdout, stderr, false)
			},
		}},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if err := newApp(stdout, stderr).RunContext(ctx, args); err != nil {
		fmt.Fprintf(stderr, "podlock-install: %v\n", err)
		return 1
	}
	return 0
}

// act plans the changes, then prints or applies them.
func act(c *cli.Context, stdout, stderr io.Writer, install bool) error {
	if c.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments, only flags (see --help)", c.Command.Name)
	}
	root := c.String("root")
	if !filepath.IsAbs(root) {
		return fmt.Errorf("--root %q: must be an absolute path", root)
	}
	name, err := chooseEngine(c.Context, root, c.String("engine"), c.String("config"))
	if err != nil {
		return err
	}
	if name != engineContainerd && c.IsSet("containerd-version") {
		return fmt.Errorf("--containerd-version applies to containerd, not %s", name)
	}
	eng, err := newEngine(c, name, root)
	if err != nil {
		return err
	}

	handler := c.String("handler")
	if install {
		rt := engine.Runtime{Handler: handler, Path: c.String("runtime-path")}
		err = eng.AddRuntime(rt)
		if err == nil {
			warnMissingRuntime(stderr, root, rt.Path)
		}
	} else {
		err = eng.RemoveRuntime(handler)
	}
	if errors.Is(err, containerd.ErrUnknownVersion) {
		err = fmt.Errorf("%w: pass --containerd-version (such as 1.7 or 2.1)", err)
	}
	if err != nil {
		return err
	}

	changes := eng.Changes()
	if len(changes) == 0 {
		if install {
			fmt.Fprintf(stdout, "The runtime handler %q is installed in %s already: nothing to change.\n", handler, name)
		} else {
			fmt.Fprintf(stdout, "The runtime handler %q is not installed in %s: nothing to change.\n", handler, name)
		}
		return nil
	}
	if c.Bool("dry-run") {
		for _, ch := range changes {
			fmt.Fprint(stdout, ch.Diff())
		}
		fmt.Fprintf(stdout, "Dry run: %d file(s) would change; nothing was written.\n", len(changes))
		return nil
	}
	if err := eng.Save(); err != nil {
		return err
	}
	for _, ch := range changes {
		fmt.Fprintf(stdout, "%sd %s\n", ch.Action(), ch.Name)
	}
	fmt.Fprintf(stdout, "Restart %s to apply the change: systemctl restart %s\n", name, name)
	return nil
}

func newEngine(c *cli.Context, name, root string) (engine.Interface, error) {
	switch name {
	case engineContainerd:
		opts := containerd.Options{Root: root, ConfigPath: c.String("config")}
		if opts.ConfigPath == "" {
			opts.ConfigPath = containerd.DefaultConfigPath
		}
		version, err := containerdVersion(c, root, opts.ConfigPath)
		if err != nil {
			return nil, err
		}
		opts.Version = version
		return containerd.New(opts)
	case engineCRIO:
		return crio.New(crio.Options{Root: root, ConfigPath: c.String("config")})
	default:
		return nil, fmt.Errorf("--engine %q: want %s or %s", name, engineContainerd, engineCRIO)
	}
}

// containerdVersion is the configuration version of the node's containerd,
// from --containerd-version, or else from `containerd --version` when the
// main file does not exist (which is when the engine needs it); 0 when
// unknown.
func containerdVersion(c *cli.Context, root, configPath string) (int, error) {
	if release := c.String("containerd-version"); release != "" {
		return containerd.ConfigVersion(release)
	}
	if exists(engine.Under(root, configPath)) || !isHostRoot(root) {
		return 0, nil
	}
	release, err := containerd.DetectRelease(c.Context)
	if err != nil {
		// The engine reports the missing version if it needs it.
		return 0, nil
	}
	return containerd.ConfigVersion(release)
}

// versionRuns runs `<name> --version`, to tell whether an engine is
// installed; a variable so that tests can pretend.
var versionRuns = func(ctx context.Context, name string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, name, "--version").Run() == nil
}

// chooseEngine returns the engine to configure: --engine; else the one
// whose configuration --config is, by its content; else the one found on
// the node. A --config of the other engine than --engine is refused.
func chooseEngine(ctx context.Context, root, flagEngine, config string) (string, error) {
	if config == "" {
		if flagEngine != "" {
			return flagEngine, nil
		}
		return detectEngine(ctx, root)
	}
	if err := engine.ValidatePath("--config", config); err != nil {
		return "", err
	}
	fromConfig, err := engineOfConfig(root, config)
	switch {
	case errors.Is(err, errEngineUnknown) && flagEngine != "":
		// A missing main file is created, an empty one filled.
		return flagEngine, nil
	case err != nil:
		return "", err
	case flagEngine != "" && flagEngine != fromConfig:
		return "", fmt.Errorf("--config %s is %s's configuration, not %s's: pass the other file, or --engine %s",
			onHost(root, config), fromConfig, flagEngine, fromConfig)
	}
	return fromConfig, nil
}

// errEngineUnknown means a --config file does not tell which engine it
// configures.
var errEngineUnknown = errors.New("which engine it configures cannot be told")

// engineOfConfig tells from its content whether a main configuration file,
// a host path, is containerd's or CRI-O's.
func engineOfConfig(root, config string) (string, error) {
	diskPath, err := engine.Resolve(root, config)
	if err != nil {
		return "", err
	}
	data, _, err := engine.ReadFile(diskPath)
	if err != nil {
		return "", err
	}
	if data == nil {
		return "", fmt.Errorf("--config %s does not exist, so %w: pass --engine containerd (which creates the file) or --engine crio",
			onHost(root, config), errEngineUnknown)
	}
	doc, err := engine.ParseTOML(onHost(root, config), data)
	if err != nil {
		return "", err
	}
	switch {
	case containerd.IsConfig(doc):
		return engineContainerd, nil
	case crio.IsConfig(doc):
		return engineCRIO, nil
	}
	return "", fmt.Errorf("--config %s has neither containerd's top-level keys (version, plugins, imports...) nor CRI-O's [crio] table, so %w: pass --engine containerd or --engine crio",
		onHost(root, config), errEngineUnknown)
}

// onHost names a host file for messages: its host path, and where it was
// looked at when the host's root is mounted elsewhere.
func onHost(root, path string) string {
	if isHostRoot(root) {
		return path
	}
	return fmt.Sprintf("%s (looked at %s)", path, engine.Under(root, path))
}

// detectEngine picks containerd when its configuration exists or its
// binary runs, else CRI-O when its configuration or binary is found. Under
// a root other than "/", the binaries found in PATH are not the node's, and
// only configuration files count.
func detectEngine(ctx context.Context, root string) (string, error) {
	host := isHostRoot(root)
	crioDropIns := filepath.Join(filepath.Dir(crio.DefaultConfigPath), "crio.conf.d")
	if exists(engine.Under(root, containerd.DefaultConfigPath)) || host && versionRuns(ctx, "containerd") {
		return engineContainerd, nil
	}
	if exists(engine.Under(root, crio.DefaultConfigPath)) || exists(engine.Under(root, crioDropIns)) ||
		host && versionRuns(ctx, "crio") {
		return engineCRIO, nil
	}
	looked := fmt.Sprintf("%s, %s and %s", engine.Under(root, containerd.DefaultConfigPath),
		engine.Under(root, crio.DefaultConfigPath), engine.Under(root, crioDropIns))
	if host {
		looked += ` do not exist, and neither "containerd --version" nor "crio --version" runs`
	} else {
		looked += " do not exist (under --root " + root + ", the engines' binaries are not run)"
	}
	return "", fmt.Errorf("found neither containerd nor CRI-O: %s: pass --engine, or --config with the engine's main file", looked)
}

// warnMissingRuntime warns when podlock-runtime is not at the path the
// engine will run: installing the configuration first is allowed, but the
// engine must not be restarted before the binary is there.
func warnMissingRuntime(stderr io.Writer, root, path string) {
	if _, err := os.Stat(engine.Under(root, path)); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "warning: %s does not exist: put podlock-runtime there before restarting the engine\n", path)
	}
}

func isHostRoot(root string) bool { return filepath.Clean(root) == "/" }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
