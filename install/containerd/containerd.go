// Package containerd adds podlock's runtime handler to containerd's CRI
// plugin, and removes it.
//
// The handler is written to a drop-in file, conf.d/<handler>.toml next to
// the main configuration file, with the main file's configuration version:
//
//	[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.podlock]
//	  runtime_type = 'io.containerd.runc.v2'
//	  pod_annotations = ['podlock.kubewarden.io/*']
//	  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.podlock.options]
//	    BinaryName = '/usr/local/bin/podlock-runtime'
//	    SystemdCgroup = true    # and every other option of the runc handler
//
// containerd reads only the files its main configuration imports (its own
// default configuration imports conf.d/*.toml, but a main file replaces
// that default), so the main file's top-level `imports` gets the drop-in's
// path unless an entry there already covers it. That is the only change to
// the main file, made as a text edit that leaves every other byte alone.
//
// Version 2 (containerd 1.x) needs more: containerd 1.x merges imported
// files plugin by plugin, a file's section replacing the whole section of
// the files before it. The drop-in therefore carries the complete CRI
// section in effect (from the main file or the last import that sets it)
// with the handler added, and has to be refreshed, by running install
// again, when that section changes. containerd 2.x merges sections key by
// key, and the drop-in holds the handler alone.
//
// A missing main file is created with only `version` and `imports`:
// containerd applies a file over its built-in defaults, so this changes
// nothing but the handler. Uninstall deletes it again while it is unchanged.
package containerd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kubewarden/podlock/install/engine"
)

// DefaultConfigPath is containerd's main configuration file.
const DefaultConfigPath = "/etc/containerd/config.toml"

// PodAnnotations is the pattern of pod annotations containerd passes to
// the runtime (in config.json) for podlock's handler.
const PodAnnotations = "podlock.kubewarden.io/*"

// runtimeType is the runc shim, which calls the handler's BinaryName
// wherever it would call runc.
const runtimeType = "io.containerd.runc.v2"

// ErrUnknownVersion is returned when the main configuration file does not
// exist and no containerd release was given to tell which version to write.
var ErrUnknownVersion = errors.New("the configuration version to write depends on the containerd version, which is unknown")

// Options locate containerd's configuration.
type Options struct {
	// Root is where the host's root filesystem is mounted ("" or "/": this
	// machine's). Paths written into the configuration are host paths.
	Root string
	// ConfigPath is the main configuration file (a host path); default
	// DefaultConfigPath.
	ConfigPath string
	// Version is the configuration version of the containerd release on the
	// host (see ConfigVersion), or 0 when unknown. It is needed only when
	// the main file does not exist; when it does, the file's own version is
	// used, and Version only has to be able to read it.
	Version int
}

// Config is containerd's configuration on one host. It implements
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
	if err := engine.ValidatePath("containerd config", opts.ConfigPath); err != nil {
		return nil, err
	}
	if opts.Version != 0 && (opts.Version < minConfigVersion || opts.Version > LatestConfigVersion) {
		return nil, fmt.Errorf("containerd configuration version %d: supported are %d to %d", opts.Version, minConfigVersion, LatestConfigVersion)
	}
	return &Config{opts: opts}, nil
}

// DropInPath is where the handler's drop-in file goes: conf.d/<handler>.toml
// beside the main file, which is containerd's own drop-in directory for the
// default main file.
func DropInPath(configPath, handler string) string {
	return filepath.Join(filepath.Dir(configPath), "conf.d", handler+".toml")
}

// Changes returns the changes planned by the last AddRuntime or
// RemoveRuntime.
func (c *Config) Changes() []engine.Change { return c.changes }

// Save writes the planned changes.
func (c *Config) Save() error { return engine.Apply(c.changes) }

