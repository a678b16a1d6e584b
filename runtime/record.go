package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/runtime/bundle"
	"github.com/kubewarden/podlock/runtime/record"
)

// recordAgentCommand is the hidden command that podlock-runtime starts, in
// a process of its own, to record one container.
const recordAgentCommand = "record-agent"

// agentsDir holds the agents' sockets under the record directory.
const agentsDir = ".agents"

// maxSocketPath is the longest path a unix socket may be bound to.
const maxSocketPath = 107

// prepareRecord starts the agent that records the container and points
// the container's seccomp filter at it. The container runs without
// Landlock rules and with its own filter's denials, but each call it makes
// waits until the agent has seen it.
func (r *Runtime) prepareRecord(b *bundle.Bundle, id identity) error {
	pos := r.args.Positional()
	if len(pos) == 0 {
		return errors.New("no container ID on the command line")
	}
	out := record.Output{
		File:      filepath.Join(r.config.RecordDir, id.Namespace, id.Profile+".yaml"),
		Namespace: id.Namespace,
		Profile:   id.Profile,
		Container: id.Container,
	}
	sum := sha256.Sum256([]byte(pos[0]))
	socket := filepath.Join(r.config.RecordDir, agentsDir, hex.EncodeToString(sum[:8])+".sock")
	if len(socket) > maxSocketPath {
		return fmt.Errorf("LandlockProfile %s is in mode Record, but recordDir %s is too long to hold a unix socket: set a shorter recordDir in %s or PODLOCK_RECORD_DIR",
			id.Profile, r.config.RecordDir, DefaultConfigFile)
	}
	for _, dir := range []string{filepath.Dir(out.File), filepath.Dir(socket)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("LandlockProfile %s is in mode Record, but the recording cannot be kept: %w; fix recordDir in %s or PODLOCK_RECORD_DIR",
				id.Profile, err, DefaultConfigFile)
		}
	}
	if err := startAgent(socket, out, id.Pod); err != nil {
		return fmt.Errorf("LandlockProfile %s is in mode Record, but the recording agent did not start: %w", id.Profile, err)
	}
	err := b.EditSeccomp(func(current *specs.LinuxSeccomp) (*specs.LinuxSeccomp, error) {
		return record.NotifyFilter(current, socket), nil
	})
	if err != nil {
		return err
	}
	written, err := b.Flush()
	if err != nil {
		return err
	}
	r.log.Debug("recording container", "profile", id.Profile, "container", id.Container, "output", out.File)
	return saveOriginal(b, written)
}

// startAgent binds the agent's socket here, so that it exists before runc
// connects, and hands it to a new session running the agent: it outlives
// this process, which becomes the real runtime, and the runtime's caller.
func startAgent(socket string, out record.Output, pod string) error {
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		return err
	}
	l.SetUnlinkOnClose(false)
	f, err := l.File()
	l.Close()
	if err != nil {
		return err
	}
	defer f.Close()
	log, err := os.OpenFile(strings.TrimSuffix(out.File, ".yaml")+"."+out.Container+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, recordAgentCommand,
		"--socket", socket, "--output", out.File, "--namespace", out.Namespace,
		"--profile", out.Profile, "--pod", pod, "--container", out.Container)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Dir = "/" // not the bundle, which goes away before the agent
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}

var recordAgentCmd = &cli.Command{
	Name:   recordAgentCommand,
	Usage:  "record one container (started by podlock-runtime itself, with the listening socket as descriptor 3)",
	Hidden: true,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "socket", Required: true},
		&cli.StringFlag{Name: "output", Required: true},
		&cli.StringFlag{Name: "namespace", Required: true},
		&cli.StringFlag{Name: "profile", Required: true},
		&cli.StringFlag{Name: "pod"},
		&cli.StringFlag{Name: "container", Required: true},
	},
	Action: func(c *cli.Context) error {
		defer os.Remove(c.String("socket"))
		l, err := net.FileListener(os.NewFile(3, "agent socket"))
		if err != nil {
			return fmt.Errorf("agent socket: %w", err)
		}
		out := record.Output{
			File:      c.String("output"),
			Namespace: c.String("namespace"),
			Profile:   c.String("profile"),
			Container: c.String("container"),
			Pod:       c.String("pod"),
			Network:   (&landlock.Ruleset{Network: &landlock.Network{}}).ABI() <= landlock.KernelABI(),
		}
		log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("pod", c.String("pod"), "container", out.Container, "output", out.File)
		agent := &record.Agent{
			Listener:       l.(*net.UnixListener),
			Log:            log,
			Save:           out.Save,
			SaveEvery:      10 * time.Second,
			ConnectTimeout: 2 * time.Minute,
		}
		if err := agent.Run(); err != nil {
			log.Error(err.Error())
			return err
		}
		return nil
	},
}
