// Package crio adds podlock's runtime handler to CRI-O, and removes it.
//
// CRI-O reads its main file (/etc/crio/crio.conf) and then every file of its
// drop-in directory (/etc/crio/crio.conf.d) in lexical order, each one
// updating the configuration so far; a drop-in that adds a
// [crio.runtime.runtimes.<name>] table adds a handler and leaves the others
// alone. The handler therefore goes into a drop-in of its own,
// 99-<handler>.conf, and no other file is touched:
//
//	[crio.runtime.runtimes.podlock]
//	  runtime_path = '/usr/local/bin/podlock-runtime'
//	  runtime_type = 'oci'
//	  runtime_root = '/run/podlock-runc'
//	  monitor_path = '/usr/libexec/crio/conmon'   # as the default runtime's
//
// runtime_root is the state directory CRI-O passes to the runtime as
// --root, which podlock-runtime hands on to runc or crun: a directory of its
// own keeps podlock's containers apart from those of the other handlers.
// The conmon settings (monitor_*) are copied from the default runtime's
// handler, because packaged CRI-O installs conmon where only that setting
// finds it.
//
// There is no allowed_annotations: CRI-O accepts only its own experimental
// annotations there (a list of names and a few prefixes, such as
// io.kubernetes.cri-o.Devices or run.oci.), rejects any other entry when it
// validates the configuration, and copies every other pod annotation, the
// podlock.kubewarden.io/ ones included, into the containers' config.json
// without being told to.
package crio

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kubewarden/podlock/install/engine"
)

// DefaultConfigPath is CRI-O's main configuration file.
const DefaultConfigPath = "/etc/crio/crio.conf"

// runtimeType "oci" is a runc-compatible runtime that conmon runs.
const runtimeType = "oci"

// monitorKeys are the conmon settings copied from the default runtime.
var monitorKeys = []string{"monitor_path", "monitor_cgroup", "monitor_env", "monitor_exec_cgroup"}

// Options locate CRI-O's configuration.
type Options struct {
	// Root is where the host's root filesystem is mounted ("" or "/": this
	// machine's). Paths written into the configuration are host paths.
	Root string
	// ConfigPath is the main configuration file (a host path); default
	// DefaultConfigPath.
	ConfigPath string
	// DropInDir is CRI-O's drop-in directory (its --config-dir); default
	// crio.conf.d beside ConfigPath.
	DropInDir string
}

// Config is CRI-O's configuration on one host. It implements
// engine.Interface.
type Config struct {
	opts    Options
	changes []engine.Change
}

var _ engine.Interface = (*Config)(nil)

// New returns the configuration the options locate; nothing is read yet.
func New(opts Options) (*Config, error) {
	if opts.ConfigPath == "" {
		opts.ConfigPath = DefaultConfigPath
	}
	if opts.DropInDir == "" {
		opts.DropInDir = filepath.Join(filepath.Dir(opts.ConfigPath), "crio.conf.d")
	}
	if err := engine.ValidatePath("CRI-O config", opts.ConfigPath); err != nil {
		return nil, err
	}
	if err := engine.ValidatePath("CRI-O drop-in directory", opts.DropInDir); err != nil {
		return nil, err
	}
	return &Config{opts: opts}, nil
}

// IsConfig tells whether a decoded TOML document is a CRI-O configuration
// file: CRI-O keeps every setting under the [crio] table.
func IsConfig(doc map[string]any) bool {
	_, ok := doc["crio"].(map[string]any)
	return ok
}

// DropInPath is the handler's drop-in file: 99- sorts it after the files
// of the distribution's package, so that nothing loaded later redefines it.
func DropInPath(dropInDir, handler string) string {
	return filepath.Join(dropInDir, "99-"+handler+".conf")
}

// RuntimeRoot is the state directory of the handler's containers.
func RuntimeRoot(handler string) string {
	return "/run/" + handler + "-runc"
}

// Changes returns the changes planned by the last AddRuntime or
// RemoveRuntime.
func (c *Config) Changes() []engine.Change { return c.changes }

// Save writes the planned changes.
func (c *Config) Save() error { return engine.Apply(c.changes) }

