// Package bundle reads and rewrites an OCI bundle's config.json.
//
// Reading is cheap on purpose: podlock-runtime runs for every container
// create, and most containers ask for nothing, so Open decodes only the
// few fields podlock looks at. Rewrites work on the generic JSON document,
// so every field survives whether or not this version of the runtime spec
// knows it, and numbers keep their exact text; the result replaces
// config.json by rename, so a failure at any point leaves the original in
// place.
package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kubewarden/podlock/internal/atomicfile"
)

// ConfigName is the file name of the spec in a bundle.
const ConfigName = "config.json"

// Bundle is a loaded bundle directory.
type Bundle struct {
	Dir  string
	view view
	raw  []byte
	mode os.FileMode
	doc  map[string]any // decoded on the first change
}

// view is the part of the spec that podlock reads.
type view struct {
	Annotations map[string]string `json:"annotations"`
	Root        *specs.Root       `json:"root"`
	Process     *Process          `json:"process"`
}

// Process is the part of the container's process that podlock reads.
type Process struct {
	Args []string `json:"args"`
	Env  []string `json:"env"`
	Cwd  string   `json:"cwd"`
}

// Open reads dir/config.json.
func Open(dir string) (*Bundle, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	file := filepath.Join(abs, ConfigName)
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("reading bundle config: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading bundle config: %w", err)
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading bundle config: %w", err)
	}
	b := &Bundle{Dir: abs, raw: raw, mode: fi.Mode().Perm()}
	if err := json.Unmarshal(raw, &b.view); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", file, err)
	}
	return b, nil
}

// Original returns config.json as Open read it.
func (b *Bundle) Original() []byte { return b.raw }

// Reset makes the bundle start again from the given config: for a bundle
// whose config.json podlock rewrote in an earlier attempt, the config as it
// was before.
func (b *Bundle) Reset(raw []byte) error {
	var v view
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("parsing the original %s: %w", ConfigName, err)
	}
	b.raw, b.view, b.doc = raw, v, nil
	return nil
}

// Annotations returns the container's annotations.
func (b *Bundle) Annotations() map[string]string { return b.view.Annotations }

// Process returns the container's process, or nil when it has none.
func (b *Bundle) Process() *Process { return b.view.Process }

// MountDestinations returns where the spec's mounts go in the container,
// as written: runc resolves them through the rootfs's symlinks. They are
// decoded only here, for the containers podlock confines.
func (b *Bundle) MountDestinations() ([]string, error) {
	var v struct {
		Mounts []struct {
			Destination string `json:"destination"`
		} `json:"mounts"`
	}
	if err := json.Unmarshal(b.raw, &v); err != nil {
		return nil, fmt.Errorf("parsing the mounts of %s: %w", ConfigName, err)
	}
	dests := make([]string, len(v.Mounts))
	for i, m := range v.Mounts {
		dests[i] = m.Destination
	}
	return dests, nil
}

// Rootfs returns the host path of the container's root filesystem.
func (b *Bundle) Rootfs() string {
	if b.view.Root == nil || b.view.Root.Path == "" {
		return filepath.Join(b.Dir, "rootfs")
	}
	if filepath.IsAbs(b.view.Root.Path) {
		return b.view.Root.Path
	}
	return filepath.Join(b.Dir, b.view.Root.Path)
}

// CgroupsPath returns linux.cgroupsPath, or "" when there is none. It is
// read only for the containers podlock confines.
func (b *Bundle) CgroupsPath() (string, error) {
	doc, err := b.document()
	if err != nil {
		return "", err
	}
	var path any
	switch linux := doc["linux"].(type) {
	case nil:
	case map[string]any:
		path = linux["cgroupsPath"]
	default:
		return "", fmt.Errorf("%s: %q is not an object", ConfigName, "linux")
	}
	switch p := path.(type) {
	case nil:
		return "", nil
	case string:
		return p, nil
	}
	return "", fmt.Errorf("%s: linux.cgroupsPath is not a string", ConfigName)
}

func (b *Bundle) document() (map[string]any, error) {
	if b.doc == nil {
		doc, err := decodeObject(b.raw)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", ConfigName, err)
		}
		b.doc = doc
	}
	return b.doc, nil
}

