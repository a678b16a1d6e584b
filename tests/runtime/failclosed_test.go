package runtime_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// A container that asks for a profile is never started unconfined: every
// problem stops create with an error in runc's JSON log that names the
// cause, and leaves config.json as it was.
func TestFailClosed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		profile  string // manifest written as profiles/p.yaml
		setup    func(t *testing.T, b *testenv.Bundle)
		env      []string
		noBundle bool
		want     string
	}{
		{
			name:    "profile missing",
			profile: "",
			want:    `asks for LandlockProfile "demo", which does not exist in namespace default; create the profile or remove the podlock.kubewarden.io/profile label`,
		},
		{
			name:    "profile in another namespace only",
			profile: strings.Replace(testenv.QuickstartProfile, "namespace: default", "namespace: other", 1),
			want:    `which does not exist in namespace default`,
		},
		{
			name:    "profile YAML malformed",
			profile: "apiVersion: podlock.kubewarden.io/v1alpha1\nkind: LandlockProfile\nmetadata: {name: demo\n",
			want:    "parsing ",
		},
		{
			name:    "relative path",
			profile: strings.Replace(testenv.QuickstartProfile, "readWrite: [/tmp]", "readWrite: [tmp]", 1),
			want:    `spec.profilesByContainer[app][/bin/sh].readWrite[0]: path "tmp" is not absolute`,
		},
		{
			name:    "dot-dot path",
			profile: strings.Replace(testenv.QuickstartProfile, "readWrite: [/tmp]", "readWrite: [/tmp/../etc]", 1),
			want:    `path "/tmp/../etc" is not clean`,
		},
		{
			name:    "misspelt field",
			profile: strings.Replace(testenv.QuickstartProfile, "readOnly:", "readOnlyPaths:", 1),
			want:    `unknown field "spec.profilesByContainer.app./bin/sh.readOnlyPaths"`,
		},
		{
			name:    "listed binary not in image",
			profile: strings.Replace(testenv.QuickstartProfile, "/bin/sh:", "/usr/bin/python3:", 1),
			want:    `binary /usr/bin/python3 listed for container "app": does not exist in the image`,
		},
		{
			name:    "image symlink out of the rootfs",
			profile: strings.Replace(testenv.QuickstartProfile, "/bin/sh:", "/bin/escape:", 1),
			setup: func(t *testing.T, b *testenv.Bundle) {
				// On the host this would be /usr/bin/env; in the
				// container it resolves to <rootfs>/usr/bin/env.
				if err := os.Symlink("../../../../../../../../usr/bin/env", filepath.Join(b.Dir, "rootfs", "bin", "escape")); err != nil {
					t.Fatal(err)
				}
			},
			want: `binary /bin/escape listed for container "app": does not exist in the image`,
		},
		{
			name:    "profile name not a DNS name",
			profile: testenv.QuickstartProfile,
			setup: func(t *testing.T, b *testenv.Bundle) {
				b.Spec.Annotations["podlock.kubewarden.io/profile"] = "../../etc/shadow"
			},
			want: `annotation podlock.kubewarden.io/profile: name "../../etc/shadow" is not a DNS-1123 subdomain`,
		},
		{
			name:    "profile in mode Record with rules",
			profile: strings.Replace(testenv.QuickstartProfile, "spec:\n", "spec:\n  mode: Record\n", 1),
			want:    "spec.mode: a profile in mode Record confines nothing: remove its rules, or set mode Enforce",
		},
		{
			name:    "mode misspelt",
			profile: strings.Replace(testenv.QuickstartProfile, "spec:\n", "spec:\n  mode: record\n", 1),
			want:    `spec.mode: "record" is neither Enforce nor Record`,
		},
		{
			name:    "profile in mode Record where the namespace binds a seccomp profile",
			profile: strings.Replace(recordProfile, "name: learned", "name: demo", 1),
			setup: func(t *testing.T, b *testenv.Bundle) {
				b.Spec.Annotations["podlock.kubewarden.io/seccomp"] = "runtime-default"
			},
			want: "LandlockProfile demo is in mode Record, which would run the container without SeccompProfile runtime-default that its namespace binds to every pod",
		},
		{
			name:    "record directory unusable",
			profile: strings.Replace(recordProfile, "name: learned", "name: demo", 1),
			env:     []string{"PODLOCK_RECORD_DIR=/dev/null/records"},
			want:    "LandlockProfile demo is in mode Record, but the recording cannot be kept: mkdir /dev/null: not a directory; fix recordDir",
		},
		{
			name:    "record directory too long for a socket",
			profile: strings.Replace(recordProfile, "name: learned", "name: demo", 1),
			env:     []string{"PODLOCK_RECORD_DIR=/tmp/" + strings.Repeat("r", 100)},
			want:    "is too long to hold a unix socket: set a shorter recordDir",
		},
		{
			name:    "container index unusable",
			profile: testenv.QuickstartProfile,
			env:     []string{"PODLOCK_INDEX_DIR=/dev/null/index"},
			want:    "container index: mkdir /dev/null: not a directory; fix indexDir in /etc/podlock/config.yaml or PODLOCK_INDEX_DIR",
		},
		{
			name:    "real runtime missing",
			profile: testenv.QuickstartProfile,
			env:     []string{"PODLOCK_RUNTIME=/nonexistent/runc"},
			want:    `real runtime "/nonexistent/runc"`,
		},
		{
			name:    "config.json malformed",
			profile: testenv.QuickstartProfile,
			setup: func(t *testing.T, b *testenv.Bundle) {
				b.Spec = nil
			},
			want: "parsing ",
		},
		{
			// Without a config.json there is nothing to confine or
			// start: the runtime's own error, as runc gives it.
			name:     "bundle missing",
			profile:  testenv.QuickstartProfile,
			noBundle: true,
			want:     "no such file or directory",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.env...)
			if tc.profile != "" {
				e.profile("p", tc.profile)
			}
			b := testenv.NewBundle(t, "sh", "-c", "echo UNCONFINED").Annotate("default", "app", "demo")
			if tc.setup != nil {
				tc.setup(t, b)
			}
			var before []byte
			switch {
			case tc.noBundle:
				b.Dir = filepath.Join(b.Dir, "missing")
			case b.Spec == nil:
				before = []byte(`{"ociVersion": "1.0.2", "process": {"args": [`)
				if err := os.WriteFile(filepath.Join(b.Dir, "config.json"), before, 0o644); err != nil {
					t.Fatal(err)
				}
			default:
				before = b.Write(t)
			}
			res := e.rt.Command("create", "--bundle", b.Dir, "failclosed")
			if res.Err == nil {
				t.Fatalf("create succeeded; stdout %q", res.Stdout)
			}
			if strings.Contains(res.Stdout, "UNCONFINED") {
				t.Fatal("the container ran")
			}
			errs := e.rt.LogErrors(t)
			if len(errs) == 0 || !strings.Contains(errs[len(errs)-1], tc.want) {
				t.Errorf("log errors %q, want the last to contain %q", errs, tc.want)
			}
			if !strings.Contains(res.Stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", res.Stderr, tc.want)
			}
			if before != nil && !bytes.Equal(before, b.Config(t)) {
				t.Errorf("config.json changed")
			}
			for _, dir := range []string{"podlock", "podlock.host"} {
				if _, err := os.Stat(filepath.Join(b.Dir, dir)); !os.IsNotExist(err) {
					t.Errorf("podlock state left in the bundle: %v", err)
				}
			}
			if res := e.rt.Command("state", "failclosed"); res.Err == nil {
				t.Errorf("a container exists: %s", res.Stdout)
			}
		})
	}
}

