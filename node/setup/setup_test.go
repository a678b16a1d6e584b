package setup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Run installs the three binaries, keeps an unchanged one's inode, and
// writes a kubeconfig that reads the token from the configuration
// directory.
func TestRun(t *testing.T) {
	host, src := t.TempDir(), t.TempDir()
	for _, name := range []string{"podlock-runtime", "podlock-runtime-confine", "podlock-helper", "podlock-interpose"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ca := filepath.Join(src, "ca.crt")
	if err := os.WriteFile(ca, []byte("CA"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Setup{HostRoot: host, BinDir: "/usr/local/bin", SourceDir: src, ConfigDir: "/etc/podlock",
		CacheDir: "/var/lib/podlock/cache", RecordDir: "/var/lib/podlock/records", IndexDir: "/run/podlock/index",
		Server: "https://127.0.0.1:6443", CAFile: ca}
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	helper := filepath.Join(host, "usr/local/bin/podlock-helper")
	before, err := os.Stat(helper)
	if err != nil || before.Mode().Perm() != 0o755 {
		t.Fatalf("helper: %v %v", before, err)
	}
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(helper)
	if err != nil || !os.SameFile(before, after) {
		t.Errorf("an unchanged helper was replaced")
	}
	for file, want := range map[string]string{
		KubeconfigFile: "tokenFile: /etc/podlock/token",
		ConfigFile:     "recordDir: /var/lib/podlock/records",
	} {
		data, err := os.ReadFile(filepath.Join(host, "etc/podlock", file))
		if err != nil || !strings.Contains(string(data), want) {
			t.Errorf("%s: %v, want it to contain %q:\n%s", file, err, want, data)
		}
	}
	s.CAFile = filepath.Join(src, "missing")
	if err := s.Run(); err == nil || !strings.Contains(err.Error(), "reading the API server's CA") {
		t.Errorf("missing CA: %v", err)
	}
}
