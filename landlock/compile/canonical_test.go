package compile

import (
	"os"
	"path/filepath"
	"testing"
)

// canonical, with its cache of directories, resolves every path as a
// resolution component by component (securejoin) does, in any order.
func TestCanonicalMatchesSecureJoin(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"etc", "usr/lib", "var/data", "real/sub"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/passwd"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"lib":           "usr/lib",
		"abs":           "/real",
		"rel":           "../real/sub",
		"var/up":        "../../../../etc",
		"loop":          "loop",
		"loop2":         "loop3",
		"loop3":         "loop2",
		"dangling":      "/nowhere/deeper",
		"chain":         "abs/sub",
		"real/sub/back": "/var",
		"etc/file":      "passwd",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	paths := []string{
		"/etc/passwd", "/etc/file", "/etc/missing", "/lib/x", "/lib", "/abs/sub/y", "/abs/sub/back/data/z",
		"/rel/q", "/var/up/passwd", "/loop/x", "/loop2/x/y", "/dangling/a", "/chain/back/up/file",
		"/none/of/this", "/none/of/that", "/etc/../lib/a", "relative/path", "/usr//lib/", "/real/sub/back",
		"/real/sub/back/up", "/etc/passwd/x",
	}
	for pass := range 2 {
		r, err := openRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		for i := range paths {
			p := paths[i]
			if pass == 1 {
				p = paths[len(paths)-1-i]
			}
			got, gotErr := r.canonical(p)
			want, wantErr := r.secureJoin(p)
			if got != want || (gotErr == nil) != (wantErr == nil) {
				t.Errorf("canonical(%q) = %q, %v; securejoin gives %q, %v", p, got, gotErr, want, wantErr)
			}
		}
		r.Close()
	}
}
