package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/profiles/cache"
	"github.com/kubewarden/podlock/profiles/kube"
	"github.com/kubewarden/podlock/runtime/runcargs"
)

// Version is set at build time with -ldflags "-X ...runtime.Version=...".
var Version = "dev"

// podlockCommand prefixes podlock's help and version: runc's own help,
// version and usage errors are runc's, unchanged.
const podlockCommand = "podlock"

// isPodlockCommand tells podlock's own commands from runc's: runc's
// commands and flags are never parsed here, only handed over.
func isPodlockCommand(args runcargs.Args) bool {
	switch args.Verb() {
	case "check", recordAgentCommand:
		return true
	}
	return false
}

const description = `podlock-runtime is an OCI runtime for containerd and CRI-O that confines
containers with the podlock profiles they ask for, then hands over to the
real runtime (runc or crun). Every runc command and flag is accepted and
passed on unchanged; create, run and exec of confined containers are
prepared first.

Configuration: /etc/podlock/config.yaml (or the file named by
PODLOCK_CONFIG), keys:
  runtime      real runtime, path or name in PATH  (env PODLOCK_RUNTIME;
               default: the first runc in PATH that is not podlock-runtime)
  profilesDir  directory of profile manifests      (env PODLOCK_PROFILES_DIR;
               default /etc/podlock/profiles)
  helper       the static podlock-helper binary    (env PODLOCK_HELPER;
               default: podlock-helper next to podlock-runtime)
  source       where profiles come from: kubernetes, directory, or auto
               (env PODLOCK_SOURCE; default auto: kubernetes when the
               kubeconfig exists, else directory)
  kubeconfig   the node's read-only credential     (env PODLOCK_KUBECONFIG;
               default /etc/podlock/kubeconfig)
  cacheDir     last-known copies of API profiles   (env PODLOCK_CACHE_DIR;
               default /var/lib/podlock/cache)
  apiTimeout   bound on one API request            (env PODLOCK_API_TIMEOUT;
               default 2s)
  recordDir    profiles recorded from pods whose LandlockProfile is in
               mode Record                         (env PODLOCK_RECORD_DIR;
               default /var/lib/podlock/records)
  indexDir     one root-only file per confined container, from which
               podlock-node attributes denials   (env PODLOCK_INDEX_DIR;
               default /run/podlock/containers)

podlock-runtime hands every other command, and runc's help and version
(podlock-runtime --help, --version), to the real runtime; podlock's own
are "podlock-runtime podlock --help" and "podlock-runtime podlock version".

Errors go to runc's --log file as JSON lines (level "error") and to stderr.`

func runCLI(argv []string) int {
	app := &cli.App{
		Name:                   "podlock-runtime",
		Usage:                  "confine containers with podlock profiles, then run them with runc",
		Description:            description,
		Version:                Version,
		HideVersion:            true,
		UseShortOptionHandling: true,
		Commands: []*cli.Command{
			{
				Name:  "version",
				Usage: "print podlock's version (--version prints the real runtime's)",
				Action: func(*cli.Context) error {
					fmt.Printf("podlock-runtime version %s\n", Version)
					return nil
				},
			},
			recordAgentCmd,
			{
				Name:  "check",
				Usage: "check that this node can run confined containers, and say what is missing",
				Action: func(*cli.Context) error {
					return check()
				},
			},
		},
	}
	if err := app.Run(argv); err != nil {
		fmt.Fprintf(os.Stderr, "podlock-runtime: %v\n", err)
		return 1
	}
	return 0
}

// check reports on everything a confined container needs from this node.
func check() error {
	var problems []string
	cfg, err := LoadConfig()
	if err != nil {
		return err
	}
	if real, err := cfg.RealRuntime(); err != nil {
		problems = append(problems, err.Error())
	} else {
		fmt.Printf("real runtime:    %s\n", real)
	}
	if helper, err := cfg.HelperPath(); err != nil {
		problems = append(problems, err.Error())
	} else {
		fmt.Printf("helper:          %s\n", helper)
		interposer := filepath.Join(filepath.Dir(helper), interposerName)
		if _, err := os.Stat(interposer); err != nil {
			problems = append(problems, fmt.Sprintf("%v: install %s next to the helper", err, interposerName))
		}
	}
	if src, err := cfg.ProfileSource(nil); err != nil {
		problems = append(problems, err.Error())
	} else if c, ok := src.(*cache.Source); ok {
		server := "?"
		if api, ok := c.Inner.(*kube.Source); ok {
			server = api.Server()
		}
		fmt.Printf("profiles:        from the API server %s, copies in %s\n", server, c.Dir)
	} else {
		fmt.Printf("profiles:        from %s\n", cfg.ProfilesDir)
	}
	fmt.Printf("recordings:      %s\n", cfg.RecordDir)
	fmt.Printf("container index: %s\n", cfg.IndexDir)
	abi := landlock.KernelABI()
	fmt.Printf("Landlock ABI:    %d (podlock needs %d)\n", abi, landlock.MinABI)
	if abi < landlock.MinABI {
		problems = append(problems, fmt.Sprintf("kernel Landlock ABI %d is older than %d: use Linux 6.2 or later with landlock in the lsm= boot parameter", abi, landlock.MinABI))
	}
	if len(problems) > 0 {
		return fmt.Errorf("this node cannot run confined containers:\n  %s", strings.Join(problems, "\n  "))
	}
	fmt.Println("ok")
	return nil
}
