package landlock

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	golandlock "github.com/landlock-lsm/go-landlock/landlock"
)

// subprocessEnv names the test that a re-executed test binary runs
// confined; dataEnv is the directory the parent prepared for it.
const (
	subprocessEnv = "PODLOCK_LANDLOCK_SUBPROCESS"
	dataEnv       = "PODLOCK_LANDLOCK_DATA"
)

// inSubprocess runs f in a new process of the test binary, because a
// Landlock restriction cannot be undone. dir is prepared by the parent
// (which also removes it: the confined child might not be allowed to).
func inSubprocess(t *testing.T, prepare func(dir string), f func(t *testing.T, dir string)) {
	t.Helper()
	if os.Getenv(subprocessEnv) == t.Name() {
		f(t, os.Getenv(dataEnv))
		return
	}
	requireABI(t, MinABI)
	dir := t.TempDir()
	prepare(dir)

	var pattern []string
	for _, part := range strings.Split(t.Name(), "/") {
		pattern = append(pattern, "^"+regexp.QuoteMeta(part)+"$")
	}
	args := []string{"-test.run=" + strings.Join(pattern, "/"), "-test.v", "-test.count=1"}
	if d := coverDir(); d != "" {
		args = append(args, "-test.gocoverdir="+d)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), subprocessEnv+"="+t.Name(), dataEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("confined subprocess failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("confined subprocess did not run the test:\n%s", out)
	}
}

// requireABI fails the test on a kernel without the Landlock ABI it needs:
// the test machines all have it, so a skip would only hide a broken setup.
func requireABI(t *testing.T, abi int) {
	t.Helper()
	if have := KernelABI(); have < abi {
		t.Fatalf("needs Landlock ABI %d, the kernel has %d (Linux 6.2+, landlock in lsm=)", abi, have)
	}
}

// coverDir is where a test binary built with -cover writes its counters;
// a confined child must still be allowed to, or it fails at exit.
func coverDir() string {
	if f := flag.Lookup("test.gocoverdir"); f != nil {
		return f.Value.String()
	}
	return ""
}

// restrict applies rs, plus write access to the coverage directory.
func restrict(t *testing.T, rs *Ruleset, abi int, bestEffort bool) {
	t.Helper()
	if d := coverDir(); d != "" {
		rs.Rules = append(rs.Rules, Rule{Access: ReadWrite, Paths: []string{d}})
	}
	leftOut, err := Rulesets{*rs}.RestrictThread(abi, bestEffort)
	if err != nil {
		t.Fatalf("RestrictThread(%d, %v) = %v", abi, bestEffort, err)
	}
	if len(leftOut) > 0 {
		t.Fatalf("RestrictThread(%d, %v) left out %q", abi, bestEffort, leftOut)
	}
}

func mustWrite(t *testing.T, file, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, mode); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// busybox is static, so running it needs nothing but its own file.
const busybox = "/usr/bin/busybox"

// prepareTree lays out the files the confined process is tested on.
func prepareTree(t *testing.T) func(dir string) {
	return func(dir string) {
		mustWrite(t, filepath.Join(dir, "ro", "allowed.txt"), "allowed", 0o644)
		mustWrite(t, filepath.Join(dir, "ro", "sub", "deep.txt"), "deep", 0o644)
		mustWrite(t, filepath.Join(dir, "other.txt"), "other", 0o644)
		mustWrite(t, filepath.Join(dir, "single.txt"), "single", 0o644)
		mustWrite(t, filepath.Join(dir, "rwfile.txt"), "rw", 0o644)
		mustWrite(t, filepath.Join(dir, "rw", "existing.txt"), "existing", 0o644)
		copyFile(t, busybox, filepath.Join(dir, "noexec", "busybox"))
		copyFile(t, busybox, filepath.Join(dir, "exec", "busybox"))
		copyFile(t, busybox, filepath.Join(dir, "execfile", "busybox"))
	}
}

func isEACCES(err error) bool { return errors.Is(err, syscall.EACCES) }

// run runs a program with pipes for stdio: exec.Cmd would otherwise open
// /dev/null, which the confined process may not.
func run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader("")
	return cmd.CombinedOutput()
}

