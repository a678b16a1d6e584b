package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/landlock/compile"
	"github.com/kubewarden/podlock/profiles"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/runtime/bundle"
	"github.com/kubewarden/podlock/runtime/index"
	"github.com/kubewarden/podlock/runtime/index/lookup"
	"github.com/kubewarden/podlock/runtime/interpose"
)

// interposerName is the createContainer hook that mounts the helper over
// listed binaries, installed next to the helper.
const interposerName = "podlock-interpose"

// stateDirName is podlock's directory in the bundle. It is mounted
// read-only at landlock.Dir, and goes away with the bundle.
const stateDirName = "podlock"

// hostStateDirName is podlock's directory in the bundle that stays on the
// host: what a retried create and the interposition hook need, which
// names host paths and holds the container's whole environment.
const hostStateDirName = "podlock.host"

// prepareCreate confines the container of a create or run command by
// rewriting its bundle, or leaves the bundle untouched when the container
// asks for no profile or its profile does not name it.
func (r *Runtime) prepareCreate(ctx context.Context) error {
	if _, ok := r.args.VerbFlag("config", "f"); ok {
		// crun would read that file instead of the config.json podlock
		// inspects and rewrites.
		return errors.New("podlock-runtime does not support crun's --config: it confines containers through the bundle's config.json")
	}
	if len(r.args.Positional()) != 1 {
		return nil // the runtime's usage error
	}
	b, err := bundle.Open(r.bundleDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no config.json: the runtime's own error
	}
	if err != nil {
		return err
	}
	if err := restoreOriginal(b); err != nil {
		return err
	}
	id, err := identify(b.Annotations())
	if errors.Is(err, errNotConfined) {
		return nil
	}
	if err != nil {
		return err
	}
	if b.Process() == nil || len(b.Process().Args) == 0 {
		return fmt.Errorf("%s: config.json has no process to confine", id)
	}
	// The source is built only here: containers without a profile must
	// not pay for reading a kubeconfig or setting up TLS.
	r.steps.mark("bundle")
	if r.source, err = r.config.ProfileSource(r.log); err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	nsSpec, err := r.loadLandlock(ctx, id, id.NamespaceProfile, true)
	if err != nil {
		return err
	}
	spec := nsSpec
	if id.Profile != id.NamespaceProfile {
		// The same profile bound twice confines once.
		if spec, err = r.loadLandlock(ctx, id, id.Profile, false); err != nil {
			return err
		}
	}
	if err := refuseRecordUnderNamespace(id, spec, nsSpec); err != nil {
		return err
	}
	if spec.Records() {
		if err := r.prepareRecord(b, id); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		return nil
	}
	seccomps := seccompBindings(id, spec, nsSpec)
	if !spec.Confines(id.Container) && !nsSpec.Confines(id.Container) && len(seccomps) == 0 {
		r.log.Debug("no profile names the container; not confining it", "profile", id.Profile, "namespaceProfile", id.NamespaceProfile, "container", id.Container)
		return nil
	}
	mounts, err := b.MountDestinations()
	if err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	if err := checkPodlockDir(b.Rootfs(), mounts); err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	r.steps.mark("lookup")
	c, err := r.compile(b, id, nsSpec, spec)
	if err != nil {
		return fmt.Errorf("%s, %w", id, err)
	}
	c.owner = landlock.Owner{
		Namespace:        id.Namespace,
		Pod:              id.Pod,
		PodUID:           id.PodUID,
		Container:        id.Container,
		Profile:          id.Profile,
		NamespaceProfile: id.NamespaceProfile,
	}
	r.steps.mark("compile")
	if err := r.addSeccomp(ctx, id, c, seccomps); err != nil {
		return err
	}
	r.steps.mark("seccomp")
	if err := r.install(b, c); err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	r.steps.mark("rewrite")
	r.log.Debug("create steps", r.steps.attrs...)
	r.log.Debug("container confined", "profile", id.Profile, "namespaceProfile", id.NamespaceProfile, "container", id.Container,
		"binaries", len(c.Policy.Binaries), "containerWide", len(c.Policy.Container), "seccomp", c.owner.Seccomp, "namespaceSeccomp", c.owner.NamespaceSeccomp)
	return nil
}

