package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/landlock"
)

// checkPodlockDir makes sure that podlock's mounts land at landlock.Dir and
// that nothing of the image's or the pod's lands among them. runc resolves
// mount destinations through the rootfs's symlinks: an image with
// /.podlock -> /tmp/l would get podlock's read-only directory wherever
// /tmp/l points at create, and the container could then point /.podlock
// at a directory of its own. A mount of the pod's at, under or above
// /.podlock (/ itself) would put the pod's files among podlock's, or make
// /.podlock resolve through them.
func checkPodlockDir(rootfs string, mountDestinations []string) error {
	if err := checkImagePodlockDir(rootfs); err != nil {
		return err
	}
	for _, dest := range mountDestinations {
		clean := path.Join("/", dest)
		if touchesPodlockDir(clean) {
			return fmt.Errorf("mount at %s is at or under %s, where podlock mounts its helper and policy; mount it elsewhere", dest, landlock.Dir)
		}
		// SecureJoin is how runc 1.1 resolves destinations (newer runc
		// does the same with openat2): symlinks of the rootfs are
		// followed inside it, dangling ones included, and the missing
		// rest is appended.
		host, err := securejoin.SecureJoin(rootfs, clean)
		if err != nil {
			return fmt.Errorf("resolving mount destination %s in the container rootfs: %w", dest, err)
		}
		resolved := path.Join("/", strings.TrimPrefix(host, filepath.Clean(rootfs)))
		if touchesPodlockDir(resolved) {
			return fmt.Errorf("mount at %s resolves to %s in the image, which collides with %s, where podlock mounts its helper and policy; mount it elsewhere",
				dest, resolved, landlock.Dir)
		}
	}
	return nil
}

// touchesPodlockDir reports whether a mount at p would cover landlock.Dir
// or go inside it.
func touchesPodlockDir(p string) bool {
	return p == "/" || p == landlock.Dir || strings.HasPrefix(p, landlock.Dir+"/")
}

// checkImagePodlockDir accepts an image without /.podlock, or with an
// empty directory there, looked at without following symlinks.
func checkImagePodlockDir(rootfs string) error {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening container rootfs: %w", err)
	}
	defer unix.Close(root)
	name := strings.TrimPrefix(landlock.Dir, "/")
	var st unix.Stat_t
	err = unix.Fstatat(root, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspecting %s in the image: %w", landlock.Dir, err)
	}
	what := fileKind(st.Mode)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		empty, err := isEmptyDir(root, name)
		if err != nil {
			return fmt.Errorf("inspecting %s in the image: %w", landlock.Dir, err)
		}
		if empty {
			return nil
		}
		what = "a directory that is not empty"
	}
	return fmt.Errorf("the image has %s, %s: podlock mounts its helper and policy there; remove %s from the image, or leave it an empty directory",
		landlock.Dir, what, landlock.Dir)
}

func isEmptyDir(parent int, name string) (bool, error) {
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	dir := os.NewFile(uintptr(fd), name)
	defer dir.Close()
	names, err := dir.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return len(names) == 0, err
}

func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "a symlink"
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "a device"
	}
	return "not a directory"
}
