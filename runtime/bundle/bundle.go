// Package bundle reads and rewrites an OCI bundle's config.json.
//
// Rewrites are lossless and atomic: the typed runtime-spec view is merged
// back into the original JSON, so fields that this version of runtime-spec
// does not know survive; the result replaces config.json by rename, so a
// failure at any point leaves the original in place.
package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigName is the file name of the spec in a bundle.
const ConfigName = "config.json"

// Bundle is a loaded bundle directory.
type Bundle struct {
	Dir  string
	spec *specs.Spec
	raw  []byte
	mode os.FileMode
}

// Open reads and parses dir/config.json.
func Open(dir string) (*Bundle, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	file := filepath.Join(abs, ConfigName)
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading bundle config: %w", err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("reading bundle config: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", file, err)
	}
	return &Bundle{Dir: abs, spec: &spec, raw: raw, mode: fi.Mode().Perm()}, nil
}

// Spec returns the typed view of the config. Changes made to it are written
// by Flush.
func (b *Bundle) Spec() *specs.Spec { return b.spec }

// Rootfs returns the host path of the container's root filesystem.
func (b *Bundle) Rootfs() string {
	if b.spec.Root == nil {
		return filepath.Join(b.Dir, "rootfs")
	}
	if filepath.IsAbs(b.spec.Root.Path) {
		return b.spec.Root.Path
	}
	return filepath.Join(b.Dir, b.spec.Root.Path)
}

// Flush writes the spec back to config.json, keeping every field of the
// original that the typed view does not model.
func (b *Bundle) Flush() error {
	data, err := Merge(b.raw, b.spec)
	if err != nil {
		return fmt.Errorf("updating %s: %w", ConfigName, err)
	}
	if err := WriteFileAtomic(filepath.Join(b.Dir, ConfigName), data, b.mode); err != nil {
		return err
	}
	b.raw = data
	return nil
}

// Merge marshals v and merges it into the JSON document orig: objects are
// merged key by key, arrays element by element, and anything else is taken
// from v. Keys that only orig has are kept. Numbers of orig are kept
// verbatim, so 64-bit values never pass through a float.
func Merge(orig []byte, v any) ([]byte, error) {
	updated, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	base, err := decode(orig)
	if err != nil {
		return nil, err
	}
	over, err := decode(updated)
	if err != nil {
		return nil, err
	}
	return json.Marshal(merge(base, over))
}

func decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func merge(base, over any) any {
	switch o := over.(type) {
	case map[string]any:
		b, ok := base.(map[string]any)
		if !ok {
			return o
		}
		for k, v := range o {
			b[k] = merge(b[k], v)
		}
		return b
	case []any:
		b, ok := base.([]any)
		if !ok {
			return o
		}
		out := make([]any, len(o))
		for i, v := range o {
			if i < len(b) {
				out[i] = merge(b[i], v)
			} else {
				out[i] = v
			}
		}
		return out
	}
	return over
}

// WriteFileAtomic replaces file with data: a temporary file in the same
// directory is written, synced and renamed over it.
func WriteFileAtomic(file string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
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
