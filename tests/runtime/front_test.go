package runtime_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/runtime/index/lookup"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// frontEnv is newEnv with podlock-runtime and podlock-runtime-confine
// copied into a directory of the test's own, so that the test can take
// podlock-runtime-confine away.
func frontEnv(t *testing.T) (*env, string) {
	t.Helper()
	testenv.Require(t, testenv.Root, testenv.Program("runc"), testenv.Busybox)
	bin := testenv.Binaries(t)
	dir := t.TempDir()
	for _, name := range []string{"podlock-runtime", "podlock-runtime-confine"} {
		data, err := os.ReadFile(filepath.Join(bin, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t, "PODLOCK_HELPER="+filepath.Join(bin, "podlock-helper"))
	e.rt.Binary = filepath.Join(dir, "podlock-runtime")
	return e, filepath.Join(dir, "podlock-runtime-confine")
}

// hide renames file away; restoreConfine puts it back.
func hide(t *testing.T, file string) {
	t.Helper()
	if err := os.Rename(file, file+".away"); err != nil {
		t.Fatal(err)
	}
}

func restoreConfine(t *testing.T, file string) {
	t.Helper()
	if err := os.Rename(file+".away", file); err != nil {
		t.Fatal(err)
	}
}

// The container index decides every exec without another podlock process
// or a runc state call: the front starts an exec into a container
// confined as a whole through the helper itself, and hands any other to
// runc, which the test proves by taking podlock-runtime-confine away. The
// delete of a container confined as a whole removes its entry once runc's
// delete succeeded, again without podlock-runtime-confine.
func TestExecFromIndex(t *testing.T) {
	e, confine := frontEnv(t)
	e.profile("wide", wideProfile)
	e.profile("demo", testenv.QuickstartProfile)
	start := func(id, profile string) {
		t.Helper()
		b := testenv.NewBundle(t, "sleep", "300")
		if profile != "" {
			b.Annotate("default", "app", profile)
		}
		b.Write(t)
		if res := e.rt.Command("run", "--detach", "--bundle", b.Dir, id); res.Err != nil {
			t.Fatalf("run %s: %v %s %q", id, res.Err, res.Stderr, e.rt.LogErrors(t))
		}
	}
	start("wide", "wide")
	start("perbinary", "demo")
	start("plain", "")

	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal(err)
	}
	key := lookup.Key(runc, e.rt.Root)
	for id, want := range map[string]bool{"wide": true, "perbinary": true, "plain": false} {
		_, err := os.Stat(filepath.Join(e.rt.IndexDir, lookup.FileName(id, key)))
		if got := err == nil; got != want {
			t.Errorf("index entry of %s: %v, want one: %v", id, err, want)
		}
	}

	// Without podlock-runtime-confine: the front decides every exec, and
	// starts the one into wide through the helper itself.
	hide(t, confine)
	for _, id := range []string{"plain", "perbinary"} {
		res := e.rt.Command("exec", id, "cat", "/etc/group")
		if res.Err != nil || !strings.HasPrefix(res.Stdout, "root:") {
			t.Errorf("exec into %s without podlock-runtime-confine: %v %q %q", id, res.Err, res.Stdout, res.Stderr)
		}
	}
	res := e.rt.Command("exec", "wide", "cat", "/etc/group")
	if res.Err == nil || !strings.Contains(res.Stderr, "Permission denied") {
		t.Errorf("exec into wide: %v %q %q; want /etc/group denied", res.Err, res.Stdout, res.Stderr)
	}
	proc := writeProcess(t, `{"args":["cat","/etc/group"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0}}`)
	res = e.rt.Command("exec", "--process", proc, "wide")
	if res.Err == nil || !strings.Contains(res.Stderr, "Permission denied") {
		t.Errorf("exec --process into wide: %v %q %q; want /etc/group denied", res.Err, res.Stdout, res.Stderr)
	}

	// A delete that fails leaves the entry: the container still runs,
	// and its next exec must still start through the helper.
	entry := filepath.Join(e.rt.IndexDir, lookup.FileName("wide", key))
	res = e.rt.Command("delete", "wide")
	if res.Err == nil || !strings.Contains(res.Stderr, "cannot delete container wide that is not stopped") {
		t.Errorf("delete of running wide without --force: %v %q, want runc's refusal", res.Err, res.Stderr)
	}
	if exit, ok := res.Err.(*exec.ExitError); ok && exit.ExitCode() != 1 {
		t.Errorf("delete of running wide: exit status %d, want runc's 1", exit.ExitCode())
	}
	if _, err := os.Stat(entry); err != nil {
		t.Errorf("index entry of wide after a failed delete: %v", err)
	}
	if res := e.rt.Command("exec", "wide", "cat", "/etc/group"); res.Err == nil || !strings.Contains(res.Stderr, "Permission denied") {
		t.Errorf("exec into wide after a failed delete: %v %q %q; want /etc/group denied", res.Err, res.Stdout, res.Stderr)
	}

	// The same ID under another root is another container, unconfined:
	// podlock-runtime-confine finds that out from its bundle.
	restoreConfine(t, confine)
	other := testenv.NewRuntime(t, e.rt.Binary, e.rt.Env...)
	b := testenv.NewBundle(t, "sleep", "300")
	b.Write(t)
	if res := other.Command("run", "--detach", "--bundle", b.Dir, "wide"); res.Err != nil {
		t.Fatalf("run: %v %s", res.Err, res.Stderr)
	}
	if res := other.Command("exec", "wide", "cat", "/etc/group"); res.Err != nil || !strings.HasPrefix(res.Stdout, "root:") {
		t.Errorf("exec into wide under another root: %v %q %q", res.Err, res.Stdout, res.Stderr)
	}

	// The delete that succeeds removes the entry, which the front does
	// itself: a later container of the same ID is not taken for this one.
	hide(t, confine)
	for _, id := range []string{"wide", "perbinary"} {
		if res := e.rt.Command("delete", "--force", id); res.Err != nil {
			t.Errorf("delete of %s without podlock-runtime-confine: %v %q", id, res.Err, res.Stderr)
		}
	}
	if _, err := os.Stat(entry); !os.IsNotExist(err) {
		t.Errorf("index entry of wide after delete: %v", err)
	}
	restoreConfine(t, confine)
}

// Without podlock-runtime-confine no container that asks for a profile is
// created: the create fails with an error in runc's JSON log that says
// what to install where. A container that asks for none is runc's alone,
// and starts.
func TestConfineMissing(t *testing.T) {
	e, confine := frontEnv(t)
	e.profile("demo", testenv.QuickstartProfile)
	hide(t, confine)
	b := testenv.NewBundle(t, "sleep", "300").Annotate("default", "app", "demo")
	b.Write(t)
	res := e.rt.Command("create", "--bundle", b.Dir, "noconfine")
	if res.Err == nil {
		t.Fatal("create succeeded without podlock-runtime-confine")
	}
	errs := e.rt.LogErrors(t)
	want := confine + " is missing: install it next to podlock-runtime"
	if len(errs) == 0 || !strings.Contains(errs[len(errs)-1], want) {
		t.Errorf("log errors %q, want the last to contain %q", errs, want)
	}
	if st := e.rt.Command("state", "noconfine"); st.Err == nil {
		t.Errorf("the container exists: %s", st.Stdout)
	}

	plain := testenv.NewBundle(t, "echo", "plain")
	plain.Write(t)
	if res := e.rt.Run(plain, "plain"); res.Err != nil || res.Stdout != "plain\n" {
		t.Errorf("run of a container without profile, without podlock-runtime-confine: %v %q %q", res.Err, res.Stdout, res.Stderr)
	}
}

// The front decides alone under the configuration files podlock-node
// writes and under the JSON ones other tools write: a configuration it
// could not read would send every state, kill and delete of the node
// through podlock-runtime-confine.
func TestFrontReadsConfig(t *testing.T) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal(err)
	}
	for name, config := range map[string]string{
		"flat YAML": "source: directory\nruntime: " + runc + "\n",
		"JSON":      `{"source": "directory", "runtime": "` + runc + `", "apiTimeout": "2s"}`,
	} {
		t.Run(name, func(t *testing.T) {
			e, confine := frontEnv(t)
			file := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
				t.Fatal(err)
			}
			e.rt.Env = append(e.rt.Env, "PODLOCK_CONFIG="+file)
			hide(t, confine)
			defer restoreConfine(t, confine)
			b := testenv.NewBundle(t, "sleep", "300")
			b.Write(t)
			for _, args := range [][]string{{"create", "--bundle", b.Dir, "c"}, {"start", "c"}, {"state", "c"}, {"kill", "c", "KILL"}, {"delete", "--force", "c"}} {
				if res := e.rt.Command(args...); res.Err != nil {
					t.Errorf("%s without podlock-runtime-confine: %v %q", args[0], res.Err, res.Stderr)
				}
			}
		})
	}
}
