package compile

import (
	"errors"
	"os"
	"path"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// canonical returns the path p will have in the running container: the
// image's symlinks resolved inside the rootfs the way runc resolves mount
// destinations (dangling ones too), and what does not exist in the image
// as written (a volume's mount point, a file the container creates
// later). The helper opens rule paths without following symlinks that
// lead out of their directory, so a rule must name the file itself, and a
// symlink planted after create grants nothing.
//
// Profiles list many paths under the same directories: the resolution of
// each directory is kept (r.dirs), and a path is its directory's
// resolution plus its last component, unless that component is a symlink,
// which is resolved in full. That is what a resolution component by
// component gives, at one lstat per path instead of one per component,
// and none beneath a directory the image does not have: make bench
// measured it at most of the compile time of a profile of 10,000 paths.
func (r *root) canonical(p string) (string, error) {
	clean := path.Clean("/" + p)
	if clean != p || clean == "/" {
		return r.secureJoin(p) // another spelling: resolve in full
	}
	dir, base := path.Split(clean)
	parent, err := r.canonicalDir(path.Clean(dir))
	if err != nil {
		return "", err
	}
	if parent.full {
		return r.secureJoin(p)
	}
	joined := path.Join(parent.path, base)
	if parent.missing {
		return joined, nil
	}
	switch kind, err := r.lstatKind(joined); {
	case err != nil:
		return "", err
	case kind == unix.S_IFLNK:
		return r.secureJoin(p)
	}
	return joined, nil
}

// resolvedDir is a directory of the container as canonical resolved it.
type resolvedDir struct {
	path string
	// missing: the image has nothing there, so nothing beneath it is a
	// symlink.
	missing bool
	// full: a symlink loop; what is beneath is resolved in full.
	full bool
}

func (r *root) canonicalDir(dir string) (resolvedDir, error) {
	if dir == "/" {
		return resolvedDir{path: "/"}, nil
	}
	if d, ok := r.dirs[dir]; ok {
		return d, nil
	}
	parentDir, base := path.Split(dir)
	parent, err := r.canonicalDir(path.Clean(parentDir))
	if err != nil {
		return resolvedDir{}, err
	}
	d := resolvedDir{path: path.Join(parent.path, base), missing: parent.missing}
	if parent.full {
		return parent, nil
	}
	if !parent.missing {
		kind, err := r.lstatKind(d.path)
		switch {
		case err != nil:
			return resolvedDir{}, err
		case kind == 0:
			d.missing = true
		case kind == unix.S_IFLNK:
			if d.path, err = r.secureJoin(dir); err != nil {
				return resolvedDir{}, err
			}
			if kind, err = r.lstatKind(d.path); err != nil {
				return resolvedDir{}, err
			}
			// A loop resolves to the path as written, which may
			// itself be the symlink: resolve its children in full.
			d.missing, d.full = kind == 0, kind == unix.S_IFLNK
		}
	}
	if r.dirs == nil {
		r.dirs = map[string]resolvedDir{}
	}
	r.dirs[dir] = d
	return d, nil
}

// lstatKind returns the file type of a container path (unix.S_IFMT bits),
// or 0 when the image has nothing there.
func (r *root) lstatKind(p string) (uint32, error) {
	var st unix.Stat_t
	err := unix.Lstat(r.path+p, &st)
	switch {
	case err == nil:
		return st.Mode & unix.S_IFMT, nil
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
		return 0, nil
	}
	return 0, &os.PathError{Op: "lstat", Path: p, Err: err}
}

// secureJoin resolves p component by component inside the rootfs.
func (r *root) secureJoin(p string) (string, error) {
	host, err := securejoin.SecureJoin(r.path, p)
	if errors.Is(err, unix.ELOOP) {
		return p, nil // a symlink loop: as written, it grants nothing
	}
	if err != nil {
		return "", err
	}
	return path.Join("/", strings.TrimPrefix(host, r.path)), nil
}
