package compile

import (
	"debug/elf"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// node is a file of a fake rootfs: a symlink when link is set, a directory
// when the path ends in "/", else a regular file.
type node struct {
	path    string
	link    string
	content string
	mode    os.FileMode // default 0755
}

func mkroot(t *testing.T, nodes ...node) string {
	t.Helper()
	root := t.TempDir()
	for _, n := range nodes {
		p := filepath.Join(root, n.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := n.mode
		if mode == 0 {
			mode = 0o755
		}
		var err error
		switch {
		case n.link != "":
			err = os.Symlink(n.link, p)
		case strings.HasSuffix(n.path, "/"):
			err = os.MkdirAll(p, mode)
		default:
			if err = os.WriteFile(p, []byte(n.content), mode); err == nil {
				err = os.Chmod(p, mode)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// busyboxRoot is a small image: a multi-call binary with applet links, a
// regular cat, a script and a merged-/usr style /usr/bin.
func busyboxRoot(t *testing.T, extra ...node) string {
	return mkroot(t, append([]node{
		{path: "/bin/busybox", content: "multi-call binary"},
		{path: "/bin/sh", link: "busybox"},
		{path: "/bin/ls", link: "/bin/busybox"},
		{path: "/bin/cat", content: "a regular cat"},
		{path: "/sbin/", mode: 0o755},
		{path: "/usr/lib/", mode: 0o755},
		{path: "/usr/bin", link: "../bin"},
		{path: "/etc/passwd", content: "root:x:0:0::/:/bin/sh\n", mode: 0o644},
		{path: "/app/run.sh", content: "#!/bin/sh -e\necho hi\n"},
	}, extra...)...)
}

func profile(container string, binaries map[string]v1alpha1.AccessRules) *v1alpha1.LandlockProfileSpec {
	return &v1alpha1.LandlockProfileSpec{ProfilesByContainer: map[string]v1alpha1.BinaryRules{container: binaries}}
}

// one is a single profile of the spec.
func one(spec *v1alpha1.LandlockProfileSpec) []Profile {
	return []Profile{{Name: "LandlockProfile default/test", Spec: spec}}
}

// readExec returns the readExec paths of a ruleset, after the implicit
// landlock.HelperPath, which it checks along with the implicit readOnly
// landlock.PolicyPath, and without the originals it lets execute (see
// originals).
func readExec(t *testing.T, rs landlock.Ruleset) []string {
	t.Helper()
	if len(rs.Rules) == 0 || rs.Rules[0].Access != landlock.ReadOnly || rs.Rules[0].Paths[0] != landlock.PolicyPath {
		t.Fatalf("ruleset %+v does not start with readOnly %s", rs, landlock.PolicyPath)
	}
	for _, r := range rs.Rules {
		if r.Access != landlock.ReadExec {
			continue
		}
		if len(r.Paths) < 1 || r.Paths[0] != landlock.HelperPath {
			t.Fatalf("readExec rule %q does not start with %s", r.Paths, landlock.HelperPath)
		}
		return slices.DeleteFunc(slices.Clone(r.Paths[1:]), isOriginal)
	}
	t.Fatalf("ruleset %+v has no readExec rule", rs)
	return nil
}

// originals returns the originals a ruleset lets execute.
func originals(rs landlock.Ruleset) []string {
	var out []string
	for _, r := range rs.Rules {
		for _, p := range r.Paths {
			if isOriginal(p) {
				out = append(out, r.Access.String()+" "+p)
			}
		}
	}
	return out
}

func isOriginal(p string) bool { return strings.HasPrefix(p, landlock.OriginalsDir+"/") }

func TestCompileBinaries(t *testing.T) {
	rules := v1alpha1.AccessRules{ReadOnly: []string{"/etc"}}
	tests := []struct {
		name      string
		extra     []node
		binaries  map[string]v1alpha1.AccessRules
		want      map[string]string // key -> Exec
		originals []string
		loads     map[string][]string // key -> readExec paths after the implicit ones
		wantErr   string
	}{
		{
			name:     "symlink into a multi-call binary",
			binaries: map[string]v1alpha1.AccessRules{"/bin/sh": rules},
			want:     map[string]string{"/bin/sh": "/bin/busybox"},
			loads:    map[string][]string{"/bin/sh": {"/bin/busybox"}},
		},
		{
			name:     "absolute symlink",
			binaries: map[string]v1alpha1.AccessRules{"/bin/ls": rules},
			want:     map[string]string{"/bin/ls": "/bin/busybox"},
		},
		{
			name:      "regular file",
			binaries:  map[string]v1alpha1.AccessRules{"/bin/cat": rules},
			want:      map[string]string{"/bin/cat": landlock.Original(0)},
			originals: []string{"/bin/cat"},
			loads:     map[string][]string{"/bin/cat": {"/bin/cat"}},
		},
		{
			name:      "a symlink and its target, both listed",
			binaries:  map[string]v1alpha1.AccessRules{"/bin/sh": rules, "/bin/busybox": {}, "/bin/ls": {}, "/bin/cat": {}},
			want:      map[string]string{"/bin/sh": landlock.Original(0), "/bin/busybox": landlock.Original(0), "/bin/ls": landlock.Original(0), "/bin/cat": landlock.Original(1)},
			originals: []string{"/bin/busybox", "/bin/cat"},
		},
		{
			name:     "merged /usr: canonical key",
			binaries: map[string]v1alpha1.AccessRules{"/usr/bin/sh": rules},
			want:     map[string]string{"/bin/sh": "/bin/busybox"},
		},
		{
			name:     "two names for the same file",
			binaries: map[string]v1alpha1.AccessRules{"/usr/bin/sh": rules, "/bin/sh": {}},
			wantErr:  "name the same file /bin/sh twice",
		},
		{
			name:     "missing binary",
			binaries: map[string]v1alpha1.AccessRules{"/bin/bash": rules},
			wantErr:  "binary /bin/bash listed for container \"app\": does not exist in the image",
		},
		{
			name:     "missing directory",
			binaries: map[string]v1alpha1.AccessRules{"/opt/bin/tool": rules},
			wantErr:  "does not exist in the image",
		},
		{
			name:     "dangling symlink",
			extra:    []node{{path: "/bin/gone", link: "nowhere"}},
			binaries: map[string]v1alpha1.AccessRules{"/bin/gone": rules},
			wantErr:  "does not exist in the image",
		},
		{
			name:     "directory",
			binaries: map[string]v1alpha1.AccessRules{"/usr/lib": rules},
			wantErr:  "is not a regular file in the image",
		},
		{
			name:     "directory at the top of the rootfs",
			binaries: map[string]v1alpha1.AccessRules{"/sbin": rules},
			wantErr:  "is not a regular file in the image",
		},
		{
			name:      "file at the top of the rootfs",
			extra:     []node{{path: "/server", content: "a Go server"}},
			binaries:  map[string]v1alpha1.AccessRules{"/server": rules},
			want:      map[string]string{"/server": landlock.Original(0)},
			originals: []string{"/server"},
			loads:     map[string][]string{"/server": {"/server"}},
		},
		{
			name:     "symlink at the top of the rootfs",
			extra:    []node{{path: "/entrypoint", link: "bin/busybox"}},
			binaries: map[string]v1alpha1.AccessRules{"/entrypoint": rules},
			want:     map[string]string{"/entrypoint": "/bin/busybox"},
		},
		{
			name:     "symlink to a directory",
			binaries: map[string]v1alpha1.AccessRules{"/usr/bin": rules},
			wantErr:  "is not a regular file in the image",
		},
		{
			name:     "root",
			binaries: map[string]v1alpha1.AccessRules{"/": rules},
			wantErr:  "not a file",
		},
		{
			name:     "symlink escaping with ../.. stays in the root",
			extra:    []node{{path: "/usr/local/bin/evil", link: "../../../../../../../bin/busybox"}},
			binaries: map[string]v1alpha1.AccessRules{"/usr/local/bin/evil": rules},
			want:     map[string]string{"/usr/local/bin/evil": "/bin/busybox"},
		},
		{
			name:     "directory symlink escaping with ../.. stays in the root",
			extra:    []node{{path: "/opt/up", link: "../../../.."}},
			binaries: map[string]v1alpha1.AccessRules{"/opt/up/bin/sh": rules},
			want:     map[string]string{"/bin/sh": "/bin/busybox"},
		},
		{
			name: "absolute symlink to a host file is resolved in the root",
			// /usr/bin/true exists on the host, never in this image.
			extra:    []node{{path: "/bin/hosttrue", link: "/usr/bin/true"}},
			binaries: map[string]v1alpha1.AccessRules{"/bin/hosttrue": rules},
			wantErr:  "does not exist in the image",
		},
		{
			name:     "relative symlink to a host file is resolved in the root",
			extra:    []node{{path: "/bin/hostrunc", link: "../../../../../../../../usr/sbin/runc"}},
			binaries: map[string]v1alpha1.AccessRules{"/bin/hostrunc": rules},
			wantErr:  "does not exist in the image",
		},
		{
			name:     "symlink loop",
			extra:    []node{{path: "/bin/a", link: "b"}, {path: "/bin/b", link: "a"}},
			binaries: map[string]v1alpha1.AccessRules{"/bin/a": rules},
			wantErr:  "too many levels of symbolic links",
		},
		{
			name:     "listed script adds its interpreter",
			binaries: map[string]v1alpha1.AccessRules{"/app/run.sh": rules},
			want:     map[string]string{"/app/run.sh": landlock.Original(0)},
			// The interpreter is granted as the file it resolves to.
			loads:     map[string][]string{"/app/run.sh": {"/app/run.sh", "/bin/busybox"}},
			originals: []string{"/app/run.sh"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := busyboxRoot(t, tt.extra...)
			res, err := Compile(one(profile("app", tt.binaries)), Container{Name: "app", Rootfs: root, Args: []string{"/bin/sh"}}, 7)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Compile() = %+v, %v; want an error containing %q", res, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Compile() error = %v", err)
			}
			got := map[string]string{}
			for key, b := range res.Policy.Binaries {
				got[key] = b.Exec
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("binaries (key -> exec) = %v, want %v", got, tt.want)
			}
			if !slices.Equal(res.Originals, tt.originals) {
				t.Errorf("Originals = %q, want %q", res.Originals, tt.originals)
			}
			var keys []string
			for k := range tt.want {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if !slices.Equal(res.Covers, keys) {
				t.Errorf("Covers = %q, want %q", res.Covers, keys)
			}
			for key, want := range tt.loads {
				if got := readExec(t, res.Policy.Binaries[key].Rules[0]); !slices.Equal(got, want) {
					t.Errorf("%s: readExec = %q, want %q", key, got, want)
				}
			}
			if len(res.Policy.Container) > 0 || res.Policy.ABI != landlock.MinABI || res.Policy.BestEffort {
				t.Errorf("policy = %+v, want ABI %d, no container rules, not best effort", res.Policy, landlock.MinABI)
			}
		})
	}
}

func TestCompileRules(t *testing.T) {
	root := busyboxRoot(t)
	spec := profile("app", map[string]v1alpha1.AccessRules{
		"/bin/sh": {
			ReadOnly:  []string{"/etc", "/usr/share", "/etc"},
			ReadWrite: []string{"/tmp"},
			// Applets of the multi-call binary that runs them: one
			// path for the helper to open.
			ReadExec:      []string{"/usr/lib", "/bin/ls", "/usr/bin/sh", "/bin/busybox"},
			ReadWriteExec: []string{"/var/app"},
		},
		"/bin/cat": {},
	})
	res, err := Compile(one(spec), Container{Name: "app", Rootfs: root}, 7)
	if err != nil {
		t.Fatal(err)
	}
	want := landlock.Ruleset{Rules: []landlock.Rule{
		{Access: landlock.ReadOnly, Paths: []string{landlock.PolicyPath, "/etc", "/usr/share"}},
		{Access: landlock.ReadWrite, Paths: []string{"/tmp"}},
		{Access: landlock.ReadExec, Paths: []string{landlock.HelperPath, "/bin/busybox", "/usr/lib"}},
		{Access: landlock.ReadWriteExec, Paths: []string{"/var/app"}},
	}}
	if got := res.Policy.Binaries["/bin/sh"].Rules[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("rules of /bin/sh = %+v\nwant %+v", got, want)
	}
	// /bin/cat is a regular file, kept at Original(0) for the helper to
	// execute: its own rules let it.
	want = landlock.Ruleset{Rules: []landlock.Rule{
		{Access: landlock.ReadOnly, Paths: []string{landlock.PolicyPath}},
		{Access: landlock.ReadExec, Paths: []string{landlock.HelperPath, "/bin/cat", landlock.Original(0)}},
	}}
	if got := res.Policy.Binaries["/bin/cat"].Rules[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("rules of /bin/cat = %+v\nwant %+v", got, want)
	}
}

// Rule paths are written as the running container will see them, with the
// image's symlinks resolved inside the rootfs as far as the path exists,
// because the helper will not follow a symlink out of its directory.
func TestCompileCanonicalRulePaths(t *testing.T) {
	root := busyboxRoot(t,
		node{path: "/var/run", link: "../run"},
		node{path: "/run/", mode: 0o755},
		node{path: "/etc/mtab", link: "../proc/self/mounts"},
		node{path: "/data/escape", link: "../../../../etc"},
		node{path: "/data/dangling", link: "/nowhere/at/all"},
		node{path: "/data/loop", link: "loop"},
	)
	for _, tc := range []struct{ path, want string }{
		{"/usr/bin", "/bin"},
		{"/usr/bin/cat", "/bin/cat"},
		{"/bin/sh", "/bin/busybox"},
		{"/var/run/secrets/token", "/run/secrets/token"},
		{"/etc/mtab", "/proc/self/mounts"},
		{"/data/escape/passwd", "/etc/passwd"},
		{"/data/dangling", "/nowhere/at/all"},
		{"/data/dangling/x", "/nowhere/at/all/x"},
		{"/data/loop/x", "/data/loop/x"},
		{"/volume/file", "/volume/file"},
		{"/bin/cat/x", "/bin/cat/x"},
		{"/", "/"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			spec := profile("app", map[string]v1alpha1.AccessRules{"/bin/sh": {ReadOnly: []string{tc.path}}})
			res, err := Compile(one(spec), Container{Name: "app", Rootfs: root}, 7)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Policy.Binaries["/bin/sh"].Rules[0].Rules[0]; !slices.Equal(got.Paths, []string{landlock.PolicyPath, tc.want}) {
				t.Errorf("readOnly %q, want [%q %q]", got.Paths, landlock.PolicyPath, tc.want)
			}
		})
	}
}

func TestCompileOtherContainers(t *testing.T) {
	root := busyboxRoot(t)
	spec := &v1alpha1.LandlockProfileSpec{
		ProfilesByContainer: map[string]v1alpha1.BinaryRules{"other": {"/bin/missing": {}}},
		ContainerWide:       map[string]v1alpha1.AccessRules{"other2": {}},
		SeccompByContainer:  map[string]v1alpha1.ProfileName{"app": "runtime-default"},
	}
	// Nothing for app, so nothing is resolved and the kernel does not matter.
	for _, abi := range []int{0, 7} {
		res, err := Compile(one(spec), Container{Name: "app", Rootfs: root, Args: []string{"/nonexistent"}}, abi)
		if err != nil {
			t.Fatalf("Compile(abi %d) error = %v", abi, err)
		}
		if res.Policy.Binaries != nil || len(res.Policy.Container) > 0 || res.Originals != nil || res.Covers != nil || res.Policy.Wraps() {
			t.Errorf("Compile(abi %d) = %+v, want an empty policy", abi, res)
		}
	}
}

func TestCompileKernel(t *testing.T) {
	root := busyboxRoot(t)
	tests := []struct {
		name       string
		abi        int
		bestEffort bool
		wide       bool
		ok         bool
	}{
		{name: "ABI 2", abi: 2, ok: false},
		{name: "no Landlock", abi: 0, ok: false},
		{name: "ABI 2, container-wide", abi: 2, wide: true, ok: false},
		{name: "ABI 2, best effort", abi: 2, bestEffort: true, ok: true},
		{name: "ABI 2, best effort, container-wide", abi: 2, bestEffort: true, wide: true, ok: true},
		{name: "ABI 3", abi: 3, ok: true},
		{name: "ABI 7", abi: 7, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &v1alpha1.LandlockProfileSpec{BestEffort: tt.bestEffort}
			if tt.wide {
				spec.ContainerWide = map[string]v1alpha1.AccessRules{"app": {}}
			} else {
				spec.ProfilesByContainer = map[string]v1alpha1.BinaryRules{"app": {"/bin/sh": {}}}
			}
			res, err := Compile(one(spec), Container{Name: "app", Rootfs: root, Args: []string{"sh"}}, tt.abi)
			if !tt.ok {
				if !errors.Is(err, ErrKernel) {
					t.Fatalf("Compile() error = %v, want ErrKernel", err)
				}
				if !strings.Contains(err.Error(), "spec.bestEffort") {
					t.Errorf("Compile() error = %v, want it to suggest spec.bestEffort", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Compile() error = %v", err)
			}
			if res.Policy.ABI != landlock.MinABI || res.Policy.BestEffort != tt.bestEffort {
				t.Errorf("policy ABI %d best effort %v, want %d %v", res.Policy.ABI, res.Policy.BestEffort, landlock.MinABI, tt.bestEffort)
			}
		})
	}
}

// Network rules need ABI 4 and IPC scopes ABI 6: the policy asks for the
// newest any of its rulesets needs, and an older kernel is refused with the
// Linux release that has it.
func TestCompileKernelForNetworkAndScopes(t *testing.T) {
	root := busyboxRoot(t)
	for _, tc := range []struct {
		name    string
		rules   v1alpha1.AccessRules
		kernel  int
		wantABI int
		wantErr string
	}{
		{name: "network", rules: v1alpha1.AccessRules{Network: &v1alpha1.NetworkRules{ConnectTCP: []int32{443}}}, kernel: 7, wantABI: 4},
		{name: "network on ABI 3", rules: v1alpha1.AccessRules{Network: &v1alpha1.NetworkRules{}}, kernel: 3, wantErr: "needs ABI 4 (Linux 6.7 or later"},
		{name: "scope", rules: v1alpha1.AccessRules{Scope: &v1alpha1.ScopeRules{Signal: true}}, kernel: 6, wantABI: 6},
		{name: "scope on ABI 5", rules: v1alpha1.AccessRules{Scope: &v1alpha1.ScopeRules{Signal: true}}, kernel: 5, wantErr: "needs ABI 6 (Linux 6.12 or later"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &v1alpha1.LandlockProfileSpec{
				ProfilesByContainer: map[string]v1alpha1.BinaryRules{"app": {"/bin/sh": tc.rules}},
			}
			res, err := Compile(one(spec), Container{Name: "app", Rootfs: root, Args: []string{"sh"}}, tc.kernel)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrKernel) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Compile() error = %v, want ErrKernel with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Policy.ABI != tc.wantABI {
				t.Errorf("policy ABI %d, want %d", res.Policy.ABI, tc.wantABI)
			}
		})
	}
}

func TestCompileContainerWide(t *testing.T) {
	wide := v1alpha1.AccessRules{ReadOnly: []string{"/etc"}, ReadWrite: []string{"/tmp"}}
	tests := []struct {
		name    string
		extra   []node
		c       Container
		loads   []string
		wantErr string
	}{
		{
			name:  "bare name through PATH",
			c:     Container{Args: []string{"sh", "-c", "true"}, Env: []string{"HOME=/", "PATH=/usr/local/bin:/bin"}},
			loads: []string{"/bin/busybox"},
		},
		{
			name:  "bare name through the default PATH",
			c:     Container{Args: []string{"cat"}, Env: []string{"HOME=/"}},
			loads: []string{"/bin/cat"},
		},
		{
			name:  "last PATH wins",
			extra: []node{{path: "/opt/bin/cat", content: "other cat"}},
			c:     Container{Args: []string{"cat"}, Env: []string{"PATH=/bin", "PATH=/opt/bin"}},
			loads: []string{"/opt/bin/cat"},
		},
		{
			name:  "PATH entries that are not executable files are skipped",
			extra: []node{{path: "/usr/local/bin/cat", content: "not executable", mode: 0o644}, {path: "/opt/cat/"}},
			c:     Container{Args: []string{"cat"}, Env: []string{"PATH=/opt:/usr/local/bin:/nonexistent:/bin"}},
			loads: []string{"/bin/cat"},
		},
		{
			name:  "empty PATH entry is the working directory",
			extra: []node{{path: "/work/tool", content: "tool"}},
			c:     Container{Args: []string{"tool"}, Env: []string{"PATH=/bin:"}, Cwd: "/work"},
			loads: []string{"/work/tool"},
		},
		{
			name:  "absolute path",
			c:     Container{Args: []string{"/usr/bin/ls", "-l"}},
			loads: []string{"/bin/busybox"},
		},
		{
			name:  "entrypoint at the top of the rootfs",
			extra: []node{{path: "/server", content: "a Go server"}},
			c:     Container{Args: []string{"/server"}},
			loads: []string{"/server"},
		},
		{
			name:  "bare name in PATH /",
			extra: []node{{path: "/server", content: "a Go server"}},
			c:     Container{Args: []string{"server"}, Env: []string{"PATH=/"}},
			loads: []string{"/server"},
		},
		{
			name:  "relative path from the working directory",
			extra: []node{{path: "/work/tool", content: "tool"}},
			c:     Container{Args: []string{"./tool"}, Cwd: "/work"},
			loads: []string{"/work/tool"},
		},
		{
			name:  "script adds its interpreter",
			c:     Container{Args: []string{"/app/run.sh"}},
			loads: []string{"/app/run.sh", "/bin/busybox"},
		},
		{
			name: "interpreter chain",
			extra: []node{
				{path: "/app/a", content: "#!/app/b\n"},
				{path: "/app/b", content: "#! /app/c arg\n"},
				{path: "/app/c", content: "#!/bin/sh\n"},
			},
			c:     Container{Args: []string{"/app/a"}},
			loads: []string{"/app/a", "/app/b", "/app/c", "/bin/busybox"},
		},
		{
			name:  "script that is its own interpreter",
			extra: []node{{path: "/app/loop", content: "#!/app/loop\n"}},
			c:     Container{Args: []string{"/app/loop"}},
			loads: []string{"/app/loop"},
		},
		{
			name:  "shebang without interpreter",
			extra: []node{{path: "/app/empty", content: "#!\n"}},
			c:     Container{Args: []string{"/app/empty"}},
			loads: []string{"/app/empty"},
		},
		{
			name: "too many interpreters",
			extra: []node{
				{path: "/app/1", content: "#!/app/2\n"}, {path: "/app/2", content: "#!/app/3\n"},
				{path: "/app/3", content: "#!/app/4\n"}, {path: "/app/4", content: "#!/app/5\n"},
				{path: "/app/5", content: "#!/app/6\n"}, {path: "/app/6", content: "#!/app/7\n"},
				{path: "/app/7", content: "#!/bin/sh\n"},
			},
			c:       Container{Args: []string{"/app/1"}},
			wantErr: "too many levels of interpreters",
		},
		{
			name:    "missing interpreter",
			extra:   []node{{path: "/app/py", content: "#!/usr/bin/python3\n"}},
			c:       Container{Args: []string{"/app/py"}},
			wantErr: "python3",
		},
		{
			name:    "not in PATH",
			c:       Container{Args: []string{"bash"}, Env: []string{"PATH=/bin"}},
			wantErr: `"bash" not found in PATH "/bin"`,
		},
		{
			name:    "missing absolute entrypoint",
			c:       Container{Args: []string{"/bin/bash"}},
			wantErr: "entrypoint of container \"app\": does not exist in the image",
		},
		{
			name:    "no args",
			c:       Container{},
			wantErr: "entrypoint of container \"app\"",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := busyboxRoot(t, tt.extra...)
			tt.c.Name, tt.c.Rootfs = "app", root
			spec := &v1alpha1.LandlockProfileSpec{ContainerWide: map[string]v1alpha1.AccessRules{"app": wide}}
			res, err := Compile(one(spec), tt.c, 7)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Compile() = %+v, %v; want an error containing %q", res, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Compile() error = %v", err)
			}
			if len(res.Policy.Container) == 0 || !res.Policy.Wraps() {
				t.Fatalf("policy %+v has no container rules", res.Policy)
			}
			if got := readExec(t, res.Policy.Container[0]); !slices.Equal(got, tt.loads) {
				t.Errorf("readExec = %q, want %q", got, tt.loads)
			}
			if r := res.Policy.Container[0].Rules; r[0].Access != landlock.ReadOnly || !slices.Equal(r[0].Paths[1:], wide.ReadOnly) ||
				r[1].Access != landlock.ReadWrite || !slices.Equal(r[1].Paths, wide.ReadWrite) {
				t.Errorf("rules = %+v, want the profile's readOnly and readWrite first", r)
			}
			if res.Policy.Binaries != nil || res.Covers != nil {
				t.Errorf("container-wide only: binaries %v, covers %v", res.Policy.Binaries, res.Covers)
			}
		})
	}
}

