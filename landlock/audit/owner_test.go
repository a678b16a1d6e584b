package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubewarden/podlock/landlock"
)

// fakeProc writes a /proc with a boot time and processes by PID: their
// start time in clock ticks and their cgroup paths.
func fakeProc(t *testing.T, boot int64, procs map[int]struct {
	start   int
	cgroups []string
}) string {
	t.Helper()
	root := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("stat", fmt.Sprintf("cpu 1 2 3 4\nbtime %d\nprocesses 7\n", boot))
	for pid, p := range procs {
		// The comm field may hold spaces and parentheses.
		fields := []string{"S", "1"}
		for len(fields) < 19 {
			fields = append(fields, "0")
		}
		fields = append(fields, fmt.Sprint(p.start))
		for len(fields) < 50 {
			fields = append(fields, "0")
		}
		write(fmt.Sprintf("%d/stat", pid), fmt.Sprintf("%d (evil) (x) %s\n", pid, strings.Join(fields, " ")))
		var lines []string
		for i, c := range p.cgroups {
			lines = append(lines, fmt.Sprintf("%d:ctl%d:%s", i, i, c))
		}
		write(fmt.Sprintf("%d/cgroup", pid), strings.Join(lines, "\n")+"\n")
	}
	return root
}

func TestCgroupOwner(t *testing.T) {
	web := landlock.Owner{Namespace: "default", Pod: "web", Container: "app"}
	root := fakeProc(t, 1000, map[int]struct {
		start   int
		cgroups []string
	}{
		10: {start: 500, cgroups: []string{"/kubepods/pod1/web", "/"}}, // started at 1005 s
	})
	var asked [][]string
	ownerOf, err := CgroupOwner(root, func(cgroups []string) (landlock.Owner, bool) {
		asked = append(asked, cgroups)
		return web, slices.Contains(cgroups, "/kubepods/pod1/web")
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pid  int
		at   int64
		want bool
	}{
		{"running since before the record", 10, 1010, true},
		{"started just before the record, by the rounded boot time", 10, 1004, true},
		{"started after the record: the PID was reused", 10, 1001, false},
		{"gone", 11, 1010, false},
	} {
		o, ok := ownerOf(tc.pid, time.Unix(tc.at, 0))
		if ok != tc.want || ok && o != web {
			t.Errorf("%s: owner %+v %v, want %v", tc.name, o, ok, tc.want)
		}
	}
	if len(asked) == 0 || !slices.Equal(asked[0], []string{"/kubepods/pod1/web", "/"}) {
		t.Errorf("cgroups looked up: %q", asked)
	}
}

// On the real /proc, a process's cgroups are those it lists itself.
func TestCgroupOwnerSelf(t *testing.T) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skip(err)
	}
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		want = append(want, strings.SplitN(line, ":", 3)[2])
	}
	var got []string
	ownerOf, err := CgroupOwner("/proc", func(cgroups []string) (landlock.Owner, bool) {
		got = cgroups
		return landlock.Owner{Container: "self"}, true
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ownerOf(os.Getpid(), time.Now()); !ok || !slices.Equal(got, want) {
		t.Errorf("owner found %v from cgroups %q, want %q", ok, got, want)
	}
}
