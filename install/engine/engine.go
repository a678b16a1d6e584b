// Package engine is what the container engines podlock installs into have in
// common: the runtime handler to add, the file changes that adding or
// removing it takes, and writing those changes atomically.
//
// Each engine (install/containerd, install/crio) plans its changes from the
// files on disk in AddRuntime or RemoveRuntime and writes nothing until Save,
// so that a configuration it cannot understand leaves every file untouched,
// and so that a dry run can show the same changes as a diff.
package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/kubewarden/podlock/internal/atomicfile"
)

// Interface is one container engine's configuration.
type Interface interface {
	// AddRuntime plans the changes that make the engine run pods of the
	// runtime's handler with podlock-runtime, replacing any earlier plan.
	AddRuntime(Runtime) error
	// RemoveRuntime plans the changes that undo AddRuntime for a handler,
	// replacing any earlier plan.
	RemoveRuntime(handler string) error
	// Changes returns the planned changes, in the order Save applies them;
	// none when the configuration is already as asked.
	Changes() []Change
	// Save applies the planned changes.
	Save() error
}

// DefaultHandler is the RuntimeClass handler podlock's RuntimeClass names.
const DefaultHandler = "podlock"

// DefaultRuntimePath is where podlock-runtime is installed on nodes.
const DefaultRuntimePath = "/usr/local/bin/podlock-runtime"

// Runtime is the runtime handler to install.
type Runtime struct {
	// Handler is the handler name, as in a RuntimeClass's `handler`.
	Handler string
	// Path is podlock-runtime's absolute path on the host.
	Path string
}

// handlerPattern is what Kubernetes accepts as a RuntimeClass handler (a DNS
// label); it also keeps the name safe in file names and TOML keys.
var handlerPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ValidateHandler checks that a handler name is one a RuntimeClass can use.
func ValidateHandler(handler string) error {
	if len(handler) > 63 || !handlerPattern.MatchString(handler) {
		return fmt.Errorf("handler %q: must be a DNS label (lower-case letters, digits and '-', at most 63 characters), as RuntimeClass handlers are", handler)
	}
	return nil
}

// Validate checks the handler name and the runtime path.
func (r Runtime) Validate() error {
	if err := ValidateHandler(r.Handler); err != nil {
		return err
	}
	return ValidatePath("runtime path", r.Path)
}

// ValidatePath checks that a path written into a configuration file is
// absolute and clean, and has nothing that would need escaping beyond TOML's
// basic quoting: the engines resolve it on the host, not relative to us.
func ValidatePath(what, path string) error {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return fmt.Errorf("%s %q: must be an absolute, clean path", what, path)
	}
	if strings.ContainsFunc(path, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '"' || r == '\\' }) {
		return fmt.Errorf("%s %q: control characters, quotes and backslashes are not supported", what, path)
	}
	return nil
}

// Quote returns s as a TOML basic string. Paths and names are validated
// before they get here, so only the two characters TOML requires escaping
// can need it.
func Quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Change is one file to create, replace or remove.
type Change struct {
	// Name is the file's path on the host, as messages and diffs show it.
	Name string
	// Path is where the file is read and written: Name under the root the
	// host filesystem is mounted at, with symlinks resolved.
	Path string
	// Old is the current content; nil when the file does not exist.
	Old []byte
	// New is the content to write; nil to remove the file.
	New []byte
	// Mode is the permission of a written file: the existing file's, or
	// 0644 for a new one, as the engines' own files are.
	Mode fs.FileMode
}

// Action says what the change does, for messages.
func (c Change) Action() string {
	switch {
	case c.Old == nil:
		return "create"
	case c.New == nil:
		return "remove"
	default:
		return "update"
	}
}

// Diff returns the change as a unified diff.
func (c Change) Diff() string {
	from, to := c.Name, c.Name
	if c.Old == nil {
		from = "/dev/null"
	}
	if c.New == nil {
		to = "/dev/null"
	}
	return UnifiedDiff(from, to, c.Old, c.New)
}

// NewChange returns the change of the host file name, found at path, from
// old to new, or nil when there is none.
func NewChange(name, path string, old, new []byte, mode fs.FileMode) *Change {
	if (old == nil) == (new == nil) && bytes.Equal(old, new) {
		return nil
	}
	if mode == 0 {
		mode = 0o644
	}
	return &Change{Name: name, Path: path, Old: old, New: new, Mode: mode}
}

// ReadFile returns a file's content and permissions, or nil content and no
// error when it does not exist.
func ReadFile(path string) ([]byte, fs.FileMode, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if data == nil {
		// An empty file exists: keep it distinct from a missing one.
		data = []byte{}
	}
	return data, info.Mode().Perm(), nil
}

// Apply writes the changes in order. Each file is replaced atomically (a
// temporary file in the same directory, synced, then renamed over it), so
// an engine that starts at any moment reads either the old or the new
// file, never a truncated one. It stops at the first error.
func Apply(changes []Change) error {
	for _, c := range changes {
		if c.New == nil {
			if err := os.Remove(c.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing %s: %w", c.Path, err)
			}
			if err := syncDir(filepath.Dir(c.Path)); err != nil {
				return err
			}
			continue
		}
		if err := writeAtomic(c.Path, c.New, c.Mode); err != nil {
			return err
		}
	}
	return nil
}

func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := atomicfile.Write(path, data, mode); err != nil {
		return err
	}
	// The engine may be restarted right after: make the rename durable.
	return syncDir(dir)
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// Marker starts every drop-in file the installer writes: a file without it
// was written by someone else and is never replaced or removed.
const Marker = "# Written by podlock-install"

// IsOurs tells whether a drop-in file was written by the installer.
func IsOurs(content []byte) bool {
	return bytes.HasPrefix(content, []byte(Marker))
}

// ErrForeignFile is returned when a file the installer would write or remove
// exists but was not written by it.
var ErrForeignFile = errors.New("not written by podlock-install")

// ReadDropIn returns the content and permissions of the handler's drop-in,
// a host path, under root; nil content when it does not exist. A file that
// someone else wrote is refused.
func ReadDropIn(root, dropIn string) ([]byte, fs.FileMode, error) {
	data, mode, err := ReadFile(Under(root, dropIn))
	if err != nil {
		return nil, 0, err
	}
	if data != nil && !IsOurs(data) {
		return nil, 0, fmt.Errorf("%s exists and is %w: move it away or choose another handler name", dropIn, ErrForeignFile)
	}
	return data, mode, nil
}

// Under returns the path where a host path is found when the host's root
// filesystem is mounted at root ("/" for this machine's own).
func Under(root, path string) string {
	if root == "" || root == "/" {
		return path
	}
	return filepath.Join(root, path)
}

// Resolve returns where a host file is found under root, following
// symlinks at the file itself as the host would: an absolute target is a
// host path, so under root too. Editing the target keeps a symlinked
// configuration file (to a copy a management tool owns, say) a symlink.
func Resolve(root, path string) (string, error) {
	for range 40 {
		target, err := os.Readlink(Under(root, path))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EINVAL) {
			// Missing, or not a symlink.
			return Under(root, path), nil
		}
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", path, err)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = filepath.Clean(target)
	}
	return "", fmt.Errorf("reading %s: too many levels of symbolic links", path)
}