func TestCompileMissingRootfs(t *testing.T) {
	_, err := Compile(one(profile("app", map[string]v1alpha1.AccessRules{"/bin/sh": {}})),
		Container{Name: "app", Rootfs: filepath.Join(t.TempDir(), "missing")}, 7)
	if err == nil || !strings.Contains(err.Error(), "opening container rootfs") {
		t.Errorf("Compile() error = %v, want one about the rootfs", err)
	}
}

// TestCompileSymlinkedRootfs: the rootfs path itself may go through
// symlinks on the host.
func TestCompileSymlinkedRootfs(t *testing.T) {
	root := busyboxRoot(t)
	link := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	res, err := Compile(one(profile("app", map[string]v1alpha1.AccessRules{"/bin/sh": {}})), Container{Name: "app", Rootfs: link}, 7)
	if err != nil {
		t.Fatalf("Compile() error = %v", err)
	}
	if got := res.Policy.Binaries["/bin/sh"].Exec; got != "/bin/busybox" {
		t.Errorf("exec = %q, want /bin/busybox", got)
	}
}

// hostRoot copies host files into a new rootfs under the same paths,
// recreating the symlinks on the way (so a merged-/usr host gives a
// merged-/usr image).
type hostRoot struct {
	t    *testing.T
	root string
}

