package landlock

import (
	"errors"
	"fmt"
	"path"

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/internal/sysread"
)

// MaxPolicySize bounds policy.json: the runtime refuses to write a bigger
// one, and the helper to read it.
const MaxPolicySize = 4 << 20

// StateDir is Dir as the helper finds it inside a container. Everything in
// the container's filesystem but podlock's own read-only mount is the
// container's to change, so the helper reads its instructions only from
// that mount, and only through paths that cannot be symlinks.
type StateDir struct {
	fd int
}

// ErrNotPodlockDir means Dir is not the mount podlock-runtime made: the
// image or a mount of the pod's put something else there.
var ErrNotPodlockDir = errors.New("not podlock's read-only mount")

// OpenStateDir opens Dir, refusing a symlink anywhere on the way, a
// directory that is not the root of a mount, and a mount that is writable.
func OpenStateDir() (*StateDir, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, Dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%s is a symlink: %w", Dir, ErrNotPodlockDir)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", Dir, err)
	}
	d := &StateDir{fd: fd}
	if err := d.check(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *StateDir) check() error {
	var stx unix.Statx_t
	if err := unix.Statx(d.fd, "", unix.AT_EMPTY_PATH, unix.STATX_TYPE, &stx); err != nil {
		return fmt.Errorf("inspecting %s: %w", Dir, err)
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		// Linux 5.8 and later report it, and Landlock ABI 3 needs 6.2.
		return fmt.Errorf("inspecting %s: the kernel does not say whether it is a mount", Dir)
	}
	if stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return fmt.Errorf("%s is not a mount point: %w", Dir, ErrNotPodlockDir)
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(d.fd, &fs); err != nil {
		return fmt.Errorf("inspecting %s: %w", Dir, err)
	}
	if fs.Flags&unix.ST_RDONLY == 0 {
		return fmt.Errorf("%s is a writable mount: %w", Dir, ErrNotPodlockDir)
	}
	return nil
}

// Close releases the directory.
func (d *StateDir) Close() error { return unix.Close(d.fd) }

// ReadFile reads the regular file name of the directory, of at most max
// bytes. It never blocks on a FIFO, nor follows a symlink.
func (d *StateDir) ReadFile(name string, max int64) ([]byte, error) {
	file := path.Join(Dir, name)
	fd, err := unix.Openat2(d.fd, name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%s is a symlink: %w", file, ErrNotPodlockDir)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", file, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", file, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s is not a regular file: %w", file, ErrNotPodlockDir)
	}
	// read(2) alone: the helper runs at every confined start (see
	// package sysread).
	data, err := sysread.All(fd, st.Size, max)
	if errors.Is(err, sysread.ErrTooLarge) {
		return nil, fmt.Errorf("%s is larger than %d bytes: %w", file, max, ErrNotPodlockDir)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return data, nil
}

// ReadPolicy reads the policy of the directory for the helper started as
// self: of the listed binaries, only self's rules are decoded.
func (d *StateDir) ReadPolicy(self string) (*Policy, error) {
	data, err := d.ReadFile(path.Base(PolicyPath), MaxPolicySize)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	return parsePolicyFor(data, PolicyPath, self)
}
