package compile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// root resolves paths inside a container's root filesystem the way the
// kernel will once the container runs: symlinks, absolute or relative, never
// lead out of it. Image contents are hostile, so every lookup goes through
// openat2(RESOLVE_IN_ROOT) rather than through path joins on the host.
type root struct {
	fd   int
	path string // host path of the rootfs, symlinks resolved
	// dirs caches canonical's resolution of directories.
	dirs map[string]resolvedDir
	// loadables caches loadable's answers: every ruleset of a listed
	// binary and every binary linked to the same file (busybox's
	// applets) needs the same ones, and each costs opens and an ELF parse.
	loadables map[string][]string
	// openDirs are the directories lookup keeps open (see openDir).
	openDirs map[string]openDir
}

func openRoot(dir string) (*root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening container rootfs: %w", err)
	}
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("resolving container rootfs: %w", err)
	}
	return &root{fd: fd, path: real}, nil
}

func (r *root) Close() error {
	for _, d := range r.openDirs {
		unix.Close(d.fd)
	}
	return unix.Close(r.fd)
}

func (r *root) open(p string, flags uint64) (int, error) {
	rel := strings.TrimLeft(p, "/")
	if rel == "" {
		rel = "." // the root itself: the directory of /server
	}
	for {
		fd, err := unix.Openat2(r.fd, rel, &unix.OpenHow{
			Flags:   flags | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue // a concurrent rename elsewhere on the host
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: p, Err: err}
		}
		return fd, nil
	}
}

// containerPath turns an open file of the rootfs into its canonical path in
// the container.
func (r *root) containerPath(fd int) (string, error) {
	host, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", err
	}
	if host == r.path {
		return "/", nil
	}
	rel, ok := strings.CutPrefix(host, strings.TrimSuffix(r.path, "/")+"/")
	if !ok {
		return "", fmt.Errorf("%s resolved outside the container rootfs", host)
	}
	return "/" + rel, nil
}

// entry is a path in the container as the kernel would see it.
type entry struct {
	// Path is canonical up to its last component, which is kept even when
	// it is a symlink: that is the name a binary is started by.
	Path string
	// Mode is the type and permission bits of Path itself (lstat).
	Mode uint32
	// Target is the canonical path of the file Path finally resolves to,
	// and TargetMode its mode.
	Target     string
	TargetMode uint32
}

func (e entry) IsSymlink() bool { return e.Mode&unix.S_IFMT == unix.S_IFLNK }

// lookup resolves p inside the root.
func (r *root) lookup(p string) (entry, error) {
	dir, base := path.Split(path.Clean(p))
	if base == "" || base == "/" {
		return entry{}, fmt.Errorf("%s: not a file", p)
	}
	dirFD, canonDir, kept, err := r.openDir(dir)
	if err != nil {
		return entry{}, err
	}
	if !kept {
		defer unix.Close(dirFD)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirFD, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return entry{}, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	e := entry{Path: path.Join(canonDir, base), Mode: st.Mode, Target: path.Join(canonDir, base), TargetMode: st.Mode}
	if e.IsSymlink() {
		fd, err := r.open(p, unix.O_PATH)
		if err != nil {
			return entry{}, err
		}
		defer unix.Close(fd)
		if e.Target, err = r.containerPath(fd); err != nil {
			return entry{}, err
		}
		if err := unix.Fstat(fd, &st); err != nil {
			return entry{}, &os.PathError{Op: "stat", Path: p, Err: err}
		}
		e.TargetMode = st.Mode
	}
	return e, nil
}

// openDir opens a directory of the root and returns its canonical path.
// The descriptors of the first maxOpenDirs directories stay open until
// Close (kept is true): binaries and libraries come from a few
// directories, and each lookup would otherwise open and name its
// directory again. The caller closes a descriptor that is not kept.
func (r *root) openDir(dir string) (fd int, canon string, kept bool, err error) {
	if d, ok := r.openDirs[dir]; ok {
		return d.fd, d.canon, true, nil
	}
	if fd, err = r.open(dir, unix.O_PATH|unix.O_DIRECTORY); err != nil {
		return -1, "", false, err
	}
	if canon, err = r.containerPath(fd); err != nil {
		unix.Close(fd)
		return -1, "", false, err
	}
	if len(r.openDirs) == maxOpenDirs {
		return fd, canon, false, nil
	}
	if r.openDirs == nil {
		r.openDirs = map[string]openDir{}
	}
	r.openDirs[dir] = openDir{fd: fd, canon: canon}
	return fd, canon, true, nil
}

const maxOpenDirs = 64

type openDir struct {
	fd    int
	canon string
}

// imageFile is a regular file of the root, open for reading, and its size
// when it was opened: what podlock parses of it stays within that size even
// if a running container makes the file grow.
type imageFile struct {
	*os.File
	size int64
}

// content is what may be read of the file.
func (f *imageFile) content() *io.SectionReader { return io.NewSectionReader(f.File, 0, f.size) }

// readFile opens a regular file of the root for reading, following symlinks
// inside the root only. Anything else is an error that names the path and
// its type: the kernel executes nothing but regular files, opening a FIFO
// blocks until a writer comes, and opening a device node runs its driver on
// the host. So the file is first reached through an O_PATH descriptor,
// which opens nothing, and reopened for reading, without blocking, only
// once fstat says it is regular: the reopened file is the same inode,
// whatever the container does to the path meanwhile.
func (r *root) readFile(p string) (*imageFile, error) {
	pathFD, err := r.open(p, unix.O_PATH)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pathFD)
	var st unix.Stat_t
	if err := unix.Fstat(pathFD, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s is %s, not a regular file: the kernel executes only regular files, and podlock reads nothing else from an image", p, fileType(st.Mode))
	}
	// O_NONBLOCK also keeps a lease that a running container holds on
	// its file from stalling the open.
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(pathFD), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return &imageFile{File: os.NewFile(uintptr(fd), p), size: st.Size}, nil
}

// fileType names the type of a file mode for an error message.
func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFLNK:
		return "a symlink"
	}
	return fmt.Sprintf("of type %#o", mode&unix.S_IFMT)
}

// lookPath finds a program as execve(2) in the container would after a
// PATH search, the way runc resolves process.args[0].
func (r *root) lookPath(name, pathEnv, cwd string) (entry, error) {
	if strings.Contains(name, "/") {
		if !path.IsAbs(name) {
			name = path.Join(cwd, name)
		}
		return r.lookup(name)
	}
	for _, dir := range strings.Split(pathEnv, ":") {
		if dir == "" {
			dir = cwd
		}
		e, err := r.lookup(path.Join(dir, name))
		if err == nil && e.TargetMode&unix.S_IFMT == unix.S_IFREG && e.TargetMode&0o111 != 0 {
			return e, nil
		}
	}
	return entry{}, fmt.Errorf("%q not found in PATH %q", name, pathEnv)
}
