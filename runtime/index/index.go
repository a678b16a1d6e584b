// Package index is podlock-runtime's record, on the host, of the containers
// it confines: one small file per container in a root-only directory,
// written at create. podlock-node reads it to tell whose a process is from
// facts the kernel keeps (the cgroups in /proc/PID/cgroup), never from
// anything a container can write.
package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/internal/atomicfile"
	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/runtime/index/lookup"
)

// DefaultDir is where podlock-runtime keeps the index unless configured
// otherwise: under /run, since no container outlives a reboot.
const DefaultDir = "/run/podlock/containers"

// Entry is what the index knows of one confined container.
type Entry struct {
	// ID is the container's ID, the argument of runc's create.
	ID string `json:"id"`
	// Bundle is the container's bundle directory on the host, for
	// operators.
	Bundle string `json:"bundle"`
	// CgroupsPath is config.json's linux.cgroupsPath: where runc puts the
	// container's processes. Empty: a cgroup named after ID below runc's.
	CgroupsPath string `json:"cgroupsPath,omitempty"`
	// Owner is the pod, the container and the profiles that confine it.
	Owner landlock.Owner `json:"owner"`
	// Key is lookup.Key of the real runtime and state root the container
	// was created with: the same ID elsewhere is another container.
	Key string `json:"key,omitempty"`
	// ExecHelper: the container is confined as a whole, and an exec into
	// it starts its process through the helper.
	ExecHelper bool `json:"execHelper,omitempty"`

	// file is the entry's file name in the index.
	file string
}

// maxEntrySize bounds what is read of one entry.
const maxEntrySize = lookup.MaxEntrySize

// Write records e in dir, replacing any entry of the same ID and key. dir is
// created root-only; the write costs one small file and a rename, no disk
// flush: the index describes running containers, which a reboot ends.
func Write(dir string, e Entry) error {
	if err := lookup.ValidateID(e.ID); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("container index: %w", err)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("container index: encoding %s: %w", e.ID, err)
	}
	if err := atomicfile.WriteVolatile(filepath.Join(dir, lookup.FileName(e.ID, e.Key)), data, 0o600); err != nil {
		return fmt.Errorf("container index: %w", err)
	}
	return nil
}

// stamp tells whether an entry file changed since it was read.
type stamp struct {
	ino, size, mtime int64
}

func stampOf(st *unix.Stat_t) stamp {
	return stamp{ino: int64(st.Ino), size: st.Size, mtime: st.Mtim.Nano()}
}

func stampOfSyscall(st *syscall.Stat_t) stamp {
	return stamp{ino: int64(st.Ino), size: st.Size, mtime: st.Mtim.Nano()}
}

func lstamp(file string) (stamp, error) {
	var st unix.Stat_t
	if err := unix.Lstat(file, &st); err != nil {
		return stamp{}, err
	}
	return stampOf(&st), nil
}

// readEntry reads one entry file without following a symlink, blocking on
// a FIFO or reading more than maxEntrySize. Fields whose type changed
// between podlock versions are left empty rather than losing the entry.
func readEntry(file string) (Entry, stamp, error) {
	id, key, ok := lookup.ParseFileName(filepath.Base(file))
	if !ok {
		return Entry{}, stamp{}, fmt.Errorf("%s: not the name of an index entry", file)
	}
	data, st, err := lookup.ReadEntryFileStat(file)
	if err != nil {
		return Entry{}, stamp{}, err
	}
	var e Entry
	var typeErr *json.UnmarshalTypeError
	if err := json.Unmarshal(data, &e); err != nil && !errors.As(err, &typeErr) {
		return Entry{}, stamp{}, fmt.Errorf("%s: %w", file, err)
	}
	if e.ID != id || e.Key != key {
		return Entry{}, stamp{}, fmt.Errorf("%s: entry of container %q under key %q, want %q under %q", file, e.ID, e.Key, id, key)
	}
	if e.Owner.Namespace == "" || e.Owner.Container == "" {
		return Entry{}, stamp{}, fmt.Errorf("%s: no pod namespace or container name", file)
	}
	e.file = filepath.Base(file)
	return e, stampOfSyscall(st), nil
}

// cgroup returns the last component of the cgroup runc puts the
// container's processes in, and the components above it that the entry
// determines (nearest last). runc reads linux.cgroupsPath as a path
// (cgroupfs driver) or as "slice:prefix:name" (systemd driver).
func (e Entry) cgroup() (leaf string, parents []string) {
	p := e.CgroupsPath
	if p == "" {
		return e.ID, nil
	}
	if fields := strings.Split(p, ":"); len(fields) == 3 && !strings.HasPrefix(p, "/") {
		slice, prefix, name := fields[0], fields[1], fields[2]
		if slice != "" {
			parents = []string{slice}
		}
		switch {
		case strings.HasSuffix(name, ".slice"):
			return name, parents
		case prefix == "":
			return name + ".scope", parents
		}
		return prefix + "-" + name + ".scope", parents
	}
	parts := components(p)
	if len(parts) == 0 {
		return e.ID, nil
	}
	return parts[len(parts)-1], parts[:len(parts)-1]
}

func components(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// match finds the container whose cgroup holds a process, given the paths
// of its cgroups (one per hierarchy, as /proc/PID/cgroup lists them) and
// the entries by cgroup leaf. In each path, the outermost component that
// is some container's leaf decides: a container can create cgroups only
// below its own, so an inner one naming another container proves nothing.
// The components above it must be the entry's parents as far as the path
// shows them (a cgroup namespace hides what is above its root as ".."),
// so that a cgroup named like a container elsewhere does not pass for it.
// Every path that names a container must name the same one.
func match(cgroups []string, byLeaf func(leaf string) []Entry) (Entry, bool) {
	var found *Entry
	for _, path := range cgroups {
		e, named, ok := matchPath(components(path), byLeaf)
		if !named {
			continue
		}
		if !ok || found != nil && found.ID != e.ID {
			return Entry{}, false
		}
		found = &e
	}
	if found == nil {
		return Entry{}, false
	}
	return *found, true
}

// matchPath returns the container of one cgroup path; named reports
// whether the path names any container at all.
func matchPath(parts []string, byLeaf func(string) []Entry) (e Entry, named, ok bool) {
	for i, c := range parts {
		candidates := byLeaf(c)
		if len(candidates) == 0 {
			continue
		}
		var hits []Entry
		for _, cand := range candidates {
			if _, parents := cand.cgroup(); parentsMatch(parts[:i], parents) {
				hits = append(hits, cand)
			}
		}
		if len(hits) != 1 {
			return Entry{}, true, false
		}
		return hits[0], true, true
	}
	return Entry{}, false, false
}

// parentsMatch compares the components above a leaf with what the entry
// says they are, nearest first, as far as both go.
func parentsMatch(above, parents []string) bool {
	for k := 1; k <= len(parents) && k <= len(above); k++ {
		got := above[len(above)-k]
		if got == ".." {
			return true
		}
		if got != parents[len(parents)-k] {
			return false
		}
	}
	return true
}