func TestRestrict(t *testing.T) {
	if _, err := os.Stat(busybox); err != nil {
		t.Fatalf("needs %s (apt-get install busybox-static): %v", busybox, err)
	}
	for _, abi := range []int{3, KernelABI()} {
		for _, bestEffort := range []bool{false, true} {
			name := fmt.Sprintf("abi%d", abi)
			if bestEffort {
				name += "_bestEffort"
			}
			t.Run(name, func(t *testing.T) {
				inSubprocess(t, prepareTree(t), func(t *testing.T, dir string) {
					testRestricted(t, dir, abi, bestEffort)
				})
			})
		}
	}
}

func testRestricted(t *testing.T, dir string, abi int, bestEffort bool) {
	p := func(rel string) string { return filepath.Join(dir, rel) }
	rs := &Ruleset{Rules: []Rule{
		{Access: ReadOnly, Paths: []string{p("ro"), p("single.txt"), p("does-not-exist")}},
		{Access: ReadWrite, Paths: []string{p("rw"), p("rwfile.txt")}},
		{Access: ReadOnly, Paths: []string{p("noexec")}},
		{Access: ReadExec, Paths: []string{p("exec")}},
		{Access: ReadWriteExec, Paths: []string{p("execfile/busybox")}},
	}}
	restrict(t, rs, abi, bestEffort)

	checks := []struct {
		name   string
		op     func() error
		denied bool
	}{
		{"read a file in a readOnly dir", func() error { _, err := os.ReadFile(p("ro/allowed.txt")); return err }, false},
		{"read a file deeper in a readOnly dir", func() error { _, err := os.ReadFile(p("ro/sub/deep.txt")); return err }, false},
		{"list a readOnly dir", func() error { _, err := os.ReadDir(p("ro")); return err }, false},
		{"read a readOnly file", func() error { _, err := os.ReadFile(p("single.txt")); return err }, false},
		{"read another file", func() error { _, err := os.ReadFile(p("other.txt")); return err }, true},
		{"list the parent dir", func() error { _, err := os.ReadDir(dir); return err }, true},
		{"read /etc/passwd", func() error { _, err := os.ReadFile("/etc/passwd"); return err }, true},
		{"write a file in a readOnly dir", func() error {
			return os.WriteFile(p("ro/allowed.txt"), []byte("x"), 0o644)
		}, true},
		{"truncate a readOnly file", func() error { return os.Truncate(p("single.txt"), 0) }, true},
		{"create a file in a readOnly dir", func() error { return os.WriteFile(p("ro/new.txt"), nil, 0o644) }, true},
		{"create a file in a readWrite dir", func() error { return os.WriteFile(p("rw/new.txt"), []byte("new"), 0o644) }, false},
		{"overwrite a file in a readWrite dir", func() error { return os.WriteFile(p("rw/existing.txt"), []byte("changed"), 0o644) }, false},
		{"make a dir in a readWrite dir", func() error { return os.Mkdir(p("rw/d"), 0o755) }, false},
		{"rename in a readWrite dir", func() error { return os.Rename(p("rw/new.txt"), p("rw/d/moved.txt")) }, false},
		{"remove in a readWrite dir", func() error { return os.Remove(p("rw/d/moved.txt")) }, false},
		{"write a readWrite file", func() error {
			return os.WriteFile(p("rwfile.txt"), []byte("written"), 0o644)
		}, false},
		{"create next to a readWrite file", func() error { return os.WriteFile(p("sibling.txt"), nil, 0o644) }, true},
		{"execute from a readOnly dir", func() error { _, err := run(p("noexec/busybox"), "true"); return err }, true},
		{"execute from a readExec dir", func() error { _, err := run(p("exec/busybox"), "true"); return err }, false},
		{"execute a readWriteExec file", func() error { _, err := run(p("execfile/busybox"), "true"); return err }, false},
		{"write a readWriteExec file", func() error {
			f, err := os.OpenFile(p("execfile/busybox"), os.O_WRONLY, 0)
			if err == nil {
				f.Close()
			}
			return err
		}, false},
		{"execute from the host", func() error { _, err := run(busybox, "true"); return err }, true},
		{"open /dev/null", func() error { _, err := os.Open(os.DevNull); return err }, true},
	}
	for _, c := range checks {
		err := c.op()
		switch {
		case c.denied && !isEACCES(err):
			t.Errorf("%s: %v, want EACCES", c.name, err)
		case !c.denied && err != nil:
			t.Errorf("%s: %v, want it allowed", c.name, err)
		}
	}

	// The restriction is inherited by child processes.
	out, err := run(p("exec/busybox"), "cat", p("other.txt"))
	if err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Errorf("child process read other.txt: %v: %s", err, out)
	}
	out, err = run(p("exec/busybox"), "cat", p("ro/allowed.txt"))
	if err != nil || string(out) != "allowed" {
		t.Errorf("child process reading ro/allowed.txt: %q, %v", out, err)
	}
}