// The environment of the container is the pod author's: nothing in it
// changes what the runtime or the helper enforce.
func TestPodEnvironmentCannotChangeEnforcement(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", testenv.QuickstartProfile)
	evil := t.TempDir()
	b := testenv.NewBundle(t, "sh", "-c", "cat /etc/passwd; echo x > /motd").Annotate("default", "app", "demo")
	b.Spec.Process.Env = append(b.Spec.Process.Env,
		"PODLOCK_CONFIG="+evil+"/config.yaml",
		"PODLOCK_PROFILES_DIR="+evil,
		"PODLOCK_HELPER=/bin/true",
		"PODLOCK_RUNTIME=/bin/true",
		"PODLOCK_POLICY=/tmp/policy.json",
		"GODEBUG=",
	)
	b.Write(t)
	res := e.rt.Run(b, "env")
	wantLines(t, "stdout", res.Stdout, nil)
	wantLines(t, "stderr", res.Stderr, []string{
		"cat: can't open '/etc/passwd': Permission denied",
		"sh: can't create /motd: Permission denied",
	})
}

// When the container's own seccomp filter refuses Landlock, the helper
// cannot confine the process and refuses to run it.
func TestHelperFailsClosedWithoutLandlock(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", testenv.QuickstartProfile)
	b := testenv.NewBundle(t, "sh", "-c", "echo UNCONFINED").Annotate("default", "app", "demo")
	errno := uint(38) // ENOSYS, what a runtime answers for an unknown syscall
	b.Spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names:    []string{"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"},
			Action:   specs.ActErrno,
			ErrnoRet: &errno,
		}},
	}
	b.Write(t)
	res := e.rt.Run(b, "nolandlock")
	if res.Err == nil || strings.Contains(res.Stdout, "UNCONFINED") {
		t.Fatalf("container ran unconfined: %v %q", res.Err, res.Stdout)
	}
	if want := "podlock-helper: confining /bin/sh: kernel Landlock ABI is 0, the policy needs 3"; !strings.Contains(res.Stderr, want) {
		t.Errorf("stderr %q, want %q", res.Stderr, want)
	}
}