// AddRuntime plans the drop-in file for the handler and, when needed, the
// main file's `imports` entry for it (or a new main file).
func (c *Config) AddRuntime(rt engine.Runtime) error {
	c.changes = nil
	if err := rt.Validate(); err != nil {
		return err
	}
	main, err := c.readMain()
	if err != nil {
		return err
	}
	version, err := c.version(main)
	if err != nil {
		return err
	}
	dropIn := DropInPath(c.opts.ConfigPath, rt.Handler)
	oldDropIn, dropInMode, err := engine.ReadDropIn(c.opts.Root, dropIn)
	if err != nil {
		return err
	}

	// Load the files in containerd's order with the drop-in among them: as
	// they are if something already imports it, else imported last from
	// the main file.
	imports := main.imports
	order, err := c.loadOrder(main, imports, dropIn)
	if err != nil {
		return err
	}
	covered := slices.ContainsFunc(order, func(f loaded) bool { return f.dropIn })
	if !covered {
		imports = append(append([]string(nil), imports...), dropIn)
		if order, err = c.loadOrder(main, imports, dropIn); err != nil {
			return err
		}
	}

	content, err := c.renderDropIn(version, rt, order)
	if err != nil {
		return err
	}
	var changes []engine.Change
	if ch := engine.NewChange(dropIn, c.under(dropIn), oldDropIn, content, dropInMode); ch != nil {
		changes = append(changes, *ch)
	}

	// The drop-in is written first: containerd fails to start when an
	// imported path (one without a wildcard) does not exist.
	if !covered {
		var newMain []byte
		if main.data == nil {
			newMain = createdMain(version, dropIn)
		} else if newMain, err = addImport(main.path, main.data, dropIn); err != nil {
			return err
		}
		if ch := engine.NewChange(main.path, main.diskPath, main.data, newMain, main.mode); ch != nil {
			changes = append(changes, *ch)
		}
	}
	c.changes = changes
	return nil
}

// RemoveRuntime plans the removal of the handler's drop-in file and of the
// `imports` entry AddRuntime added for it (or of the main file it created).
func (c *Config) RemoveRuntime(handler string) error {
	c.changes = nil
	if err := engine.ValidateHandler(handler); err != nil {
		return err
	}
	main, err := c.readMain()
	if err != nil {
		return err
	}
	dropIn := DropInPath(c.opts.ConfigPath, handler)
	oldDropIn, _, err := engine.ReadDropIn(c.opts.Root, dropIn)
	if err != nil {
		return err
	}
	// The main file first, so that it never imports a missing drop-in.
	var changes []engine.Change
	if main.data != nil {
		var newMain []byte
		if bytes.Equal(main.data, createdMain(main.version, dropIn)) {
			newMain = nil
		} else if newMain, _, err = removeImport(main.path, main.data, dropIn); err != nil {
			return err
		}
		if ch := engine.NewChange(main.path, main.diskPath, main.data, newMain, main.mode); ch != nil {
			changes = append(changes, *ch)
		}
	}
	if ch := engine.NewChange(dropIn, c.under(dropIn), oldDropIn, nil, 0); ch != nil {
		changes = append(changes, *ch)
	}
	c.changes = changes
	return nil
}

// createdMain is the main file the installer creates when there is none.
func createdMain(version int, dropIn string) []byte {
	return fmt.Appendf(nil, `# Created by podlock-install, as there was no containerd configuration:
# containerd applies this file over its built-in defaults, so it changes
# nothing but importing podlock's runtime handler. "podlock-install uninstall"
# deletes it again as long as it is unchanged.
version = %d
%s
`, version, addedLine(dropIn))
}

// mainFile is the main configuration file.
type mainFile struct {
	path     string // host path
	diskPath string // where it is read and written: under the root, symlinks resolved
	data     []byte // nil when it does not exist
	mode     fs.FileMode
	doc      map[string]any
	version  int // 0 when it does not exist
	imports  []string
}