// AddRuntime plans the handler's drop-in file.
func (c *Config) AddRuntime(rt engine.Runtime) error {
	c.changes = nil
	if err := rt.Validate(); err != nil {
		return err
	}
	dropIn := DropInPath(c.opts.DropInDir, rt.Handler)
	old, mode, err := engine.ReadDropIn(c.opts.Root, dropIn)
	if err != nil {
		return err
	}
	files, err := c.load(dropIn)
	if err != nil {
		return err
	}

	// What CRI-O ends up with, file by file: the default runtime's name
	// and each handler's settings, later files overriding earlier ones.
	defaultRuntime := ""
	handlers := map[string]map[string]any{}
	for _, f := range files {
		runtime := engine.TableAt(f.doc, "crio", "runtime")
		if name, ok := runtime["default_runtime"].(string); ok {
			defaultRuntime = name
		}
		for name, v := range engine.TableAt(runtime, "runtimes") {
			h, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: crio.runtime.runtimes.%s is not a table", f.path, name)
			}
			if name == rt.Handler {
				return fmt.Errorf("%s already defines runtime handler %q: remove it there, or choose another handler name", f.path, rt.Handler)
			}
			if handlers[name] == nil {
				handlers[name] = map[string]any{}
			}
			for k, v := range h {
				handlers[name][k] = v
			}
		}
	}
	if defaultRuntime == "" {
		// Unset, it is CRI-O's built-in default, crun or runc depending
		// on the release: whichever of them the files configure.
		for _, name := range []string{"crun", "runc"} {
			if handlers[name] != nil {
				defaultRuntime = name
				break
			}
		}
	}

	entry := map[string]any{
		"runtime_path": rt.Path,
		"runtime_type": runtimeType,
		"runtime_root": RuntimeRoot(rt.Handler),
	}
	var copied []string
	for _, k := range monitorKeys {
		if v, ok := handlers[defaultRuntime][k]; ok {
			entry[k] = v
			copied = append(copied, k)
		}
	}
	conmon := "conmon's settings (monitor_*) are CRI-O's defaults."
	if len(copied) > 0 {
		conmon = fmt.Sprintf("conmon's settings (%s) are those of the\n# default runtime, %s.", strings.Join(copied, ", "), defaultRuntime)
	}
	doc := map[string]any{"crio": map[string]any{"runtime": map[string]any{
		"runtimes": map[string]any{rt.Handler: entry},
	}}}

	var buf []byte
	buf = fmt.Appendf(buf, `%s: CRI-O's runtime handler %q, for pods of
# a RuntimeClass with that handler, which runs podlock-runtime;
# %s
# "podlock-install uninstall" removes it; restart CRI-O after either.
#
# No allowed_annotations: CRI-O copies the podlock.kubewarden.io/ pod
# annotations into config.json anyway, and accepts only its own annotations
# in that list.

`, engine.Marker, rt.Handler, conmon)
	out, err := engine.EncodeTOML(doc)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", dropIn, err)
	}
	buf = append(buf, out...)
	if ch := engine.NewChange(dropIn, c.under(dropIn), old, buf, mode); ch != nil {
		c.changes = append(c.changes, *ch)
	}
	return nil
}

// RemoveRuntime plans the removal of the handler's drop-in file.
func (c *Config) RemoveRuntime(handler string) error {
	c.changes = nil
	if err := engine.ValidateHandler(handler); err != nil {
		return err
	}
	dropIn := DropInPath(c.opts.DropInDir, handler)
	old, _, err := engine.ReadDropIn(c.opts.Root, dropIn)
	if err != nil {
		return err
	}
	if ch := engine.NewChange(dropIn, c.under(dropIn), old, nil, 0); ch != nil {
		c.changes = append(c.changes, *ch)
	}
	return nil
}

type file struct {
	path string
	doc  map[string]any
}

// load parses the files CRI-O reads, in its order, except the handler's
// drop-in: the main file if it exists, then every file under the drop-in
// directory in lexical order.
func (c *Config) load(dropIn string) ([]file, error) {
	paths := []string{c.opts.ConfigPath}
	dir := c.under(c.opts.DropInDir)
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return filepath.SkipDir
			}
			return err
		}
		if !d.IsDir() {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			found = append(found, filepath.Join(c.opts.DropInDir, rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", c.opts.DropInDir, err)
	}
	sort.Strings(found)
	paths = append(paths, found...)

	var files []file
	for _, path := range paths {
		if path == dropIn {
			continue
		}
		data, _, err := engine.ReadFile(c.under(path))
		if err != nil {
			return nil, err
		}
		if data == nil {
			continue
		}
		doc, err := engine.ParseTOML(path, data)
		if err != nil {
			return nil, err
		}
		files = append(files, file{path: path, doc: doc})
	}
	return files, nil
}

func (c *Config) under(path string) string { return engine.Under(c.opts.Root, path) }