// AddMounts appends mounts to the spec's.
func (b *Bundle) AddMounts(mounts ...specs.Mount) error {
	doc, err := b.document()
	if err != nil {
		return err
	}
	return appendValues(doc, "mounts", mounts)
}

// AddCreateContainerHooks appends createContainer hooks to the spec's.
func (b *Bundle) AddCreateContainerHooks(hooks ...specs.Hook) error {
	doc, err := b.document()
	if err != nil {
		return err
	}
	h, err := object(doc, "hooks")
	if err != nil {
		return err
	}
	return appendValues(h, "createContainer", hooks)
}

// EditProcess changes the container's process with edit.
func (b *Bundle) EditProcess(edit func(ProcessEditor) error) error {
	doc, err := b.document()
	if err != nil {
		return err
	}
	p, err := object(doc, "process")
	if err != nil {
		return err
	}
	return edit(ProcessEditor{p})
}

// EditSeccomp replaces linux.seccomp with what edit makes of it; edit gets
// nil when the container has no filter. The filter goes through the
// runtime spec's type, so fields of it that this version of the spec does
// not know are dropped.
func (b *Bundle) EditSeccomp(edit func(*specs.LinuxSeccomp) (*specs.LinuxSeccomp, error)) error {
	doc, err := b.document()
	if err != nil {
		return err
	}
	linux, err := object(doc, "linux")
	if err != nil {
		return err
	}
	var current *specs.LinuxSeccomp
	if raw := linux["seccomp"]; raw != nil {
		data, err := json.Marshal(raw)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, &current); err != nil {
			return fmt.Errorf("linux.seccomp: %w", err)
		}
	}
	next, err := edit(current)
	if err != nil {
		return err
	}
	generic, err := toGeneric(next)
	if err != nil {
		return err
	}
	linux["seccomp"] = generic
	return nil
}

// Flush writes the changes to config.json and returns what it wrote.
// Without changes it writes nothing. The write is atomic (a reader sees
// the old file or the new) but not flushed to disk: a bundle lives only
// as long as its container, under the engine's state directory (a tmpfs
// under /run for containerd and CRI-O), and an engine that restarts
// recreates it; make bench measured the flush at several milliseconds of
// every confined create on this kind of machine.
func (b *Bundle) Flush() ([]byte, error) {
	if b.doc == nil {
		return nil, nil
	}
	data, err := json.Marshal(b.doc)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", ConfigName, err)
	}
	return data, atomicfile.WriteVolatile(filepath.Join(b.Dir, ConfigName), data, b.mode)
}

// ProcessEditor changes an OCI process object in place.
type ProcessEditor struct {
	p map[string]any
}

// PrependArgs puts args in front of the process's own.
func (e ProcessEditor) PrependArgs(args ...string) error {
	old, _ := e.p["args"].([]any)
	if len(old) == 0 {
		return errors.New("process has no args")
	}
	merged := make([]any, 0, len(args)+len(old))
	for _, a := range args {
		merged = append(merged, a)
	}
	e.p["args"] = append(merged, old...)
	return nil
}

// SetNoNewPrivileges sets noNewPrivileges.
func (e ProcessEditor) SetNoNewPrivileges() {
	e.p["noNewPrivileges"] = true
}

// decodeObject decodes a JSON object keeping numbers as their text.
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, errors.New("not a JSON object")
	}
	return doc, nil
}

// object returns the object under key, creating it when absent.
func object(parent map[string]any, key string) (map[string]any, error) {
	switch v := parent[key].(type) {
	case nil:
		o := map[string]any{}
		parent[key] = o
		return o, nil
	case map[string]any:
		return v, nil
	}
	return nil, fmt.Errorf("%q is not an object", key)
}

// appendValues appends typed values to the array under key.
func appendValues[T any](parent map[string]any, key string, values []T) error {
	list, ok := parent[key].([]any)
	if !ok && parent[key] != nil {
		return fmt.Errorf("%q is not an array", key)
	}
	for _, v := range values {
		generic, err := toGeneric(v)
		if err != nil {
			return err
		}
		list = append(list, generic)
	}
	parent[key] = list
	return nil
}

// toGeneric turns a typed value into the generic JSON the document holds.
func toGeneric(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	return generic, nil
}
