// Package runtime_test drives podlock-runtime with real runc containers on
// a busybox-static root filesystem.
package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/profiles/dir"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// env is one test's podlock installation: a profiles directory and a
// podlock-runtime that reads it.
type env struct {
	tb       testing.TB
	profiles string
	rt       *testenv.Runtime
}

func newEnv(t testing.TB, extraEnv ...string) *env {
	t.Helper()
	testenv.Require(t, testenv.Root, testenv.Program("runc"), testenv.Busybox)
	bin := testenv.Binaries(t)
	profiles := t.TempDir()
	vars := append([]string{
		"PODLOCK_CONFIG=" + filepath.Join(profiles, "no-config.yaml"),
		"PODLOCK_PROFILES_DIR=" + profiles,
		"PODLOCK_RUNTIME=runc",
	}, extraEnv...)
	// An explicit PODLOCK_CONFIG that does not exist is an error: use an
	// empty file instead.
	if err := os.WriteFile(filepath.Join(profiles, "no-config.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return &env{tb: t, profiles: profiles, rt: testenv.NewRuntime(t, filepath.Join(bin, "podlock-runtime"), vars...)}
}

// profile writes a manifest into the profiles directory.
func (e *env) profile(name, manifest string) {
	e.tb.Helper()
	if err := os.WriteFile(filepath.Join(e.profiles, name+".yaml"), []byte(strings.TrimLeft(manifest, "\n")), 0o644); err != nil {
		e.tb.Fatal(err)
	}
}

// profileJSON writes a manifest into the profiles directory as the JSON
// the API server serves, which is how a node reads its profiles.
func (e *env) profileJSON(name, manifest string) {
	e.tb.Helper()
	docs, err := dir.Documents([]byte(manifest))
	if err != nil || len(docs) != 1 {
		e.tb.Fatalf("manifest of %s: %v (%d documents)", name, err, len(docs))
	}
	if err := os.WriteFile(filepath.Join(e.profiles, name+".json"), docs[0], 0o644); err != nil {
		e.tb.Fatal(err)
	}
}

func wantLines(t *testing.T, what, got string, want []string) {
	t.Helper()
	lines := testenv.Lines(got)
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got: %q\nwant: %q", what, lines, want)
	}
}
