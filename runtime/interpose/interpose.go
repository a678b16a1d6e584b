// Package interpose puts podlock's helper in front of listed binaries. It
// runs as an OCI createContainer hook: in the container's mount namespace,
// after runc has set up the mounts and before pivot_root, when the host's
// helper binary is still reachable.
//
// A bind mount in config.json cannot do this. runc resolves mount
// destinations through symlinks, so covering /bin/sh -> busybox would cover
// busybox and with it every applet. open_tree(2) and move_mount(2) without
// MOVE_MOUNT_T_SYMLINKS mount over the symlink itself.
package interpose

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/internal/sysread"
)

// Plan is the hook's input, written by the runtime next to the policy.
type Plan struct {
	// Rootfs is the host path of the container's rootfs.
	Rootfs string `json:"rootfs"`
	// Helper is the host path of the helper binary.
	Helper string `json:"helper"`
	// Originals maps container paths of placeholders under
	// landlock.OriginalsDir to the regular files to mount on them, before
	// the helper covers those files.
	Originals []Original `json:"originals,omitempty"`
	// Covers are the container paths to mount the helper on.
	Covers []string `json:"covers,omitempty"`
}

// Original asks for File to stay reachable at At.
type Original struct {
	File string `json:"file"`
	At   string `json:"at"`
}

// Read loads a plan written by Write. The hook runs at every start of a
// container with listed binaries: it reads the plan with read(2) alone
// (see package sysread).
func Read(file string) (*Plan, error) {
	data, err := sysread.File(file, 0)
	if err != nil {
		return nil, fmt.Errorf("reading interposition plan: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("parsing interposition plan %s: %w", file, err)
	}
	return &p, nil
}

// Write stores the plan in file.
func (p *Plan) Write(file string) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return os.WriteFile(file, data, 0o600)
}

// Apply performs the mounts. Originals come first: once a regular file is
// covered, nothing but the helper is left at its path.
func (p *Plan) Apply() error {
	root, err := unix.Open(p.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening rootfs: %w", err)
	}
	defer unix.Close(root)
	for _, o := range p.Originals {
		if err := p.keepOriginal(root, o); err != nil {
			return fmt.Errorf("keeping %s at %s: %w", o.File, o.At, err)
		}
	}
	for _, c := range p.Covers {
		if err := p.cover(root, c); err != nil {
			return fmt.Errorf("mounting the podlock helper on %s: %w", c, err)
		}
	}
	return nil
}

func (p *Plan) keepOriginal(root int, o Original) error {
	src, err := openInRoot(root, o.File, unix.O_PATH)
	if err != nil {
		return err
	}
	defer unix.Close(src)
	tree, err := unix.OpenTree(src, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	defer unix.Close(tree)
	dst, err := openInRoot(root, o.At, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return err
	}
	defer unix.Close(dst)
	if err := unix.MoveMount(tree, "", dst, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

func (p *Plan) cover(root int, target string) error {
	tree, err := unix.OpenTree(unix.AT_FDCWD, p.Helper, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("open_tree %s: %w", p.Helper, err)
	}
	defer unix.Close(tree)
	// The copy must not be writable from the container, nor grant
	// privileges through set-id bits.
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return fmt.Errorf("mount_setattr: %w", err)
	}
	dir, base := path.Split(target)
	if base == "" {
		return errors.New("not a file path")
	}
	parent, err := openInRoot(root, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	// No MOVE_MOUNT_T_SYMLINKS: a symlink is covered, not followed.
	if err := unix.MoveMount(tree, "", parent, base, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

func openInRoot(root int, p string, flags uint64) (int, error) {
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return fd, nil
}