func (h hostRoot) add(p string) {
	h.t.Helper()
	cur := "/"
	parts := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	for i, part := range parts {
		host := path.Join(cur, part)
		fi, err := os.Lstat(host)
		if err != nil {
			h.t.Fatal(err)
		}
		dst := filepath.Join(h.root, host)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(host)
			if err != nil {
				h.t.Fatal(err)
			}
			if _, err := os.Lstat(dst); os.IsNotExist(err) {
				if err := os.Symlink(target, dst); err != nil {
					h.t.Fatal(err)
				}
			}
			if !path.IsAbs(target) {
				target = path.Join(cur, target)
			}
			h.add(path.Join(append([]string{target}, parts[i+1:]...)...))
			return
		case fi.IsDir():
			if err := os.MkdirAll(dst, 0o755); err != nil {
				h.t.Fatal(err)
			}
		default:
			src, err := os.Open(host)
			if err != nil {
				h.t.Fatal(err)
			}
			out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
			if err == nil {
				_, err = io.Copy(out, src)
				if cerr := out.Close(); err == nil {
					err = cerr
				}
			}
			src.Close()
			if err != nil {
				h.t.Fatal(err)
			}
		}
		cur = host
	}
}

// hostDeps returns the ELF interpreter and the shared libraries (found
// where the host's loader would, recursively) of a host binary.
func hostDeps(t *testing.T, bin string) (interp string, libs []string) {
	t.Helper()
	seen := map[string]bool{}
	var walk func(file string)
	walk = func(file string) {
		f, err := elf.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP && interp == "" {
				data, err := io.ReadAll(p.Open())
				if err != nil {
					t.Fatal(err)
				}
				interp = strings.TrimRight(string(data), "\x00")
			}
		}
		needed, err := f.DynString(elf.DT_NEEDED)
		if err != nil {
			t.Fatal(err)
		}
		dirs := []string{"/lib64", "/usr/lib64", "/lib", "/usr/lib"}
		if triplet, ok := multiarch[f.Machine]; ok {
			dirs = append([]string{"/lib/" + triplet, "/usr/lib/" + triplet}, dirs...)
		}
		for _, name := range needed {
			found := ""
			for _, d := range dirs {
				if _, err := os.Stat(path.Join(d, name)); err == nil {
					found = path.Join(d, name)
					break
				}
			}
			if found == "" {
				t.Fatalf("%s: library %s not found on the host", file, name)
			}
			if !seen[found] {
				seen[found] = true
				libs = append(libs, found)
				walk(found)
			}
		}
	}
	walk(bin)
	if interp == "" {
		t.Fatalf("%s is not dynamically linked", bin)
	}
	return interp, libs
}