// TestRestrictFileRules: a file given a directory access level is masked
// to the rights the kernel accepts on files, rather than failing.
func TestRestrictFileRules(t *testing.T) {
	prepare := func(dir string) {
		mustWrite(t, filepath.Join(dir, "f"), "f", 0o644)
	}
	inSubprocess(t, prepare, func(t *testing.T, dir string) {
		f := filepath.Join(dir, "f")
		rs := &Ruleset{Rules: []Rule{{Access: ReadWriteExec, Paths: []string{f}}, {Access: ReadWrite, Paths: []string{f}}}}
		restrict(t, rs, MinABI, false)
		if err := os.WriteFile(f, []byte("written"), 0o644); err != nil {
			t.Errorf("writing the file: %v", err)
		}
		if data, err := os.ReadFile(f); err != nil || string(data) != "written" {
			t.Errorf("reading the file: %q, %v", data, err)
		}
	})
}

// TestRestrictSymlinks: a rule path that now goes through a symlink out of
// its directory, as a confined process that may write there can plant
// between two starts, is left out and reported; symlinks that stay
// beneath their directory, as in Kubernetes' configMap volumes, are
// followed.
func TestRestrictSymlinks(t *testing.T) {
	prepare := func(dir string) {
		mustWrite(t, filepath.Join(dir, "other.txt"), "other", 0o644)
		mustWrite(t, filepath.Join(dir, "vol", "..2026_01_01", "key"), "value", 0o644)
		for link, target := range map[string]string{
			"vol/..data":  "..2026_01_01",
			"vol/key":     "..data/key",
			"absolute":    "/",
			"vol/escape":  "../other.txt",
			"vol/through": "..data",
		} {
			if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
				t.Fatal(err)
			}
		}
	}
	inSubprocess(t, prepare, func(t *testing.T, dir string) {
		p := func(rel string) string { return filepath.Join(dir, rel) }
		rs := &Ruleset{Rules: []Rule{{Access: ReadOnly, Paths: []string{
			p("vol/key"), p("absolute"), p("vol/escape"), p("vol/through/key"), p("missing"),
		}}}}
		if d := coverDir(); d != "" {
			rs.Rules = append(rs.Rules, Rule{Access: ReadWrite, Paths: []string{d}})
		}
		leftOut, err := Rulesets{*rs}.RestrictThread(MinABI, false)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range leftOut {
			got = append(got, e.Error())
		}
		want := []string{
			"rule path " + p("absolute") + " left out: it goes through a symlink that leads out of its directory",
			"rule path " + p("vol/escape") + " left out: it goes through a symlink that leads out of its directory",
		}
		if !slices.Equal(got, want) {
			t.Errorf("left out:\n%q\nwant\n%q", got, want)
		}
		if data, err := os.ReadFile(p("vol/key")); err != nil || string(data) != "value" {
			t.Errorf("reading vol/key: %q, %v", data, err)
		}
		for _, denied := range []string{"/etc/passwd", p("other.txt")} {
			if _, err := os.ReadFile(denied); !isEACCES(err) {
				t.Errorf("reading %s: %v, want EACCES", denied, err)
			}
		}
	})
}