// refuseRecordUnderNamespace refuses learning mode where the namespace
// binds a profile: a container in mode Record runs without podlock's
// rules and filters, which would lift what the namespace imposes, and a
// namespace's own profile in mode Record would run every pod unconfined.
func refuseRecordUnderNamespace(id identity, spec, nsSpec *v1alpha1.LandlockProfileSpec) error {
	switch {
	case nsSpec.Records():
		return fmt.Errorf("%s: LandlockProfile %s, which its namespace binds to every pod (annotation %s), is in mode Record, which would run every container of the namespace unconfined; the container is not started: set the profile's mode to Enforce, or record with a pod label %s in a namespace without the label %s",
			id, id.NamespaceProfile, v1alpha1.NamespaceProfileKey, v1alpha1.ProfileKey, namespaceLandlockLabel)
	case spec.Records() && id.NamespaceProfile != "":
		return fmt.Errorf("%s: LandlockProfile %s is in mode Record, which would run the container without LandlockProfile %s that its namespace binds to every pod (annotation %s); the container is not started: record in a namespace without the label %s",
			id, id.Profile, id.NamespaceProfile, v1alpha1.NamespaceProfileKey, namespaceLandlockLabel)
	case spec.Records() && id.Seccomp != "":
		return fmt.Errorf("%s: LandlockProfile %s is in mode Record, which would run the container without SeccompProfile %s that its namespace binds to every pod (annotation %s); the container is not started: record in a namespace without the label %s",
			id, id.Profile, id.Seccomp, v1alpha1.SeccompKey, v1alpha1.Group+"/seccomp-profile")
	}
	return nil
}

// bundleDir is the bundle of a create, run or restore: --bundle, or the
// working directory, as for runc.
func (r *Runtime) bundleDir() string {
	dir, ok := r.args.VerbFlag("bundle", "b")
	if !ok || dir == "" {
		return "."
	}
	return dir
}

// confinement is everything podlock puts into a bundle.
type confinement struct {
	compile.Result
	// seccomp maps the files of Policy.Seccomp to their serialised
	// programs.
	seccomp map[string][]byte
	// owner goes into the host-side index, from which podlock-node
	// attributes the container's denials.
	owner landlock.Owner
}

// compile computes the container's policy under the namespace's
// LandlockProfile and the pod's, in that order: the helper applies the
// namespace's rules first, and the pod's can only narrow them.
func (r *Runtime) compile(b *bundle.Bundle, id identity, nsSpec, spec *v1alpha1.LandlockProfileSpec) (*confinement, error) {
	var stack []compile.Profile
	if id.NamespaceProfile != "" {
		stack = append(stack, compile.Profile{Name: fmt.Sprintf("LandlockProfile %s/%s (the namespace's)", id.Namespace, id.NamespaceProfile), Spec: nsSpec})
	}
	if id.Profile != "" && id.Profile != id.NamespaceProfile {
		stack = append(stack, compile.Profile{Name: fmt.Sprintf("LandlockProfile %s/%s", id.Namespace, id.Profile), Spec: spec})
	}
	p := b.Process()
	res, err := compile.Compile(stack, compile.Container{
		Name:   id.Container,
		Rootfs: b.Rootfs(),
		Args:   p.Args,
		Env:    p.Env,
		Cwd:    p.Cwd,
	}, landlock.KernelABI())
	if err != nil {
		return nil, err
	}
	return &confinement{Result: *res}, nil
}

// namespaceLandlockLabel is the namespace label from which
// podlock-controller sets v1alpha1.NamespaceProfileKey.
const namespaceLandlockLabel = v1alpha1.Group + "/landlock-profile"

