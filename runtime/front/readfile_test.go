package front

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	want := []byte("runtime: /usr/bin/runc\n")
	file := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(file, want, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := readFile(file); err != nil || !bytes.Equal(got, want) {
		t.Errorf("read %q, %v", got, err)
	}
	_, err := readFile(filepath.Join(dir, "missing"))
	if !errors.Is(err, fs.ErrNotExist) || !os.IsNotExist(err) {
		t.Errorf("a missing file: %v, want it not to exist", err)
	}
	if _, err := readFile(dir); err == nil {
		t.Error("a directory was read")
	}
}