func canonical(t *testing.T, p string) string {
	t.Helper()
	c, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCompileDynamicBinary(t *testing.T) {
	const bin = "/usr/bin/true"
	interp, libs := hostDeps(t, bin)
	if len(libs) == 0 {
		t.Fatalf("%s needs no library", bin)
	}
	root := hostRoot{t: t, root: t.TempDir()}
	root.add(bin)
	root.add(interp)
	for _, lib := range libs {
		root.add(lib)
	}

	// Everything the kernel and the loader open, as canonical paths.
	want := []string{canonical(t, bin), canonical(t, interp), "/etc/ld.so.cache"}
	for _, lib := range libs {
		want = append(want, canonical(t, lib))
	}
	check := func(t *testing.T, got []string) {
		t.Helper()
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("readExec %q lacks %s", got, w)
			}
		}
		seen := map[string]bool{}
		for _, g := range got {
			if seen[g] {
				t.Errorf("readExec %q lists %s twice", got, g)
			}
			seen[g] = true
		}
		if got[0] != canonical(t, bin) {
			t.Errorf("readExec %q does not start with the binary", got)
		}
	}

	t.Run("listed binary", func(t *testing.T) {
		res, err := Compile(one(profile("app", map[string]v1alpha1.AccessRules{bin: {ReadOnly: []string{"/etc"}}})),
			Container{Name: "app", Rootfs: root.root}, 7)
		if err != nil {
			t.Fatalf("Compile() error = %v", err)
		}
		key := path.Join(canonical(t, path.Dir(bin)), path.Base(bin))
		b, ok := res.Policy.Binaries[key]
		if !ok {
			t.Fatalf("binaries %v lack %s", res.Policy.Binaries, key)
		}
		check(t, readExec(t, b.Rules[0]))
	})
	t.Run("container-wide entrypoint", func(t *testing.T) {
		spec := &v1alpha1.LandlockProfileSpec{ContainerWide: map[string]v1alpha1.AccessRules{"app": {}}}
		res, err := Compile(one(spec), Container{Name: "app", Rootfs: root.root, Args: []string{"true"}, Env: []string{"PATH=/usr/bin"}}, 7)
		if err != nil {
			t.Fatalf("Compile() error = %v", err)
		}
		check(t, readExec(t, res.Policy.Container[0]))
	})
	t.Run("missing library is left to the loader", func(t *testing.T) {
		partial := hostRoot{t: t, root: t.TempDir()}
		partial.add(bin)
		partial.add(interp)
		res, err := Compile(one(profile("app", map[string]v1alpha1.AccessRules{bin: {}})), Container{Name: "app", Rootfs: partial.root}, 7)
		if err != nil {
			t.Fatalf("Compile() error = %v", err)
		}
		for _, b := range res.Policy.Binaries {
			got := readExec(t, b.Rules[0])
			if !slices.Contains(got, canonical(t, interp)) || !slices.Contains(got, "/etc/ld.so.cache") {
				t.Errorf("readExec %q lacks the interpreter or the loader cache", got)
			}
		}
	})
	t.Run("missing interpreter", func(t *testing.T) {
		noInterp := hostRoot{t: t, root: t.TempDir()}
		noInterp.add(bin)
		_, err := Compile(one(profile("app", map[string]v1alpha1.AccessRules{bin: {}})), Container{Name: "app", Rootfs: noInterp.root}, 7)
		if err == nil || !strings.Contains(err.Error(), "ELF interpreter") {
			t.Errorf("Compile() error = %v, want one about the ELF interpreter", err)
		}
	})
}

