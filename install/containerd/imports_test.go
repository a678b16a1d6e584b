package containerd

import (
	"testing"

	"github.com/kubewarden/podlock/install/engine"
)

const entry = "/etc/containerd/conf.d/podlock.toml"

// TestImportsEdits checks the text edits of `imports`: adding the entry
// changes only what it must, and removing it restores the input exactly.
func TestImportsEdits(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{{
		name: "no imports: a line after version",
		in:   "# containerd\nversion = 2\nroot = '/var/lib/containerd'\n\n[plugins]\n",
		want: "# containerd\nversion = 2\n" + `imports = ["/etc/containerd/conf.d/podlock.toml"] # added by podlock-install` + "\nroot = '/var/lib/containerd'\n\n[plugins]\n",
	}, {
		name: "version with a comment",
		in:   "version = 3 # do not change\n",
		want: "version = 3 # do not change\n" + `imports = ["/etc/containerd/conf.d/podlock.toml"] # added by podlock-install` + "\n",
	}, {
		name: "version last, without newline",
		in:   "root = '/x'\nversion = 3",
		want: "root = '/x'\nversion = 3\n" + `imports = ["/etc/containerd/conf.d/podlock.toml"] # added by podlock-install`,
	}, {
		name: "empty array",
		in:   "imports = []\nversion = 2\n",
		want: `imports = ["/etc/containerd/conf.d/podlock.toml"]` + "\nversion = 2\n",
	}, {
		name: "empty array with blanks",
		in:   "version = 3\nimports = [ ]\n",
		want: `version = 3` + "\n" + `imports = ["/etc/containerd/conf.d/podlock.toml" ]` + "\n",
	}, {
		name: "one entry",
		in:   "version = 3\nimports = ['/etc/containerd/gpu.toml']\n",
		want: "version = 3\nimports = ['/etc/containerd/gpu.toml', \"/etc/containerd/conf.d/podlock.toml\"]\n",
	}, {
		name: "multi-line with comments and trailing comma",
		in:   "version = 3\nimports = [\n  \"/a.toml\", # first\n  \"/b.toml\",\n  # end\n]\n[plugins]\n",
		want: "version = 3\nimports = [\n  \"/a.toml\", # first\n  \"/b.toml\",\n  \"/etc/containerd/conf.d/podlock.toml\",\n  # end\n]\n[plugins]\n",
	}, {
		name: "one per line without a trailing comma",
		in:   "version = 3\nimports = [\n  \"/a.toml\",\n  \"/b.toml\"\n]\n",
		want: "version = 3\nimports = [\n  \"/a.toml\",\n  \"/b.toml\", \"/etc/containerd/conf.d/podlock.toml\"\n]\n",
	}, {
		name: "one per line, CRLF",
		in:   "version = 3\r\nimports = [\r\n\t\"/a.toml\",\r\n]\r\n",
		want: "version = 3\r\nimports = [\r\n\t\"/a.toml\",\r\n\t\"/etc/containerd/conf.d/podlock.toml\",\r\n]\r\n",
	}, {
		name: "quoted key",
		in:   "\"imports\" = [\"/a.toml\"]\nversion = 3\n",
		want: "\"imports\" = [\"/a.toml\", \"/etc/containerd/conf.d/podlock.toml\"]\nversion = 3\n",
	}, {
		name: "imports key in a table is not the top-level one",
		in:   "version = 3\n[proxy_plugins.x]\nimports = []\n",
		want: "version = 3\n" + `imports = ["/etc/containerd/conf.d/podlock.toml"] # added by podlock-install` + "\n[proxy_plugins.x]\nimports = []\n",
	}, {
		name: "CRLF",
		in:   "version = 3\r\n[plugins]\r\n",
		want: "version = 3\r\n" + `imports = ["/etc/containerd/conf.d/podlock.toml"] # added by podlock-install` + "\r\n[plugins]\r\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := addImport("config.toml", []byte(tt.in), entry)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("addImport:\n got %q\nwant %q", got, tt.want)
			}
			if _, err := engine.ParseTOML("config.toml", got); err != nil {
				t.Fatalf("result is not valid TOML: %v", err)
			}
			back, removed, err := removeImport("config.toml", got, entry)
			if err != nil {
				t.Fatal(err)
			}
			if !removed || string(back) != tt.in {
				t.Fatalf("removeImport (removed %v):\n got %q\nwant %q", removed, back, tt.in)
			}
		})
	}
}

// TestRemoveImportKeepsOthers checks removal of an entry the administrator
// moved or surrounded with entries of their own.
func TestRemoveImportKeepsOthers(t *testing.T) {
	tests := []struct {
		name, in, want string
		removed        bool
	}{{
		name:    "first of two",
		in:      "imports = [\"/etc/containerd/conf.d/podlock.toml\", \"/b.toml\"]\n",
		want:    "imports = [\"/b.toml\"]\n",
		removed: true,
	}, {
		name:    "middle",
		in:      "imports = [\"/a.toml\", \"/etc/containerd/conf.d/podlock.toml\", \"/b.toml\"]\n",
		want:    "imports = [\"/a.toml\", \"/b.toml\"]\n",
		removed: true,
	}, {
		name:    "on a line of its own, moved by hand",
		in:      "imports = [\n  \"/etc/containerd/conf.d/podlock.toml\",\n  \"/b.toml\",\n]\n",
		want:    "imports = [\n  \"/b.toml\",\n]\n",
		removed: true,
	}, {
		name:    "twice",
		in:      "imports = [\"/etc/containerd/conf.d/podlock.toml\", \"/etc/containerd/conf.d/podlock.toml\"]\n",
		want:    "imports = []\n",
		removed: true,
	}, {
		name: "a glob is not ours to remove",
		in:   "imports = [\"/etc/containerd/conf.d/*.toml\"]\n",
		want: "imports = [\"/etc/containerd/conf.d/*.toml\"]\n",
	}, {
		name: "no imports",
		in:   "version = 3\n",
		want: "version = 3\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, removed, err := removeImport("config.toml", []byte(tt.in), entry)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want || removed != tt.removed {
				t.Fatalf("got %q (removed %v), want %q (removed %v)", got, removed, tt.want, tt.removed)
			}
		})
	}
}
