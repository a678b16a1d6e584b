// Package lookup names the entries of podlock's container index and
// answers the one question podlock-runtime's front asks of it on every
// exec and delete: does podlock confine this container? It is kept apart
// from package index so that the front links only the standard library's
// encoding/json, not the landlock packages the entries' owners come from.
package lookup

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kubewarden/podlock/internal/sysread"
)

// Suffix ends every entry file: the temporary files of an atomic write
// (".<name>.<random>") never end so.
const Suffix = ".json"

// MaxEntrySize bounds what is read of one entry; entries are a few
// hundred bytes.
const MaxEntrySize = 16 << 10

// keyLength is the length of a Key: 64 bits in hex.
const keyLength = 16

// Key identifies the namespace of container IDs a command addresses: the
// real runtime and its state root (runc's --root, as given, cleaned;
// empty for the runtime's default). The same ID under another root or
// runtime is another container, and gets another entry.
func Key(realRuntime, root string) string {
	if root != "" {
		root = filepath.Clean(root)
	}
	h := fnv.New64a()
	h.Write([]byte(realRuntime))
	h.Write([]byte{0})
	h.Write([]byte(root))
	return fmt.Sprintf("%016x", h.Sum64())
}

// maxIDLength keeps <ID>.<key>.json within the 255 bytes of a file name.
const maxIDLength = 230

// ValidateID checks that a container ID is one runc accepts (letters,
// digits, '_', '+', '-' and '.', not "." or "..") and fits in a file name.
func ValidateID(id string) error {
	if id == "" || id == "." || id == ".." || len(id) > maxIDLength {
		return fmt.Errorf("container ID %q: want 1 to %d characters, not . or ..", id, maxIDLength)
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_+-.", c)
		if !ok {
			return fmt.Errorf("container ID %q: only letters, digits, '_', '+', '-' and '.' are allowed", id)
		}
	}
	return nil
}

// Remove deletes the entry of container id under key in dir; a missing
// entry is not an error.
func Remove(dir, id, key string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(dir, FileName(id, key)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("container index: %w", err)
	}
	return nil
}

// FileName is the entry file of container id under key: <id>.<key>.json,
// or <id>.json for an entry written without a key (podlock before the
// key existed, and tests of the host-side reader).
func FileName(id, key string) string {
	if key == "" {
		return id + Suffix
	}
	return id + "." + key + Suffix
}

// ParseFileName returns the container ID and key an entry file name
// stands for.
func ParseFileName(name string) (id, key string, ok bool) {
	base, ok := strings.CutSuffix(name, Suffix)
	if !ok || base == "" {
		return "", "", false
	}
	if i := len(base) - keyLength - 1; i > 0 && base[i] == '.' && isHex(base[i+1:]) {
		return base[:i], base[i+1:], true
	}
	return base, "", true
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Found is what the index says of one container.
type Found struct {
	// Indexed: an entry of the same ID, runtime and root exists.
	Indexed bool
	// ExecHelper: the container is confined as a whole, so an exec into
	// it must start its process through the helper.
	ExecHelper bool
	// Elsewhere: no entry under this key, but an entry of the same ID
	// under another key (another spelling of the root, an older podlock):
	// only the container's bundle can tell whether it is confined.
	Elsewhere bool
}

// entry is the part of an index entry the lookup reads.
type entry struct {
	ID         string `json:"id"`
	Key        string `json:"key"`
	ExecHelper bool   `json:"execHelper"`
}

// Find looks container id up in the index directory dir. A missing
// directory means that no container is confined; any other error is
// returned, and the caller must not take the container for unconfined.
func Find(dir, id, key string) (Found, error) {
	file := filepath.Join(dir, FileName(id, key))
	data, err := ReadEntryFile(file)
	switch {
	case err == nil:
		var e entry
		if err := json.Unmarshal(data, &e); err != nil {
			return Found{}, fmt.Errorf("container index: %s: %w", file, err)
		}
		if e.ID != id || e.Key != key {
			return Found{}, fmt.Errorf("container index: %s is the entry of container %q under key %q", file, e.ID, e.Key)
		}
		return Found{Indexed: true, ExecHelper: e.ExecHelper}, nil
	case !errors.Is(err, os.ErrNotExist):
		return Found{}, fmt.Errorf("container index: %w", err)
	}
	names, err := readDirNames(dir)
	if errors.Is(err, os.ErrNotExist) {
		return Found{}, nil
	}
	if err != nil {
		return Found{}, fmt.Errorf("container index: %w", err)
	}
	for _, name := range names {
		if other, _, ok := ParseFileName(name); ok && other == id {
			return Found{Elsewhere: true}, nil
		}
	}
	return Found{}, nil
}

// readDirNames lists the index: at every exec and delete of a container
// of the class that has no entry under its key (a pod's sandbox, a
// container without a profile), so with getdents64(2) alone (see package
// sysread).
func readDirNames(dir string) ([]string, error) {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer syscall.Close(fd)
	names, err := sysread.DirNames(fd)
	if err != nil {
		return nil, &os.PathError{Op: "readdirent", Path: dir, Err: err}
	}
	return names, nil
}

// ReadEntryFile reads one entry file without following a symlink, blocking
// on a FIFO or reading more than MaxEntrySize.
func ReadEntryFile(file string) ([]byte, error) {
	data, _, err := ReadEntryFileStat(file)
	return data, err
}

// ReadEntryFileStat is ReadEntryFile that also returns the file's status,
// from which the reader tells whether the file changed since.
func ReadEntryFileStat(file string) ([]byte, *syscall.Stat_t, error) {
	fd, err := syscall.Open(file, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &os.PathError{Op: "open", Path: file, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, nil, &os.PathError{Op: "stat", Path: file, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, nil, fmt.Errorf("%s: not a regular file", file)
	}
	// Read with read(2) alone: the front reads an entry at every exec
	// and delete (see package sysread).
	data, err := sysread.All(fd, st.Size, MaxEntrySize)
	if errors.Is(err, sysread.ErrTooLarge) {
		return nil, nil, fmt.Errorf("%s: larger than %d bytes", file, MaxEntrySize)
	}
	if err != nil {
		return nil, nil, &os.PathError{Op: "read", Path: file, Err: err}
	}
	return data, &st, nil
}
