// Package realruntime finds the runtime podlock hands over to (runc or
// crun). podlock-runtime's front and podlock-runtime-confine must find
// the same one: its path is part of the key of the container index, so
// the two resolve it with this one function. It links only the standard
// library's os and path/filepath, which the front can afford.
package realruntime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SystemPath is where Find looks for runc when PATH is empty or unset, as
// podman leaves it for its OCI runtime.
var SystemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var (
	// ErrOurs: the configured runtime is one of podlock's binaries.
	ErrOurs = errors.New("is podlock-runtime itself")
	// ErrNoRunc: nothing configured, and no runc in PATH but podlock's.
	ErrNoRunc = errors.New("no runc in PATH other than podlock-runtime")
)

// Find resolves the real runtime: configured (a path, or a name looked up
// in PATH) when set, or else the first executable runc in PATH that is
// none of ours (podlock's own binaries, by file identity, so that a
// symlink or hard link named runc is skipped too). It runs for every runc
// command: each file is inspected once.
func Find(configured string, ours ...string) (string, error) {
	var oursInfo []os.FileInfo
	for _, o := range ours {
		if st, err := os.Stat(o); err == nil { // "" does not exist
			oursInfo = append(oursInfo, st)
		}
	}
	isOurs := func(fi os.FileInfo) bool {
		for _, o := range oursInfo {
			if os.SameFile(fi, o) {
				return true
			}
		}
		return false
	}
	if configured != "" {
		p, fi, err := lookPath(configured)
		if err != nil {
			return "", err
		}
		if isOurs(fi) {
			return p, ErrOurs
		}
		return p, nil
	}
	search := os.Getenv("PATH")
	if search == "" {
		search = SystemPath
	}
	for _, dir := range filepath.SplitList(search) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, "runc")
		if fi, ok := executable(p); ok && !isOurs(fi) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w %q", ErrNoRunc, search)
}

// lookPath finds an executable as os/exec's LookPath does (a name with a
// slash is taken as a path; an empty PATH entry is skipped rather than
// taken as the working directory), without linking os/exec.
func lookPath(name string) (string, os.FileInfo, error) {
	if strings.Contains(name, "/") {
		if fi, ok := executable(name); ok {
			return name, fi, nil
		}
		return "", nil, fmt.Errorf("%s is not an executable file", name)
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, ok := executable(p); ok {
			return p, fi, nil
		}
	}
	return "", nil, fmt.Errorf("%s not found in PATH", name)
}

func executable(p string) (os.FileInfo, bool) {
	fi, err := os.Stat(p)
	return fi, err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
