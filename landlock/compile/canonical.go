package compile

import (
	"errors"
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
func (r *root) canonical(p string) (string, error) {
	host, err := securejoin.SecureJoin(r.path, p)
	if errors.Is(err, unix.ELOOP) {
		return p, nil // a symlink loop: as written, it grants nothing
	}
	if err != nil {
		return "", err
	}
	return path.Join("/", strings.TrimPrefix(host, r.path)), nil
}
