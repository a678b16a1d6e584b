package index

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kubewarden/podlock/runtime/index/lookup"
)

// rescanAfter bounds how long a new entry can go unseen when the index
// directory's modification time did not change (file systems keep it
// with the clock tick's precision).
const rescanAfter = time.Second

// Reader finds containers in an index directory. It keeps the entries it
// has read, reads the directory again only when a process names no known
// container, and checks that an entry it answers with is still the file
// it read.
type Reader struct {
	dir string

	mu       sync.Mutex
	entries  map[string]cached // by file name
	byLeaf   map[string][]string
	dirMtime time.Time
	scanned  time.Time
}

type cached struct {
	entry Entry
	stamp stamp
}

// NewReader reads the index in dir.
func NewReader(dir string) *Reader {
	return &Reader{dir: dir, entries: map[string]cached{}, byLeaf: map[string][]string{}}
}

// Dir is the index directory.
func (r *Reader) Dir() string { return r.dir }

// Container returns the confined container of a process, given the paths
// of its cgroups (the third field of each line of /proc/PID/cgroup).
func (r *Reader) Container(cgroups []string) (Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := match(cgroups, r.lookup); ok && r.current(e.file) {
		return e, true
	}
	if !r.changed() {
		return Entry{}, false
	}
	if err := r.scan(); err != nil {
		return Entry{}, false
	}
	return match(cgroups, r.lookup)
}

func (r *Reader) lookup(leaf string) []Entry {
	var out []Entry
	for _, name := range r.byLeaf[leaf] {
		out = append(out, r.entries[name].entry)
	}
	return out
}

// current reports whether the entry file name is still the file it was
// read from; a changed one is read again at the next scan.
func (r *Reader) current(name string) bool {
	s, err := lstamp(filepath.Join(r.dir, name))
	if err == nil && s == r.entries[name].stamp {
		return true
	}
	r.drop(name)
	r.scanned = time.Time{}
	return false
}

// changed reports whether the directory may hold entries not read yet.
func (r *Reader) changed() bool {
	fi, err := os.Stat(r.dir)
	if err != nil {
		return false
	}
	return !fi.ModTime().Equal(r.dirMtime) || time.Since(r.scanned) >= rescanAfter
}

// scan reads the entries added or changed since the last scan and forgets
// the removed ones. Entries that cannot be read are left out.
func (r *Reader) scan() error {
	fi, err := os.Stat(r.dir)
	if err != nil {
		return err
	}
	r.dirMtime, r.scanned = fi.ModTime(), time.Now()
	names, err := r.names()
	if err != nil {
		return err
	}
	for name := range r.entries {
		if !names[name] {
			r.drop(name)
		}
	}
	for name := range names {
		file := filepath.Join(r.dir, name)
		if c, ok := r.entries[name]; ok {
			if s, err := lstamp(file); err == nil && s == c.stamp {
				continue
			}
			r.drop(name)
		}
		e, s, err := readEntry(file)
		if err != nil {
			continue
		}
		r.entries[name] = cached{entry: e, stamp: s}
		leaf, _ := e.cgroup()
		r.byLeaf[leaf] = append(r.byLeaf[leaf], name)
	}
	return nil
}

// names lists the entry files of the directory.
func (r *Reader) names() (map[string]bool, error) {
	list, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("container index: %w", err)
	}
	names := map[string]bool{}
	for _, d := range list {
		if id, _, ok := lookup.ParseFileName(d.Name()); ok && lookup.ValidateID(id) == nil {
			names[d.Name()] = true
		}
	}
	return names, nil
}

func (r *Reader) drop(name string) {
	c, ok := r.entries[name]
	if !ok {
		return
	}
	delete(r.entries, name)
	leaf, _ := c.entry.cgroup()
	names := r.byLeaf[leaf]
	for i, n := range names {
		if n == name {
			names = append(names[:i:i], names[i+1:]...)
			break
		}
	}
	if len(names) == 0 {
		delete(r.byLeaf, leaf)
	} else {
		r.byLeaf[leaf] = names
	}
}

// Collect removes the entries of containers that no process belongs to
// any more, given the cgroup paths of every process, and returns them.
// Entries younger than grace are kept: runc puts a container's first
// process in its cgroup only after podlock-runtime has written its entry.
// A container without processes has stopped for good (OCI containers do
// not start twice), so nothing of it is left to attribute.
func (r *Reader) Collect(processes [][]string, grace time.Duration) ([]Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.scan(); errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no container confined yet
	} else if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, cgroups := range processes {
		if e, ok := match(cgroups, r.lookup); ok {
			live[e.ID] = true
		}
	}
	var removed []Entry
	var errs []error
	for name, c := range r.entries {
		if live[c.entry.ID] || time.Since(time.Unix(0, c.stamp.mtime)) < grace {
			continue
		}
		file := filepath.Join(r.dir, name)
		// A container created again with the same ID since the scan
		// has a new entry, which stays.
		if s, err := lstamp(file); err != nil || s != c.stamp {
			continue
		}
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("container index: %w", err))
			continue
		}
		r.drop(name)
		removed = append(removed, c.entry)
	}
	return removed, errors.Join(errs...)
}