// TestCompileStaticBinary: a static ELF needs nothing else.
func TestCompileStaticBinary(t *testing.T) {
	const busybox = "/usr/bin/busybox"
	f, err := elf.Open(busybox)
	if err != nil {
		t.Fatalf("needs the static %s (apt-get install busybox-static): %v", busybox, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s is dynamically linked; install busybox-static", busybox)
		}
	}
	f.Close()
	root := hostRoot{t: t, root: t.TempDir()}
	root.add(busybox)
	if err := os.Symlink("busybox", filepath.Join(root.root, canonical(t, path.Dir(busybox)), "sh")); err != nil {
		t.Fatal(err)
	}
	res, err := Compile(one(profile("app", map[string]v1alpha1.AccessRules{"/usr/bin/sh": {}})), Container{Name: "app", Rootfs: root.root}, 7)
	if err != nil {
		t.Fatalf("Compile() error = %v", err)
	}
	dir := canonical(t, path.Dir(busybox))
	b := res.Policy.Binaries[path.Join(dir, "sh")]
	if got := readExec(t, b.Rules[0]); !slices.Equal(got, []string{path.Join(dir, "busybox")}) || b.Exec != path.Join(dir, "busybox") {
		t.Errorf("binary = %+v, want exec and readExec of %s/busybox only", b, dir)
	}
}

