package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPodlockDir(t *testing.T) {
	for _, tc := range []struct {
		name   string
		image  map[string]string // path in the rootfs -> "dir", "file" or "-> target"
		mounts []string
		want   string // in the error; "" for none
	}{
		{name: "absent"},
		{name: "empty directory", image: map[string]string{".podlock": "dir"}},
		{name: "mounts elsewhere", mounts: []string{"/proc", "/etc/hostname", "/data", "relative", "/.podlocked"}},
		{name: "symlink", image: map[string]string{".podlock": "-> /tmp/l"}, want: "the image has /.podlock, a symlink"},
		{name: "dangling symlink", image: map[string]string{".podlock": "-> nowhere"}, want: "the image has /.podlock, a symlink"},
		{name: "file", image: map[string]string{".podlock": "file"}, want: "the image has /.podlock, a regular file"},
		{name: "not empty", image: map[string]string{".podlock/x": "file"}, want: "a directory that is not empty"},
		{name: "mount at", mounts: []string{"/.podlock"}, want: "mount at /.podlock is at or under /.podlock"},
		{name: "mount under", mounts: []string{"/.podlock/helper"}, want: "mount at /.podlock/helper is at or under"},
		{name: "mount not clean", mounts: []string{"/tmp/../.podlock//x"}, want: "mount at /tmp/../.podlock//x is at or under"},
		{name: "mount at the root", mounts: []string{"/"}, want: "mount at / is at or under"},
		{name: "mount through a symlink", image: map[string]string{"data": "-> .podlock"}, mounts: []string{"/data"}, want: "mount at /data resolves to /.podlock in the image"},
		{name: "mount through a relative escape", image: map[string]string{"a/b": "-> ../../../../.podlock"}, mounts: []string{"/a/b/c"}, want: "mount at /a/b/c resolves to /.podlock/c"},
		{name: "mount through a symlink to the root", image: map[string]string{"data": "-> /"}, mounts: []string{"/data"}, want: "mount at /data resolves to / in the image"},
		{name: "mount through a symlink elsewhere", image: map[string]string{"data": "-> /srv"}, mounts: []string{"/data/x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rootfs := t.TempDir()
			for p, what := range tc.image {
				file := filepath.Join(rootfs, p)
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				var err error
				switch {
				case what == "dir":
					err = os.Mkdir(file, 0o755)
				case what == "file":
					err = os.WriteFile(file, nil, 0o644)
				default:
					err = os.Symlink(strings.TrimPrefix(what, "-> "), file)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			err := checkPodlockDir(rootfs, tc.mounts)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("checkPodlockDir() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("checkPodlockDir() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
