// Package atomicfile replaces files so that readers see either the old
// content or the new, never a part of it, and a failure leaves the old.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces file with data: a temporary file in the same directory is
// written, given mode, synced and renamed over it.
func Write(file string, data []byte, mode os.FileMode) error {
	return write(file, data, mode, true)
}

// WriteVolatile is Write without the sync, for state that does not outlive
// a reboot (files under /run): readers still see the old content or the
// new, and the write costs no disk flush.
func WriteVolatile(file string, data []byte, mode os.FileMode) error {
	return write(file, data, mode, false)
}

func write(file string, data []byte, mode os.FileMode, sync bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil && sync {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}