func TestPathOf(t *testing.T) {
	tests := []struct {
		env  []string
		want string
	}{
		{nil, DefaultPath},
		{[]string{"HOME=/"}, DefaultPath},
		{[]string{"PATH=/a"}, "/a"},
		{[]string{"PATH=/a", "PATH=/b"}, "/b"},
		{[]string{"PATH="}, ""},
		{[]string{"XPATH=/x"}, DefaultPath},
	}
	for _, tt := range tests {
		if got := pathOf(tt.env); got != tt.want {
			t.Errorf("pathOf(%q) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

// TestCompileStacked: the namespace's profile and the pod's each give
// their own rulesets, in that order, to the container as a whole and to
// every binary either lists; the namespace's "*" entry covers the
// containers it names no other way.
func TestCompileStacked(t *testing.T) {
	root := busyboxRoot(t)
	readOnly := func(paths ...string) v1alpha1.AccessRules { return v1alpha1.AccessRules{ReadOnly: paths} }
	ns := Profile{Name: "LandlockProfile team/base", Spec: &v1alpha1.LandlockProfileSpec{
		ContainerWide:       map[string]v1alpha1.AccessRules{v1alpha1.AllContainers: readOnly("/ns-wide")},
		ProfilesByContainer: map[string]v1alpha1.BinaryRules{"listed": {"/bin/sh": readOnly("/ns-sh")}},
	}}
	pod := Profile{Name: "LandlockProfile team/web", Spec: &v1alpha1.LandlockProfileSpec{
		ContainerWide: map[string]v1alpha1.AccessRules{"app": readOnly("/pod-wide"), "listed": readOnly("/pod-wide")},
		ProfilesByContainer: map[string]v1alpha1.BinaryRules{
			"app":    {"/bin/sh": readOnly("/pod-sh")},
			"listed": {"/usr/bin/sh": readOnly("/pod-sh")},
		},
	}}
	// names names each ruleset by its first path after the implicit
	// policy.json.
	names := func(rs landlock.Rulesets) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Rules[0].Paths[1])
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		profiles  []Profile
		container string
		wide      []string
		binaries  map[string][]string
	}{
		{name: "namespace's * and the pod's container-wide rules stack, namespace first", profiles: []Profile{ns, pod}, container: "app",
			wide: []string{"/ns-wide", "/pod-wide"}, binaries: map[string][]string{"/bin/sh": {"/pod-sh"}}},
		{name: "the namespace's profile alone confines a container it does not name", profiles: []Profile{ns}, container: "app",
			wide: []string{"/ns-wide"}},
		// The namespace names "listed" per binary: its "*" does not
		// apply there, its binary rules do, under the pod's.
		{name: "a binary both list, under another name", profiles: []Profile{ns, pod}, container: "listed",
			wide: []string{"/pod-wide"}, binaries: map[string][]string{"/bin/sh": {"/ns-sh", "/pod-sh"}}},
		{name: "the pod's profile alone", profiles: []Profile{pod}, container: "app",
			wide: []string{"/pod-wide"}, binaries: map[string][]string{"/bin/sh": {"/pod-sh"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Compile(tc.profiles, Container{Name: tc.container, Rootfs: root, Args: []string{"sh"}}, 7)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(res.Policy.Container); !slices.Equal(got, tc.wide) {
				t.Errorf("container rulesets %q, want %q", got, tc.wide)
			}
			got := map[string][]string{}
			for key, b := range res.Policy.Binaries {
				got[key] = names(b.Rules)
			}
			if (len(got) > 0 || len(tc.binaries) > 0) && !reflect.DeepEqual(got, tc.binaries) {
				t.Errorf("binary rulesets %q, want %q", got, tc.binaries)
			}
		})
	}

	t.Run("the same file twice in one profile", func(t *testing.T) {
		twice := Profile{Name: "LandlockProfile team/twice", Spec: profile("app", map[string]v1alpha1.AccessRules{"/bin/sh": {}, "/usr/bin/sh": {}})}
		_, err := Compile([]Profile{ns, twice}, Container{Name: "app", Rootfs: root}, 7)
		if err == nil || !strings.HasPrefix(err.Error(), `LandlockProfile team/twice: binaries listed for container "app" name the same file /bin/sh twice`) {
			t.Errorf("Compile() error = %v, want one naming the profile and the file", err)
		}
	})
	t.Run("more profiles than the helper stacks", func(t *testing.T) {
		_, err := Compile([]Profile{ns, pod, pod}, Container{Name: "app", Rootfs: root}, 7)
		if err == nil || !strings.Contains(err.Error(), "at most 2 stack") {
			t.Errorf("Compile() error = %v, want one about the bound", err)
		}
	})
	t.Run("errors name the profile", func(t *testing.T) {
		missing := Profile{Name: "LandlockProfile team/missing", Spec: profile("app", map[string]v1alpha1.AccessRules{"/bin/bash": {}})}
		_, err := Compile([]Profile{ns, missing}, Container{Name: "app", Rootfs: root, Args: []string{"sh"}}, 7)
		if err == nil || !strings.HasPrefix(err.Error(), `LandlockProfile team/missing: binary /bin/bash listed for container "app": does not exist in the image`) {
			t.Errorf("Compile() error = %v", err)
		}
		_, err = Compile([]Profile{ns}, Container{Name: "app", Rootfs: root, Args: []string{"bash"}}, 7)
		if err == nil || !strings.HasPrefix(err.Error(), `LandlockProfile team/base: entrypoint of container "app"`) {
			t.Errorf("Compile() error = %v", err)
		}
	})
}

// A listed regular file is kept under landlock.OriginalsDir for the
// helper to execute. Only a ruleset that lets the file execute where it
// is lets its original execute: otherwise a binary that the pod's profile
// lists would become executable under the namespace's rules, which deny
// it.
func TestCompileOriginalsFollowTheRules(t *testing.T) {
	root := busyboxRoot(t)
	ns := func(readExec ...string) Profile {
		return Profile{Name: "LandlockProfile team/base", Spec: &v1alpha1.LandlockProfileSpec{
			ContainerWide: map[string]v1alpha1.AccessRules{"app": {ReadExec: readExec}}}}
	}
	pod := Profile{Name: "LandlockProfile team/web", Spec: profile("app", map[string]v1alpha1.AccessRules{
		"/bin/cat": {},                                   // a regular file: Original(0)
		"/bin/sh":  {ReadExec: []string{"/bin/busybox"}}, // a symlink: its target runs, no original
	})}
	orig := landlock.Original(0)
	for _, tc := range []struct {
		name          string
		ns            Profile
		wide, sh, cat []string
	}{
		{name: "the namespace does not let it execute", ns: ns("/bin/busybox"),
			wide: nil, sh: nil, cat: []string{"readExec " + orig}},
		{name: "the namespace lets its directory execute", ns: ns("/usr/bin"),
			wide: []string{"readExec " + orig}, sh: nil, cat: []string{"readExec " + orig}},
		{name: "the namespace lets it execute", ns: ns("/bin/cat"),
			wide: []string{"readExec " + orig}, sh: nil, cat: []string{"readExec " + orig}},
		{name: "the namespace lets everything execute", ns: ns("/"),
			wide: []string{"readExec " + orig}, sh: nil, cat: []string{"readExec " + orig}},
		{name: "a sibling with a common prefix is not its directory", ns: ns("/bin/ca"),
			wide: nil, sh: nil, cat: []string{"readExec " + orig}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Compile([]Profile{tc.ns, pod}, Container{Name: "app", Rootfs: root, Args: []string{"/bin/busybox"}}, 7)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Originals, []string{"/bin/cat"}) || res.Policy.Binaries["/bin/cat"].Exec != orig {
				t.Fatalf("originals %q, /bin/cat runs %s; want /bin/cat kept at %s", res.Originals, res.Policy.Binaries["/bin/cat"].Exec, orig)
			}
			for what, c := range map[string]struct {
				rs   landlock.Ruleset
				want []string
			}{
				"the namespace's container-wide ruleset": {res.Policy.Container[0], tc.wide},
				"the rules of /bin/sh":                   {res.Policy.Binaries["/bin/sh"].Rules[0], tc.sh},
				"the rules of /bin/cat":                  {res.Policy.Binaries["/bin/cat"].Rules[0], tc.cat},
			} {
				if got := originals(c.rs); !slices.Equal(got, c.want) {
					t.Errorf("%s grants %q, want %q", what, got, c.want)
				}
			}
		})
	}
}

// Each profile's spec.bestEffort speaks for its own rules only: a pod's
// profile cannot make the namespace's run on a kernel too old for it.
func TestCompileStackedKernel(t *testing.T) {
	root := busyboxRoot(t)
	network := v1alpha1.AccessRules{Network: &v1alpha1.NetworkRules{ConnectTCP: []int32{443}}}
	wide := func(name string, rules v1alpha1.AccessRules, bestEffort bool) Profile {
		return Profile{Name: "LandlockProfile team/" + name, Spec: &v1alpha1.LandlockProfileSpec{
			ContainerWide: map[string]v1alpha1.AccessRules{"app": rules}, BestEffort: bestEffort}}
	}
	for _, tc := range []struct {
		name       string
		profiles   []Profile
		wantErr    string
		bestEffort bool
	}{
		{name: "the namespace's needs ABI 4, the pod's is best effort",
			profiles: []Profile{wide("base", network, false), wide("web", v1alpha1.AccessRules{}, true)},
			wantErr:  "LandlockProfile team/base: the node's kernel supports Landlock ABI 3, the profile needs ABI 4"},
		{name: "the pod's needs ABI 4 and is best effort",
			profiles:   []Profile{wide("base", v1alpha1.AccessRules{}, false), wide("web", network, true)},
			bestEffort: true},
		{name: "the pod's needs ABI 4",
			profiles: []Profile{wide("base", v1alpha1.AccessRules{}, true), wide("web", network, false)},
			wantErr:  "LandlockProfile team/web: the node's kernel supports Landlock ABI 3, the profile needs ABI 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Compile(tc.profiles, Container{Name: "app", Rootfs: root, Args: []string{"sh"}}, 3)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrKernel) || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("Compile() error = %v, want ErrKernel starting %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Policy.ABI != 4 || res.Policy.BestEffort != tc.bestEffort {
				t.Errorf("policy ABI %d best effort %v, want 4 %v", res.Policy.ABI, res.Policy.BestEffort, tc.bestEffort)
			}
		})
	}
}
