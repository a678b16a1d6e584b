package publish

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Scan lists the profiles' files only; Load refuses what is not a regular
// file of bounded size, and files that describe another profile.
func TestScanAndLoad(t *testing.T) {
	dir := t.TempDir()
	recordOn(t, dir, "web-1", "/etc/a", "openat")
	elsewhere := t.TempDir()
	recordOn(t, elsewhere, "web-1", "/etc/a", "openat")
	ns := filepath.Join(dir, "team-a")
	for name, make := range map[string]func(string) error{
		"linked.yaml":     func(p string) error { return os.Symlink(filepath.Join(elsewhere, "team-a", "learned.yaml"), p) },
		"fifo.yaml":       func(p string) error { return unix.Mkfifo(p, 0o600) },
		"Not_A_Name.yaml": func(p string) error { return os.WriteFile(p, nil, 0o600) },
		"learned.web.log": func(p string) error { return os.WriteFile(p, nil, 0o600) },
		"other.yaml": func(p string) error {
			return os.WriteFile(p, []byte("apiVersion: podlock.kubewarden.io/v1alpha1\nkind: LandlockProfile\nmetadata:\n  name: learned\n  namespace: team-a\n"), 0o600)
		},
		"big.yaml": func(p string) error { return os.WriteFile(p, make([]byte, MaxRecordingSize+1), 0o600) },
	} {
		if err := make(filepath.Join(ns, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(elsewhere, "team-a"), filepath.Join(dir, "team-b")); err != nil {
		t.Fatal(err)
	}
	found, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range found {
		names = append(names, f.Namespace+"/"+f.Profile)
	}
	if strings.Join(names, " ") != "team-a/big team-a/learned team-a/other" {
		t.Fatalf("Scan() = %v", names)
	}
	for _, f := range found {
		rec, err := Load(f)
		switch f.Profile {
		case "learned":
			if err != nil || rec.Seccomp["web"] == nil || len(rec.Evidence) == 0 {
				t.Errorf("Load(learned) = %+v, %v", rec, err)
			}
		case "big":
			if err == nil || !strings.Contains(err.Error(), "larger than") {
				t.Errorf("Load(big) = %v", err)
			}
		case "other":
			if err == nil || !strings.Contains(err.Error(), "no LandlockProfile team-a/other") {
				t.Errorf("Load(other) = %v", err)
			}
		}
	}
	if _, err := readBeneath(dir, filepath.Join(ns, "fifo.yaml"), 10); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("FIFO: %v", err)
	}
	if _, err := readBeneath(dir, filepath.Join(ns, "linked.yaml"), 10); !errors.Is(err, unix.ELOOP) {
		t.Errorf("a symlinked file: %v", err)
	}
	// A namespace directory swapped for a symlink after the scan.
	swapped := found[slices.IndexFunc(found, func(f Found) bool { return f.Profile == "learned" })]
	if err := os.Rename(ns, ns+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(elsewhere, "team-a"), ns); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(swapped); !errors.Is(err, unix.ELOOP) {
		t.Errorf("Load through a swapped directory: %v", err)
	}
}
