package runtime_test

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// hostNetwork makes the container share the test's network namespace, so
// that it reaches listeners the test starts on loopback.
func hostNetwork(b *testenv.Bundle) {
	var kept []specs.LinuxNamespace
	for _, ns := range b.Spec.Linux.Namespaces {
		if ns.Type != specs.NetworkNamespace {
			kept = append(kept, ns)
		}
	}
	b.Spec.Linux.Namespaces = kept
}

// loopbackPort listens on a free loopback port, answering each connection
// with "hello", for as long as the test runs.
func loopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, "hello")
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// TCP confinement (Landlock ABI 4): connect and bind only to listed ports.
func TestNetworkRules(t *testing.T) {
	e := newEnv(t)
	allowed, denied := loopbackPort(t), loopbackPort(t)
	bindOK, bindDenied := testenv.FreePort(t), testenv.FreePort(t)
	e.profile("net", fmt.Sprintf(`
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  containerWide:
    app:
      readExec: [/bin]
      readWrite: [/dev/null] # the shell gives background jobs /dev/null as stdin
      network:
        connectTCP: [%d]
        bindTCP: [%d]
`, allowed, bindOK))
	script := fmt.Sprintf(`
nc 127.0.0.1 %d
nc 127.0.0.1 %d
nc -l -p %d & sleep 0.2; kill $! && echo listened on %d
nc -l -p %d
exit 0
`, allowed, denied, bindOK, bindOK, bindDenied)
	b := testenv.NewBundle(t, "sh", "-c", script).Annotate("default", "app", "demo")
	hostNetwork(b)
	b.Write(t)
	res := e.rt.Run(b, "network")
	if res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{"hello", fmt.Sprintf("listened on %d", bindOK)})
	wantLines(t, "stderr", res.Stderr, []string{
		"nc: can't connect to remote host (127.0.0.1): Permission denied",
		"nc: bind: Permission denied",
	})
}

// IPC scoping (Landlock ABI 6): a confined process cannot signal a process
// outside its domain, nor connect to an abstract unix socket created
// outside it; unconfined processes of the same container can.
func TestScopeRules(t *testing.T) {
	e := newEnv(t)
	e.profile("scope", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  profilesByContainer:
    app:
      /bin/kill:
        scope: {signal: true}
      /opt/bin/abstract-socket:
        scope: {abstractUnixSocket: true}
`)
	// The shell is started as busybox, so it is not a listed binary and
	// what it starts in the background is outside any domain.
	const script = `
sleep 30 & victim=$!
/opt/bin/abstract-socket listen podlock-test & sleep 0.3
/bin/kill -0 $victim
kill -0 $victim && echo busybox may signal
/opt/bin/abstract-socket connect podlock-test
busybox env /opt/bin/abstract-socket-free connect podlock-test
kill $victim
exit 0
`
	b := testenv.NewBundle(t, "/bin/busybox", "sh", "-c", script).Annotate("default", "app", "demo")
	socket := testenv.TestProgram(t, "abstract-socket")
	install(t, socket, filepath.Join(b.Dir, "rootfs", "opt", "bin", "abstract-socket"))
	install(t, socket, filepath.Join(b.Dir, "rootfs", "opt", "bin", "abstract-socket-free"))
	b.Write(t)
	res := e.rt.Run(b, "scope")
	if res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{"busybox may signal", "connected"})
	stderr := testenv.Lines(res.Stderr)
	if len(stderr) != 2 || !strings.HasPrefix(stderr[0], "kill: can't kill pid ") || !strings.HasSuffix(stderr[0], ": Operation not permitted") ||
		!strings.Contains(stderr[1], "abstract-socket: dial unix @podlock-test: connect: operation not permitted") {
		t.Errorf("stderr %q", stderr)
	}
}
