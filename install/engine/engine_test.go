package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want string // hunks, after the two header lines
	}{{
		name: "equal",
		a:    "a\n", b: "a\n",
		want: "",
	}, {
		// Two changes more than six lines apart: two hunks.
		name: "two hunks",
		a:    "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\n",
		b:    "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nN\nO\n",
		want: "@@ -1,5 +1,5 @@\n a\n-b\n+B\n c\n d\n e\n@@ -11,4 +11,5 @@\n k\n l\n m\n-n\n+N\n+O\n",
	}, {
		// Changes six lines apart share a hunk.
		name: "merged hunk",
		a:    "1\n2\n3\n4\n5\n6\n7\n8\n9\n",
		b:    "1\n2\nX\n4\n5\n6\n7\n8\nY\n",
		want: "@@ -1,9 +1,9 @@\n 1\n 2\n-3\n+X\n 4\n 5\n 6\n 7\n 8\n-9\n+Y\n",
	}, {
		name: "no newline at end",
		a:    "x",
		b:    "x\ny",
		want: "@@ -1 +1,2 @@\n-x\n\\ No newline at end of file\n+x\n+y\n\\ No newline at end of file\n",
	}, {
		name: "new file",
		a:    "",
		b:    "a\nb\n",
		want: "@@ -0,0 +1,2 @@\n+a\n+b\n",
	}, {
		name: "removed file",
		a:    "a\n",
		b:    "",
		want: "@@ -1 +0,0 @@\n-a\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UnifiedDiff("old", "new", []byte(tt.a), []byte(tt.b))
			want := ""
			if tt.want != "" {
				want = "--- old\n+++ new\n" + tt.want
			}
			if got != want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestUnifiedDiffApplies checks that applying the hunks to a gives b, for
// edits like the installer's. (Where several shortest diffs exist, diff -u
// may pick another one: the format is checked in TestUnifiedDiff, whose
// expectations are GNU diff's output.)
func TestUnifiedDiffApplies(t *testing.T) {
	a := strings.Repeat("line\n", 40) + "version = 3\n[plugins]\n" + strings.Repeat("x = 1\n", 20)
	b := strings.Replace(a, "version = 3\n", "version = 3\nimports = [\"/a\"]\n", 1)
	b = strings.Replace(b, "line\n", "first\n", 1) + "tail\n"
	c := strings.Replace(a, "version = 3\n[plugins]\n", "version = 4\n[plugin]\nimports = []\n", 1)
	for _, pair := range [][2]string{{a, b}, {b, a}, {a, c}, {c, b}, {"", a}, {a, ""}, {"x", "x\ny"}, {"x\ny", "y"}} {
		diff := UnifiedDiff("from", "to", []byte(pair[0]), []byte(pair[1]))
		got, err := applyUnified(pair[0], diff)
		if err != nil {
			t.Fatalf("%v in:\n%s", err, diff)
		}
		if got != pair[1] {
			t.Errorf("applying the diff gives %q, want %q; diff:\n%s", got, pair[1], diff)
		}
	}
}

// applyUnified applies a unified diff to a, checking every context and
// removed line and every hunk's line counts.
func applyUnified(a, diff string) (string, error) {
	old := splitLines([]byte(a))
	lines := splitLines([]byte(diff))
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "--- ") || !strings.HasPrefix(lines[1], "+++ ") {
		return "", fmt.Errorf("no header")
	}
	var out strings.Builder
	next := 0 // index of the next line of old to use
	for i := 2; i < len(lines); {
		var oldStart, oldLen, newStart, newLen int
		if _, err := fmt.Sscanf(expandRanges(lines[i]), "@@ -%d,%d +%d,%d @@", &oldStart, &oldLen, &newStart, &newLen); err != nil {
			return "", fmt.Errorf("hunk header %q: %v", lines[i], err)
		}
		i++
		first := oldStart - 1
		if oldLen == 0 {
			first = oldStart
		}
		for ; next < first; next++ {
			out.WriteString(old[next])
		}
		seenOld, seenNew := 0, 0
		for i < len(lines) && !strings.HasPrefix(lines[i], "@@") {
			line := lines[i]
			i++
			if i < len(lines) && lines[i] == "\\ No newline at end of file\n" {
				line = strings.TrimSuffix(line, "\n")
				i++
			}
			kind, text := line[0], line[1:]
			if kind != '+' {
				if next >= len(old) || old[next] != text {
					return "", fmt.Errorf("line %d: have %q, the diff says %q", next+1, old[next], text)
				}
				next++
				seenOld++
			}
			if kind != '-' {
				out.WriteString(text)
				seenNew++
			}
		}
		if seenOld != oldLen || seenNew != newLen {
			return "", fmt.Errorf("hunk %d,%d +%d,%d has %d old and %d new lines", oldStart, oldLen, newStart, newLen, seenOld, seenNew)
		}
	}
	for ; next < len(old); next++ {
		out.WriteString(old[next])
	}
	return out.String(), nil
}

// expandRanges writes the omitted ",1" of a hunk header's ranges.
func expandRanges(header string) string {
	f := strings.Fields(header)
	for i := 1; i <= 2 && i < len(f); i++ {
		if !strings.Contains(f[i], ",") {
			f[i] += ",1"
		}
	}
	return strings.Join(f, " ")
}

func TestApply(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(existing, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(dir, "gone.toml")
	if err := os.WriteFile(gone, []byte("bye\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	created := filepath.Join(dir, "conf.d", "podlock.toml")
	changes := []Change{
		*NewChange("/etc/conf.d/podlock.toml", created, nil, []byte("new\n"), 0),
		*NewChange("/etc/config.toml", existing, []byte("old\n"), []byte("changed\n"), 0o600),
		*NewChange("/etc/gone.toml", gone, []byte("bye\n"), nil, 0),
		// Removing what is already gone is not an error.
		{Name: "/etc/never.toml", Path: filepath.Join(dir, "never.toml"), Old: []byte("x")},
	}
	if err := Apply(changes); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{created: "new\n", existing: "changed\n"} {
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	for path, want := range map[string]os.FileMode{created: 0o644, existing: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("%s still exists (%v)", gone, err)
	}
	// No temporary file is left behind.
	for _, d := range []string{dir, filepath.Dir(created)} {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("left behind: %s", filepath.Join(d, e.Name()))
			}
		}
	}
}

func TestNewChange(t *testing.T) {
	if c := NewChange("a", "a", []byte("x"), []byte("x"), 0); c != nil {
		t.Errorf("equal content: %+v, want no change", c)
	}
	if c := NewChange("a", "a", nil, nil, 0); c != nil {
		t.Errorf("missing stays missing: %+v, want no change", c)
	}
	// An empty file is not a missing one.
	if c := NewChange("a", "a", []byte{}, nil, 0); c == nil || c.Action() != "remove" {
		t.Errorf("removing an empty file: %+v", c)
	}
	if c := NewChange("a", "a", nil, []byte{}, 0); c == nil || c.Action() != "create" {
		t.Errorf("creating an empty file: %+v", c)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		rt Runtime
		ok bool
	}{
		{Runtime{"podlock", "/usr/local/bin/podlock-runtime"}, true},
		{Runtime{"podlock-2", "/opt/p/podlock-runtime"}, true},
		{Runtime{"", "/usr/local/bin/podlock-runtime"}, false},
		{Runtime{"Podlock", "/usr/local/bin/podlock-runtime"}, false},
		{Runtime{"pod.lock", "/usr/local/bin/podlock-runtime"}, false},
		{Runtime{"-podlock", "/usr/local/bin/podlock-runtime"}, false},
		{Runtime{strings.Repeat("a", 64), "/usr/local/bin/podlock-runtime"}, false},
		{Runtime{"podlock", "podlock-runtime"}, false},
		{Runtime{"podlock", "/usr/local/bin/../bin/podlock-runtime"}, false},
		{Runtime{"podlock", "/usr/local/bin/podlock\"runtime"}, false},
		{Runtime{"podlock", "/usr/local/bin/podlock\nruntime"}, false},
	}
	for _, tt := range tests {
		if err := tt.rt.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: error %v, want ok %v", tt.rt, err, tt.ok)
		}
	}
}

func TestQuote(t *testing.T) {
	if got, want := Quote(`/a "b" \c`), `"/a \"b\" \\c"`; got != want {
		t.Errorf("Quote = %s, want %s", got, want)
	}
}

func TestResolve(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"etc/containerd", "srv"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"etc/containerd/config.toml": "/srv/containerd.toml", // absolute: a host path
		"srv/containerd.toml":        "real.toml",            // relative to its directory
		"etc/loop":                   "/etc/loop",
	}
	for link, target := range links {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		path, want string
		err        bool
	}{
		{"/etc/containerd/config.toml", filepath.Join(root, "srv/real.toml"), false},
		{"/etc/containerd/missing.toml", filepath.Join(root, "etc/containerd/missing.toml"), false},
		{"/etc/loop", "", true},
	}
	for _, tt := range tests {
		got, err := Resolve(root, tt.path)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("Resolve(%s) = %q, %v; want %q, error %v", tt.path, got, err, tt.want, tt.err)
		}
	}
}