// loadLandlock returns the spec of the LandlockProfile name, the pod's or
// (namespace) the one its namespace binds, or an empty spec when name is
// empty.
func (r *Runtime) loadLandlock(ctx context.Context, id identity, name string, namespace bool) (*v1alpha1.LandlockProfileSpec, error) {
	if name == "" {
		return &v1alpha1.LandlockProfileSpec{}, nil
	}
	profile, err := r.source.LandlockProfile(ctx, profiles.Ref{Namespace: id.Namespace, Name: name})
	if err != nil {
		return nil, explainLookup(id, name, namespace, err)
	}
	return &profile.Spec, nil
}

// install writes the policy into the bundle and rewrites config.json so
// that the container starts confined. config.json is written last: until
// then, the bundle is as it was.
func (r *Runtime) install(b *bundle.Bundle, c *confinement) error {
	helper, err := r.config.HelperPath()
	if err != nil {
		return err
	}
	// First: an entry left by a later failure names a container that
	// never runs, which podlock-node removes.
	if err := r.recordInIndex(b, c.owner, c.Policy.Wraps()); err != nil {
		return err
	}
	state, hostState := filepath.Join(b.Dir, stateDirName), filepath.Join(b.Dir, hostStateDirName)
	for _, dir := range []string{state, hostState} {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("clearing %s: %w", dir, err)
		}
	}
	// Readable by every user: the helper runs as the container's user.
	if err := os.MkdirAll(filepath.Join(state, filepath.Base(landlock.OriginalsDir)), 0o755); err != nil {
		return fmt.Errorf("creating podlock state in the bundle: %w", err)
	}
	files := map[string][]byte{filepath.Base(landlock.HelperPath): nil}
	if files[filepath.Base(landlock.PolicyPath)], err = landlock.MarshalPolicy(&c.Policy); err != nil {
		return err
	}
	if size := len(files[filepath.Base(landlock.PolicyPath)]); size > landlock.MaxPolicySize {
		return fmt.Errorf("the compiled policy is %d bytes, more than the %d the helper reads; list fewer paths (a directory grants everything beneath it)", size, landlock.MaxPolicySize)
	}
	maps.Copy(files, c.seccomp)
	var plan *interpose.Plan
	if len(c.Covers) > 0 {
		plan = &interpose.Plan{Rootfs: b.Rootfs(), Helper: helper, Covers: c.Covers}
		for i, file := range c.Originals {
			at := landlock.Original(i)
			plan.Originals = append(plan.Originals, interpose.Original{File: file, At: at})
			files[filepath.Join(filepath.Base(landlock.OriginalsDir), filepath.Base(at))] = nil
		}
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(state, name), data, 0o644); err != nil {
			return fmt.Errorf("writing podlock state: %w", err)
		}
	}

	mounts := []specs.Mount{
		{Destination: landlock.Dir, Type: "bind", Source: state, Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}},
		{Destination: landlock.HelperPath, Type: "bind", Source: helper, Options: []string{"bind", "ro", "nosuid", "nodev"}},
	}
	if err := b.AddMounts(mounts...); err != nil {
		return err
	}
	if plan != nil {
		if err := os.Mkdir(hostState, 0o700); err != nil {
			return fmt.Errorf("writing podlock state: %w", err)
		}
		planFile := filepath.Join(hostState, "interpose.json")
		if err := plan.Write(planFile); err != nil {
			return fmt.Errorf("writing podlock state: %w", err)
		}
		interposer := filepath.Join(filepath.Dir(helper), interposerName)
		if _, err := os.Stat(interposer); err != nil {
			return fmt.Errorf("%w; install %s next to the helper", err, interposerName)
		}
		hook := specs.Hook{Path: interposer, Args: []string{interposerName, planFile}}
		if err := b.AddCreateContainerHooks(hook); err != nil {
			return err
		}
	}
	err = b.EditProcess(func(p bundle.ProcessEditor) error {
		// Landlock needs no_new_privs; setting it here rather than
		// relying on the helper keeps the OCI config honest about what
		// the container gets.
		p.SetNoNewPrivileges()
		if c.Policy.Wraps() {
			return p.PrependArgs(landlock.HelperPath)
		}
		return nil
	})
	if err != nil {
		return err
	}
	written, err := b.Flush()
	if err != nil {
		return err
	}
	return saveOriginal(b, written)
}

