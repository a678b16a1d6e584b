package index

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubewarden/podlock/landlock"
)

func entry(id, cgroupsPath, pod string) Entry {
	return Entry{ID: id, Bundle: "/run/bundles/" + id, CgroupsPath: cgroupsPath,
		Owner: landlock.Owner{Namespace: "default", Pod: pod, Container: "app", Profile: "demo"}}
}

func TestMatch(t *testing.T) {
	const (
		web = "0123abcd"
		db  = "4567ef01"
	)
	entries := []Entry{
		entry(web, "/kubepods/besteffort/pod1111/"+web, "web"),
		entry(db, "kubepods-burstable-pod2222.slice:cri-containerd:"+db, "db"),
		entry("plain", "", "plain"),
		entry("twin-a", "/a/twin", "twin-a"),
		entry("twin-b", "/b/twin", "twin-b"),
	}
	byLeaf := func(leaf string) []Entry {
		var out []Entry
		for _, e := range entries {
			if l, _ := e.cgroup(); l == leaf {
				out = append(out, e)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		cgroups []string
		want    string // pod, "" for none
	}{
		{"cgroupfs, every hierarchy", []string{"/kubepods/besteffort/pod1111/" + web, "/kubepods/besteffort/pod1111/" + web}, "web"},
		{"systemd scope", []string{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2222.slice/cri-containerd-" + db + ".scope"}, "db"},
		{"plain runc below its caller's cgroup", []string{"/user.slice/session-1.scope/plain"}, "plain"},
		{"a hierarchy runc does not use", []string{"/", "/kubepods/besteffort/pod1111/" + web}, "web"},
		{"seen from a cgroup namespace", []string{"/../../besteffort/pod1111/" + web}, "web"},
		{"namespace root is the pod", []string{"/" + web}, "web"},
		{"a cgroup the container made below its own", []string{"/kubepods/besteffort/pod1111/" + web + "/" + db}, "web"},
		{"named like a container, elsewhere", []string{"/kubepods/besteffort/pod3333/unconfined/" + web}, ""},
		{"named like a container below an unconfined one", []string{"/kubepods/besteffort/pod3333/" + web}, ""},
		{"systemd scope in another slice", []string{"/kubepods.slice/other.slice/cri-containerd-" + db + ".scope"}, ""},
		{"hierarchies that disagree", []string{"/kubepods/besteffort/pod1111/" + web, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2222.slice/cri-containerd-" + db + ".scope"}, ""},
		{"one leaf, two containers told apart by parent", []string{"/b/twin"}, "twin-b"},
		{"one leaf, two containers, no parent shown", []string{"/twin"}, ""},
		{"no container", []string{"/system.slice/containerd.service"}, ""},
		{"no cgroups", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, ok := match(tc.cgroups, byLeaf)
			if got := e.Owner.Pod; ok != (tc.want != "") || got != tc.want {
				t.Errorf("match = %q %v, want %q", got, ok, tc.want)
			}
		})
	}
}

func TestCgroup(t *testing.T) {
	for _, tc := range []struct {
		id, path string
		leaf     string
		parents  []string
	}{
		{"c1", "", "c1", nil},
		{"c1", "/kubepods/pod1/c1", "c1", []string{"kubepods", "pod1"}},
		{"c1", "relative/c1", "c1", []string{"relative"}},
		{"c1", "pod.slice:cri-containerd:c1", "cri-containerd-c1.scope", []string{"pod.slice"}},
		{"c1", ":runc:c1", "runc-c1.scope", nil},
		{"c1", "pod.slice::c1", "c1.scope", []string{"pod.slice"}},
		{"c1", "system.slice::my.slice", "my.slice", []string{"system.slice"}},
		{"c1", "/", "c1", nil},
	} {
		leaf, parents := Entry{ID: tc.id, CgroupsPath: tc.path}.cgroup()
		if leaf != tc.leaf || strings.Join(parents, "/") != strings.Join(tc.parents, "/") {
			t.Errorf("%q: leaf %q parents %q, want %q %q", tc.path, leaf, parents, tc.leaf, tc.parents)
		}
	}
}

// Only regular files of the right name and size, read without following
// a symlink or blocking on a FIFO, are entries.
func TestReadEntry(t *testing.T) {
	dir := t.TempDir()
	good := entry("good", "", "web")
	if err := Write(dir, good); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "good.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("entry file: %v %v, want mode 0600", fi.Mode(), err)
	}
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("typechanged.json", `{"id":"typechanged","bundle":"/b","owner":{"namespace":"ns","container":"app","seccomp":["a","b"],"future":1}}`)
	write("renamed.json", `{"id":"other","bundle":"/b","owner":{"namespace":"ns","container":"app"}}`)
	write("noowner.json", `{"id":"noowner","bundle":"/b"}`)
	write("big.json", `{"id":"big","bundle":"`+strings.Repeat("x", maxEntrySize)+`","owner":{"namespace":"ns","container":"app"}}`)
	write("broken.json", `{"id":`)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("good.json", filepath.Join(dir, "link.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.json")); err != nil {
		t.Fatal(err)
	}
	for name, wantErr := range map[string]string{
		"good.json":        "",
		"typechanged.json": "",
		"renamed.json":     `entry of container "other"`,
		"noowner.json":     "no pod namespace",
		"big.json":         "larger than",
		"broken.json":      "unexpected end",
		"fifo.json":        "not a regular file",
		"link.json":        "too many levels of symbolic links",
		"zero.json":        "too many levels of symbolic links",
	} {
		e, _, err := readEntry(filepath.Join(dir, name))
		if wantErr == "" {
			if err != nil || e.Owner.Container != "app" {
				t.Errorf("%s: %+v %v", name, e, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: error %v, want %q", name, err, wantErr)
		}
	}
}

func TestWriteRefusesBadIDs(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"../escape", "a/b", ".."} {
		if err := Write(dir, entry(id, "", "web")); err == nil {
			t.Errorf("Write accepted ID %q", id)
		}
	}
	if list, _ := os.ReadDir(dir); len(list) != 0 {
		t.Errorf("files written: %v", list)
	}
}

func TestReader(t *testing.T) {
	dir := t.TempDir()
	r := NewReader(dir)
	web := []string{"/kubepods/pod1/web"}
	if _, ok := r.Container(web); ok {
		t.Fatal("found a container in an empty index")
	}
	if err := Write(dir, entry("web", "/kubepods/pod1/web", "first")); err != nil {
		t.Fatal(err)
	}
	r.scanned = r.scanned.Add(-rescanAfter) // as if the directory's mtime had not moved
	if e, ok := r.Container(web); !ok || e.Owner.Pod != "first" {
		t.Fatalf("new entry: %+v %v", e, ok)
	}
	// The same ID again (a runc container created anew): the new entry.
	if err := Write(dir, entry("web", "/kubepods/pod1/web", "second")); err != nil {
		t.Fatal(err)
	}
	if e, ok := r.Container(web); !ok || e.Owner.Pod != "second" {
		t.Fatalf("rewritten entry: %+v %v", e, ok)
	}
	if err := os.Remove(filepath.Join(dir, "web.json")); err != nil {
		t.Fatal(err)
	}
	if e, ok := r.Container(web); ok {
		t.Fatalf("removed entry still found: %+v", e)
	}
}

// The entries of containers that no process is in any more are removed,
// unless they were just written.
func TestCollect(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "containers")
	r := NewReader(dir)
	if removed, err := r.Collect(nil, 0); err != nil || len(removed) != 0 {
		t.Fatalf("collect without an index: %v %v", removed, err)
	}
	for _, id := range []string{"running", "stopped", "new"} {
		if err := Write(dir, entry(id, "/kubepods/pod1/"+id, id)); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	for _, id := range []string{"running", "stopped"} {
		if err := os.Chtimes(filepath.Join(dir, id+".json"), old, old); err != nil {
			t.Fatal(err)
		}
	}
	processes := [][]string{
		{"/kubepods/pod1/running", "/kubepods/pod1/running"},
		{"/system.slice/containerd.service"},
		// A cgroup named like a container, elsewhere, keeps nothing.
		{"/kubepods/pod2/other/stopped"},
	}
	removed, err := r.Collect(processes, time.Minute)
	if err != nil || len(removed) != 1 || removed[0].ID != "stopped" {
		t.Fatalf("removed %+v, %v; want the entry of stopped", removed, err)
	}
	list, _ := os.ReadDir(dir)
	var left []string
	for _, d := range list {
		left = append(left, d.Name())
	}
	if strings.Join(left, " ") != "new.json running.json" {
		t.Errorf("left %q", left)
	}
	if _, ok := r.Container([]string{"/kubepods/pod1/stopped"}); ok {
		t.Error("a removed entry is still found")
	}
}