// TestRestrictStacked: rulesets stack, each in its own layer, so that a
// later one that allows more than an earlier one lifts nothing: what the
// first (the namespace's) denies stays denied, and only what both allow
// is allowed.
func TestRestrictStacked(t *testing.T) {
	prepare := func(dir string) {
		for _, f := range []string{"both/f", "first/f", "second/f"} {
			mustWrite(t, filepath.Join(dir, f), f, 0o644)
		}
	}
	inSubprocess(t, prepare, func(t *testing.T, dir string) {
		p := func(rel string) string { return filepath.Join(dir, rel) }
		rs := Rulesets{
			{Rules: []Rule{{Access: ReadOnly, Paths: []string{p("both"), p("first")}}}},
			{Rules: []Rule{{Access: ReadWrite, Paths: []string{p("both"), p("second")}}}},
		}
		if d := coverDir(); d != "" {
			for i := range rs {
				rs[i].Rules = append(rs[i].Rules, Rule{Access: ReadWrite, Paths: []string{d}})
			}
		}
		if _, err := rs.RestrictThread(MinABI, false); err != nil {
			t.Fatal(err)
		}
		if data, err := os.ReadFile(p("both/f")); err != nil || string(data) != "both/f" {
			t.Errorf("reading what both allow: %q, %v", data, err)
		}
		for what, err := range map[string]error{
			"reading what only the first allows":       readErr(p("first/f")),
			"reading what only the second allows":      readErr(p("second/f")),
			"writing what only the second allows":      os.WriteFile(p("both/f"), []byte("x"), 0o644),
			"creating where only the second allows it": os.WriteFile(p("second/new"), nil, 0o644),
		} {
			if !isEACCES(err) {
				t.Errorf("%s: %v, want EACCES", what, err)
			}
		}
	})
}

func readErr(file string) error {
	_, err := os.ReadFile(file)
	return err
}

// TestRestrictStackedStops: a ruleset that cannot be applied stops the
// stack with an error, which the helper turns into not running the
// program rather than running it under fewer layers than its policy.
func TestRestrictStackedStops(t *testing.T) {
	inSubprocess(t, func(string) {}, func(t *testing.T, dir string) {
		rs := Rulesets{{Rules: []Rule{{Access: ReadWrite, Paths: []string{"/"}}}}, {Scoped: []Scope{"pipes"}}}
		if _, err := rs.RestrictThread(6, true); err == nil || !strings.Contains(err.Error(), `ruleset 2 of 2: unknown Landlock scope "pipes"`) {
			t.Fatalf("RestrictThread() = %v, want an error about the second ruleset", err)
		}
	})
}

// TestRestrictErrors covers the failures that happen before anything is
// restricted, so they can run in the test process itself.
func TestRestrictErrors(t *testing.T) {
	requireABI(t, MinABI)
	tests := []struct {
		name       string
		abi        int
		bestEffort bool
	}{
		{name: "newer than the kernel", abi: KernelABI() + 1},
		{name: "newer than the kernel, best effort, unknown to podlock", abi: 99, bestEffort: true},
		{name: "older than podlock supports", abi: 2},
		{name: "older than podlock supports, best effort", abi: 1, bestEffort: true},
		{name: "zero", abi: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := Rulesets{{Rules: []Rule{{Access: ReadOnly, Paths: []string{"/"}}}}}
			_, err := rs.RestrictThread(tt.abi, tt.bestEffort)
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("RestrictThread(%d, %v) = %v, want ErrUnsupported", tt.abi, tt.bestEffort, err)
			}
		})
	}
	// Still unrestricted.
	if _, err := os.ReadFile("/etc/passwd"); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the process was restricted: %v", err)
	}
}

func TestKernelABI(t *testing.T) {
	if abi := KernelABI(); abi < MinABI {
		t.Fatalf("KernelABI() = %d; the test machines have Landlock ABI %d or later", abi, MinABI)
	}
}

func TestRulesetConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rs      Ruleset
		abi     int
		net     bool
		scoped  golandlock.ScopedSet
		wantErr bool
	}{
		{name: "filesystem only", abi: 3},
		{name: "network", rs: Ruleset{Network: &Network{BindTCP: []uint16{80}}}, abi: 4, net: true},
		{name: "scoped", rs: Ruleset{Scoped: []Scope{ScopeSignal, ScopeAbstractUnixSocket}}, abi: 6, scoped: 3},
		{name: "unknown scope", rs: Ruleset{Scoped: []Scope{"pipes"}}, abi: 6, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rs.ABI(); got != tc.abi {
				t.Errorf("ABI() = %d, want %d", got, tc.abi)
			}
			cfg, err := tc.rs.config()
			if (err != nil) != tc.wantErr {
				t.Fatalf("config() error %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if cfg.HandledAccessFS != golandlock.V3.HandledAccessFS {
				t.Errorf("filesystem rights %v, want those of ABI 3", cfg.HandledAccessFS)
			}
			if (cfg.HandledAccessNet != 0) != tc.net || cfg.Scoped != tc.scoped {
				t.Errorf("net %v scoped %v", cfg.HandledAccessNet, cfg.Scoped)
			}
		})
	}
}

