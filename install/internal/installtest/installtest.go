// Package installtest has what the installer's tests share: a host file
// tree under a temporary root, and golden files.
package installtest

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/install/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// WriteTree creates host files (by absolute host path) under root.
func WriteTree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for path, content := range files {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ReadTree returns every file under root, by host path.
func ReadTree(t testing.TB, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files["/"+rel] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TreeDiff returns how got differs from want, "" when they are equal.
func TreeDiff(want, got map[string]string) string {
	var b strings.Builder
	for path, w := range want {
		g, ok := got[path]
		if !ok {
			b.WriteString(path + ": missing\n")
			continue
		}
		b.WriteString(engine.UnifiedDiff(path, path, []byte(w), []byte(g)))
	}
	for path := range got {
		if _, ok := want[path]; !ok {
			b.WriteString(path + ": left behind\n")
		}
	}
	return b.String()
}

// Diffs concatenates the changes' unified diffs, as a dry run prints them.
func Diffs(changes []engine.Change) string {
	var b strings.Builder
	for _, c := range changes {
		b.WriteString(c.Diff())
	}
	return b.String()
}

// Golden compares got with testdata/golden/name, or rewrites that file when
// the test runs with -update. An empty got means the file must not exist.
func Golden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if got == "" {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			return
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		want, err = nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s",
			name, engine.UnifiedDiff(path, "got", want, []byte(got)))
	}
}

// Fixture returns testdata/name.
func Fixture(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
