package runtime_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// compatInvocations are command lines whose outcome is the real runtime's
// business alone: help, version, usage errors and the errors of every verb
// on a container that does not exist. ROOT is a private, empty state root.
var compatInvocations = [][]string{
	{},
	{"-h"},
	{"--help"},
	{"help"},
	{"--version"},
	{"-v"},
	{"--root", "ROOT"},
	{"--root", "ROOT", "--debug"},
	{"--root", "ROOT", "--log-format", "json"},
	{"--no-such-flag"},
	{"no-such-verb"},
	{"--root", "ROOT", "list"},
	{"--root", "ROOT", "list", "--format", "json"},
	{"list", "-h"},
	{"--root", "ROOT", "state"},
	{"--root", "ROOT", "state", "missing"},
	{"--root", "ROOT", "kill", "missing"},
	{"--root", "ROOT", "kill", "missing", "KILL"},
	{"--root", "ROOT", "delete", "missing"},
	{"--root", "ROOT", "delete", "--force", "missing"},
	{"--root", "ROOT", "start", "missing"},
	{"--root", "ROOT", "pause", "missing"},
	{"--root", "ROOT", "resume", "missing"},
	{"--root", "ROOT", "ps", "missing"},
	{"--root", "ROOT", "exec", "missing", "sh"},
	{"--root", "ROOT", "exec", "-t", "missing", "sh"},
	{"--root", "ROOT", "exec", "--process", "/nonexistent.json", "missing"},
	{"--root", "ROOT", "exec"},
	{"exec", "-h"},
	{"exec", "--help"},
	{"create", "-h"},
	{"create", "--help"},
	{"run", "-h"},
	{"run", "--help"},
	{"--root", "ROOT", "create", "id-h", "-h"},
	{"--root", "ROOT", "create"},
	{"--root", "ROOT", "create", "nobundle"},
	{"--root", "ROOT", "create", "--bundle", "/nonexistent", "nobundle"},
	{"--root", "ROOT", "run", "nobundle"},
	{"start", "-h"},
	{"state", "-h"},
	{"kill", "--help"},
	{"delete", "-h"},
	{"ps", "-h"},
	{"pause", "-h"},
	{"spec", "-h"},
	{"restore", "-h"},
	{"checkpoint", "-h"},
	{"update", "-h"},
	{"features", "-h"},
	{"--root", "ROOT", "help", "create"},
}

// timestamps are the only part of a runtime's messages that differs from
// one run to the next.
var timestamps = regexp.MustCompile(`time="[^"]*"|"time":"[^"]*"|\d{4}-\d\d-\d\dT[0-9:.]+Z?`)

// For everything that is not podlock's business, podlock-runtime is the
// real runtime: the same stdout, stderr and exit status, for runc and for
// crun as the real runtime. The real runtime is invoked under
// podlock-runtime's path as argv[0], so that its output names what was
// invoked as podlock-runtime's must (and wraps its lines the same).
func TestCompatibility(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Program("runc"), testenv.Program("crun"))
	bin := testenv.Binaries(t)
	front := filepath.Join(bin, "podlock-runtime")
	for _, real := range []string{"runc", "crun"} {
		t.Run(real, func(t *testing.T) {
			realPath, err := exec.LookPath(real)
			if err != nil {
				t.Fatal(err)
			}
			for _, inv := range compatInvocations {
				t.Run(strings.Join(inv, " "), func(t *testing.T) {
					root := filepath.Join(t.TempDir(), "state")
					args := make([]string, len(inv))
					for i, a := range inv {
						args[i] = strings.ReplaceAll(a, "ROOT", root)
					}
					want := invoke(t, realPath, front, args, nil)
					got := invoke(t, front, front, args, []string{"PODLOCK_CONFIG=/dev/null", "PODLOCK_RUNTIME=" + real})
					for _, r := range []*invocation{&want, &got} {
						r.stdout = timestamps.ReplaceAllString(r.stdout, "TIME")
						r.stderr = timestamps.ReplaceAllString(r.stderr, "TIME")
					}
					if got != want {
						t.Errorf("podlock-runtime %q:\n got: exit %d\nstdout: %s\nstderr: %s\nwant: exit %d\nstdout: %s\nstderr: %s",
							inv, got.exit, got.stdout, got.stderr, want.exit, want.stdout, want.stderr)
					}
				})
			}
		})
	}
}

type invocation struct {
	stdout, stderr string
	exit           int
}

// invoke runs binary as argv0 in an empty working directory (no
// config.json).
func invoke(t *testing.T, binary, argv0 string, args, env []string) invocation {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Args[0] = argv0
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", binary, err)
	}
	return invocation{stdout: stdout.String(), stderr: stderr.String(), exit: code}
}