// TestPathWalkShared: a walk that reuses the directories and failures of
// the paths before opens, for every path, what a walk of that path alone
// opens, and fails the same way: beneath a missing directory, through a
// file, through a symlink out of its directory (twice, each reported),
// through one that stays beneath it, with "..", "." and extra slashes.
func TestPathWalkShared(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "vol", "..2026_01_01", "key"), "value", 0o644)
	mustWrite(t, filepath.Join(dir, "vol", "..2026_01_01", "other"), "other", 0o644)
	mustWrite(t, filepath.Join(dir, "file"), "file", 0o644)
	for link, target := range map[string]string{
		"vol/..data": "..2026_01_01",
		"out":        "/etc",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	paths := []string{
		dir + "/missing/a/f1",
		dir + "/missing/a/f2",
		dir + "/missing",
		dir + "/file/f",
		dir + "/file",
		dir + "/out/passwd",
		dir + "/out/hostname",
		dir + "/vol/..data/key",
		dir + "/vol/..data/other",
		dir + "/vol/..data",
		dir + "/vol/../vol/./..data//key",
		dir + "/vol/",
		"/",
	}
	var shared pathWalk
	defer shared.close()
	for _, p := range paths {
		got, gotMode, gotErr := shared.open(p)
		var alone pathWalk
		want, wantMode, wantErr := alone.open(p)
		alone.close()
		if !errors.Is(gotErr, wantErr) && !errors.Is(wantErr, gotErr) {
			t.Errorf("%s: %v, alone %v", p, gotErr, wantErr)
		}
		if gotMode != wantMode {
			t.Errorf("%s: mode %o, alone %o", p, gotMode, wantMode)
		}
		if got >= 0 && want >= 0 {
			var a, b syscall.Stat_t
			if err := syscall.Fstat(got, &a); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Fstat(want, &b); err != nil {
				t.Fatal(err)
			}
			if a.Dev != b.Dev || a.Ino != b.Ino {
				t.Errorf("%s: opened %d:%d, alone %d:%d", p, a.Dev, a.Ino, b.Dev, b.Ino)
			}
			if a.Mode != gotMode {
				t.Errorf("%s: mode %o, the file's %o", p, gotMode, a.Mode)
			}
		}
		for _, fd := range []int{got, want} {
			if fd >= 0 {
				syscall.Close(fd)
			}
		}
	}
	wantErrs := map[string]error{
		dir + "/missing/a/f2": syscall.ENOENT,
		dir + "/file/f":       syscall.ENOTDIR,
		dir + "/out/hostname": errSymlinkOut,
	}
	for p, want := range wantErrs {
		var w pathWalk
		if _, _, err := w.open(p); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", p, err, want)
		}
		w.close()
	}
}

// BenchmarkPathRules opens the rule paths of a container-wide ruleset
// like the large benchmark profile's: 1,000 paths in 20 directories the
// image lacks, and 100 files in 10 directories it has.
func BenchmarkPathRules(b *testing.B) {
	dir := b.TempDir()
	var missing, present []string
	for i := range 1000 {
		missing = append(missing, fmt.Sprintf("%s/missing/d%d/f%d", dir, i/50, i))
	}
	for i := range 100 {
		f := filepath.Join(dir, "present", fmt.Sprintf("d%d", i/10), fmt.Sprintf("f%d", i))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			b.Fatal(err)
		}
		present = append(present, f)
	}
	rs := &Ruleset{Rules: []Rule{{Access: ReadWrite, Paths: missing}, {Access: ReadOnly, Paths: present}}}
	b.ResetTimer()
	for range b.N {
		rules, opened, _, err := rs.pathRules()
		if err != nil || len(rules) != len(present) {
			b.Fatalf("%d rules, %v", len(rules), err)
		}
		for _, fd := range opened {
			syscall.Close(fd)
		}
	}
}
