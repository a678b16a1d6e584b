package front

import (
	"maps"
	"os"
	"path/filepath"
	"testing"
)

func TestParseFlat(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want map[string]string // nil: left to podlock-runtime-confine
	}{
		{"empty", "", map[string]string{}},
		{"podlock-node's", "cacheDir: /var/lib/podlock/cache\nhelper: /usr/local/bin/podlock-helper\nindexDir: /run/podlock/containers\nsource: kubernetes\n",
			map[string]string{"cacheDir": "/var/lib/podlock/cache", "helper": "/usr/local/bin/podlock-helper", "indexDir": "/run/podlock/containers", "source": "kubernetes"}},
		{"comments and marker", "---\n# the runtime\nruntime: /usr/bin/crun # crun\n\n", map[string]string{"runtime": "/usr/bin/crun"}},
		{"quoted", "runtime: \"/opt/my runc\"\nindexDir: '/run/x'\n", map[string]string{"runtime": "/opt/my runc", "indexDir": "/run/x"}},
		{"CRLF", "runtime: crun\r\n", map[string]string{"runtime": "crun"}},
		{"nested", "runtime:\n  path: crun\n", nil},
		{"flow", "runtime: {path: crun}\n", nil},
		{"block scalar", "runtime: |\n  crun\n", nil},
		{"escape", "runtime: \"/a\\tb\"\n", nil},
		{"duplicate", "runtime: a\nruntime: b\n", nil},
		{"anchor", "runtime: &x crun\n", nil},
		{"no colon", "runtime crun\n", nil},
		{"unterminated", "runtime: \"crun\n", nil},
		{"JSON", `{"source": "kubernetes", "runtime": "/usr/bin/crun", "indexDir": "/run/x", "apiTimeout": "2s"}`,
			map[string]string{"source": "kubernetes", "runtime": "/usr/bin/crun", "indexDir": "/run/x", "apiTimeout": "2s"}},
		{"JSON with other scalars", "{\"bestEffort\": true, \"n\": 3, \"x\": null, \"runtime\": \"crun\"}\n", map[string]string{"bestEffort": "", "n": "", "x": "", "runtime": "crun"}},
		{"JSON runtime not a string", `{"runtime": 3}`, nil},
		{"JSON nested", `{"runtime": {"path": "crun"}}`, nil},
		{"JSON duplicate", `{"runtime": "a", "runtime": "b"}`, nil},
		{"JSON trailing", `{"runtime": "a"} {}`, nil},
		{"JSON malformed", `{"runtime": "a"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlat(tt.doc)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("parsed %q, want it left to podlock-runtime-confine", got)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// podlock-runtime-confine reads keys whatever their case: the front leaves
// a configuration whose runtime or indexDir is spelt otherwise to it,
// rather than take another runtime, whose index key would differ.
func TestLoadConfigKeyCase(t *testing.T) {
	for _, doc := range []string{
		"runtime: /usr/bin/crun\n",
		"Runtime: /usr/bin/crun\n",
		"indexdir: /run/x\n",
		`{"RUNTIME": "/usr/bin/crun"}`,
	} {
		file := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PODLOCK_CONFIG", file)
		t.Setenv("PODLOCK_RUNTIME", "")
		t.Setenv("PODLOCK_INDEX_DIR", "")
		c, err := loadConfig()
		exact := doc == "runtime: /usr/bin/crun\n"
		switch {
		case exact && (err != nil || c.runtime != "/usr/bin/crun"):
			t.Errorf("%q: %+v, %v; want runtime /usr/bin/crun", doc, c, err)
		case !exact && err == nil:
			t.Errorf("%q: read as %+v, want it left to podlock-runtime-confine", doc, c)
		}
	}
}