// readMain reads and checks the main file; one that does not exist is not
// an error.
func (c *Config) readMain() (*mainFile, error) {
	diskPath, err := engine.Resolve(c.opts.Root, c.opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	m := &mainFile{path: c.opts.ConfigPath, diskPath: diskPath}
	data, mode, err := engine.ReadFile(m.diskPath)
	if err != nil || data == nil {
		return m, err
	}
	m.data, m.mode = data, mode
	if m.doc, err = engine.ParseTOML(m.path, data); err != nil {
		return nil, err
	}
	v, ok := m.doc["version"]
	if !ok {
		return nil, fmt.Errorf("%s has no `version`, which makes it a version 1 configuration: add `version = 2` for containerd 1.x, or run `containerd config migrate` with containerd 2.x", m.path)
	}
	n, ok := v.(int64)
	if !ok || n < minConfigVersion || n > LatestConfigVersion {
		return nil, fmt.Errorf("%s: configuration version %v is not supported: supported are %d (containerd 1.x) to %d", m.path, v, minConfigVersion, LatestConfigVersion)
	}
	m.version = int(n)
	if m.imports, err = importsOf(m.path, m.doc); err != nil {
		return nil, err
	}
	if _, err := scanTopLevel(m.path, data); err != nil {
		return nil, err
	}
	return m, nil
}

// version is the configuration version to write.
func (c *Config) version(main *mainFile) (int, error) {
	if main.data == nil {
		if c.opts.Version == 0 {
			return 0, fmt.Errorf("%s does not exist, and %w", main.path, ErrUnknownVersion)
		}
		return c.opts.Version, nil
	}
	if c.opts.Version != 0 && c.opts.Version < main.version {
		return 0, fmt.Errorf("%s has configuration version %d, which the given containerd version cannot read (it reads up to %d)", main.path, main.version, c.opts.Version)
	}
	return main.version, nil
}

func (c *Config) under(path string) string { return engine.Under(c.opts.Root, path) }

// importsOf returns a file's top-level `imports`.
func importsOf(path string, doc map[string]any) ([]string, error) {
	v, ok := doc["imports"]
	if !ok {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: imports is not an array of paths", path)
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%s: imports has %v, which is not a path", path, e)
		}
		out = append(out, s)
	}
	return out, nil
}

// loaded is one configuration file, in the order containerd loads them.
type loaded struct {
	path   string
	doc    map[string]any
	dropIn bool // the handler's drop-in, whose content is being planned
}

// loadOrder lists the files containerd loads, as it does: the main file,
// then its imports breadth first, each file once; a relative import is
// relative to the importing file's directory, and one with '*' is a glob
// whose matches are loaded in lexical order. The drop-in stands for itself
// whether or not it exists yet, and is not read.
func (c *Config) loadOrder(main *mainFile, mainImports []string, dropIn string) ([]loaded, error) {
	var order []loaded
	seen := map[string]bool{}
	queue := []string{main.path}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if seen[path] {
			continue
		}
		seen[path] = true

		f := loaded{path: path}
		var imports []string
		switch path {
		case dropIn:
			order = append(order, loaded{path: path, dropIn: true})
			continue
		case main.path:
			f.doc, imports = main.doc, mainImports
		default:
			data, _, err := engine.ReadFile(c.under(path))
			if err != nil {
				return nil, err
			}
			if data == nil {
				return nil, fmt.Errorf("%s is imported but does not exist (containerd would not start)", path)
			}
			if f.doc, err = engine.ParseTOML(path, data); err != nil {
				return nil, err
			}
			if imports, err = importsOf(path, f.doc); err != nil {
				return nil, err
			}
		}
		order = append(order, f)
		next, err := c.resolveImports(path, imports, dropIn)
		if err != nil {
			return nil, err
		}
		queue = append(queue, next...)
	}
	return order, nil
}

func (c *Config) resolveImports(parent string, imports []string, dropIn string) ([]string, error) {
	var out []string
	for _, imp := range imports {
		imp = filepath.Clean(imp)
		if !filepath.IsAbs(imp) {
			imp = filepath.Join(filepath.Dir(parent), imp)
		}
		if !strings.Contains(imp, "*") {
			out = append(out, imp)
			continue
		}
		matches, err := filepath.Glob(c.under(imp))
		if err != nil {
			return nil, fmt.Errorf("%s: import %q: %w", parent, imp, err)
		}
		for i, m := range matches {
			matches[i] = c.hostPath(m)
		}
		if ok, _ := filepath.Match(imp, dropIn); ok && !slices.Contains(matches, dropIn) {
			matches = append(matches, dropIn)
			sort.Strings(matches)
		}
		out = append(out, matches...)
	}
	return out, nil
}