// recordInIndex notes the container in podlock's host-side index before
// it exists, so that podlock-node can tell its processes by their cgroup.
func (r *Runtime) recordInIndex(b *bundle.Bundle, owner landlock.Owner, execHelper bool) error {
	positional := r.args.Positional()
	if len(positional) == 0 {
		return errors.New("no container ID on the command line")
	}
	cgroupsPath, err := b.CgroupsPath()
	if err != nil {
		return err
	}
	root, _ := r.args.Global("root")
	e := index.Entry{ID: positional[0], Bundle: b.Dir, CgroupsPath: cgroupsPath, Owner: owner,
		Key: lookup.Key(r.real, root), ExecHelper: execHelper}
	if err := lookup.ValidateID(e.ID); err != nil {
		return err
	}
	if err := index.Write(r.config.IndexDir, e); err != nil {
		return fmt.Errorf("%w; fix indexDir in %s or PODLOCK_INDEX_DIR", err, DefaultConfigFile)
	}
	return nil
}

// saveOriginal keeps what a second create of the same bundle needs to
// start again from the original config.json, written, rather than change
// the changed config twice.
func saveOriginal(b *bundle.Bundle, written []byte) error {
	state := filepath.Join(b.Dir, hostStateDirName)
	if err := os.MkdirAll(state, 0o700); err != nil {
		return fmt.Errorf("writing podlock state: %w", err)
	}
	sum := sha256.Sum256(written)
	if err := os.WriteFile(filepath.Join(state, originalConfig), b.Original(), 0o600); err != nil {
		return fmt.Errorf("writing podlock state: %w", err)
	}
	if err := os.WriteFile(filepath.Join(state, writtenSum), []byte(hex.EncodeToString(sum[:])), 0o600); err != nil {
		return fmt.Errorf("writing podlock state: %w", err)
	}
	return nil
}

// Files of the host state directory that let a bundle be created twice.
const (
	originalConfig = "config.orig.json"
	writtenSum     = "config.sha256"
)

// restoreOriginal makes b start from the config.json it had before podlock
// rewrote it, when config.json is still exactly what podlock wrote: a
// create retried on the same bundle. A config.json changed since is taken
// as it is.
func restoreOriginal(b *bundle.Bundle) error {
	state := filepath.Join(b.Dir, hostStateDirName)
	want, err := os.ReadFile(filepath.Join(state, writtenSum))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading podlock state: %w", err)
	}
	sum := sha256.Sum256(b.Original())
	if hex.EncodeToString(sum[:]) != string(want) {
		return nil
	}
	original, err := os.ReadFile(filepath.Join(state, originalConfig))
	if err != nil {
		return fmt.Errorf("reading podlock state: %w", err)
	}
	return b.Reset(original)
}

// explainLookup turns a failure to load LandlockProfile name, the pod's
// or (namespace) its namespace's, into an error that says what to do
// about it.
func explainLookup(id identity, name string, namespace bool, err error) error {
	asks, label, of := "asks for", "the "+v1alpha1.ProfileKey+" label", "pod"
	if namespace {
		asks, label, of = "is bound by its namespace (annotation "+v1alpha1.NamespaceProfileKey+") to", "the namespace's "+namespaceLandlockLabel+" label", "namespace"
	}
	switch {
	case errors.Is(err, profiles.ErrNotFound):
		return fmt.Errorf("%s %s LandlockProfile %q, which does not exist in namespace %s; create the profile or remove %s, then recreate the pod: %w",
			id, asks, name, id.Namespace, label, err)
	case errors.Is(err, profiles.ErrUnavailable):
		return fmt.Errorf("%s %s LandlockProfile %s/%s, which cannot be loaded now; the container is not started unconfined: %w",
			id, asks, id.Namespace, name, err)
	}
	return fmt.Errorf("%s, the %s's LandlockProfile %s: %w", id, of, name, err)
}