// hostPath turns a path under the root back into a host path.
func (c *Config) hostPath(path string) string {
	if c.opts.Root == "" || c.opts.Root == "/" {
		return path
	}
	rel, err := filepath.Rel(c.opts.Root, path)
	if err != nil {
		return path
	}
	return "/" + rel
}

// renderDropIn returns the drop-in's content for the files in load order.
func (c *Config) renderDropIn(version int, rt engine.Runtime, order []loaded) ([]byte, error) {
	plugin := criRuntimePlugin(version)
	// Keys of the files are looked up as the drop-in's version names them;
	// containerd 2.x migrates older files to the same names.
	section := func(f loaded) map[string]any {
		return engine.TableAt(f.doc, "plugins", plugin)
	}
	afterDropIn := false
	var base map[string]any // version 2: the CRI section in effect
	runcOptions := map[string]any{}
	for _, f := range order {
		if f.dropIn {
			afterDropIn = true
			continue
		}
		s := section(f)
		if s == nil {
			continue
		}
		if engine.TableAt(s, "containerd", "runtimes", rt.Handler) != nil {
			return nil, fmt.Errorf("%s already defines runtime handler %q: remove it there, or choose another handler name", f.path, rt.Handler)
		}
		if version == 2 {
			if afterDropIn {
				return nil, fmt.Errorf("%s is imported after %s and sets [plugins.%q], which on containerd 1.x replaces the whole section of the drop-in: import the drop-in after it",
					f.path, DropInPath(c.opts.ConfigPath, rt.Handler), plugin)
			}
			base = s
			continue
		}
		for k, v := range engine.TableAt(s, "containerd", "runtimes", "runc", "options") {
			runcOptions[k] = v
		}
	}
	if version == 2 {
		base = deepCopy(base)
		for k, v := range engine.TableAt(base, "containerd", "runtimes", "runc", "options") {
			runcOptions[k] = v
		}
		// containerd 1.x decodes the section's `runtimes` in place of its
		// default one, which holds the runc handler that
		// default_runtime_name names: keep that handler when the section
		// relied on the default.
		if engine.TableAt(base, "containerd", "runtimes") == nil {
			runtimes := ensureTable(ensureTable(base, "containerd"), "runtimes")
			runtimes["runc"] = map[string]any{"runtime_type": runtimeType}
		}
	} else {
		base = map[string]any{}
	}

	options := runcOptions
	options["BinaryName"] = rt.Path
	runtimes := ensureTable(ensureTable(base, "containerd"), "runtimes")
	runtimes[rt.Handler] = map[string]any{
		"runtime_type":    runtimeType,
		"pod_annotations": []any{PodAnnotations},
		"options":         options,
	}
	doc := map[string]any{
		"version": int64(version),
		"plugins": map[string]any{plugin: base},
	}

	encoded, err := engine.EncodeTOML(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", DropInPath(c.opts.ConfigPath, rt.Handler), err)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `%s: containerd's CRI runtime handler %q, for pods
# of a RuntimeClass with that handler. It runs podlock-runtime through the runc
# shim, with the options of the runc handler. "podlock-install uninstall"
# removes it; restart containerd after either.
`, engine.Marker, rt.Handler)
	if version == 2 {
		fmt.Fprintf(&buf, `#
# containerd 1.x replaces a plugin's whole section with the last imported file
# that sets it, so this file repeats the CRI section in effect, from
#   %s
# and its imports, and containerd's default runc handler if that section
# relies on it. Run "podlock-install install" again after changing it.
`, c.opts.ConfigPath)
	}
	buf.WriteString("\n")
	buf.Write(encoded)
	return buf.Bytes(), nil
}

func ensureTable(t map[string]any, key string) map[string]any {
	next, ok := t[key].(map[string]any)
	if !ok {
		next = map[string]any{}
		t[key] = next
	}
	return next
}

// deepCopy copies the tables and arrays of a decoded document, so that
// adding the handler leaves the parsed files as they were.
func deepCopy(t map[string]any) map[string]any {
	out := make(map[string]any, len(t))
	for k, v := range t {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return deepCopy(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopyValue(e)
		}
		return out
	default:
		return v
	}
}
