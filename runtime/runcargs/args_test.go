package runcargs

import (
	"slices"
	"strings"
	"testing"
)

// argv splits a command line on spaces; argv[0] is always podlock-runtime.
func argv(line string) []string {
	return append([]string{"podlock-runtime"}, strings.Fields(line)...)
}

// containerdCreate is the command line containerd's runc shim runs.
const containerdCreate = "--root /run/containerd/runc/k8s.io --log /x/log.json --log-format json create --bundle /b --pid-file /b/init.pid ID"

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		argv    []string
		verb    string
		globals map[string]string
	}{
		{name: "empty", argv: argv(""), verb: "", globals: map[string]string{}},
		{name: "verb only", argv: argv("state ID"), verb: "state", globals: map[string]string{}},
		{
			name: "containerd",
			argv: argv(containerdCreate),
			verb: "create",
			globals: map[string]string{
				"root": "/run/containerd/runc/k8s.io", "log": "/x/log.json", "log-format": "json",
			},
		},
		{name: "--root X", argv: argv("--root /r list"), verb: "list", globals: map[string]string{"root": "/r"}},
		{name: "--root=X", argv: argv("--root=/r list"), verb: "list", globals: map[string]string{"root": "/r"}},
		{name: "-root X", argv: argv("-root /r list"), verb: "list", globals: map[string]string{"root": "/r"}},
		{name: "-root=X", argv: argv("-root=/r list"), verb: "list", globals: map[string]string{"root": "/r"}},
		{name: "--debug", argv: argv("--debug start ID"), verb: "start", globals: map[string]string{"debug": ""}},
		{name: "-debug", argv: argv("-debug start ID"), verb: "start", globals: map[string]string{"debug": ""}},
		{name: "--debug=false", argv: argv("--debug=false start ID"), verb: "start", globals: map[string]string{"debug": "false"}},
		{
			name: "--systemd-cgroup is boolean", argv: argv("--systemd-cgroup --root /r kill ID 9"), verb: "kill",
			globals: map[string]string{"systemd-cgroup": "", "root": "/r"},
		},
		{name: "--log-format json", argv: argv("--log-format json delete ID"), verb: "delete", globals: map[string]string{"log-format": "json"}},
		{name: "--log-format=text", argv: argv("--log-format=text delete ID"), verb: "delete", globals: map[string]string{"log-format": "text"}},
		{name: "--rootless=true", argv: argv("--rootless=true ps ID"), verb: "ps", globals: map[string]string{"rootless": "true"}},
		{name: "--rootless auto", argv: argv("--rootless auto ps ID"), verb: "ps", globals: map[string]string{"rootless": "auto"}},
		{name: "--criu path", argv: argv("--criu /usr/sbin/criu checkpoint ID"), verb: "checkpoint", globals: map[string]string{"criu": "/usr/sbin/criu"}},
		{
			name: "crun --cgroup-manager and --log-level", argv: argv("--cgroup-manager systemd --log-level debug run ID"), verb: "run",
			globals: map[string]string{"cgroup-manager": "systemd", "log-level": "debug"},
		},
		{
			name: "unknown boolean flags", argv: argv("--frobnicate -x --root /r events ID"), verb: "events",
			globals: map[string]string{"frobnicate": "", "x": "", "root": "/r"},
		},
		{name: "unknown flag with inline value", argv: argv("--new-flag=v list"), verb: "list", globals: map[string]string{"new-flag": "v"}},
		{name: "--version", argv: argv("--version"), verb: "", globals: map[string]string{"version": ""}},
		{name: "-v", argv: argv("-v"), verb: "", globals: map[string]string{"v": ""}},
		{name: "value flag at the end", argv: argv("--root"), verb: "", globals: map[string]string{"root": ""}},
		{name: "value flag whose value looks like a verb", argv: argv("--log create create"), verb: "create", globals: map[string]string{"log": "create"}},
		{name: "value flag whose value looks like a flag", argv: argv("--log --debug list"), verb: "list", globals: map[string]string{"log": "--debug"}},
		{name: "flags after the verb are not globals", argv: argv("create --root /x ID"), verb: "create", globals: map[string]string{}},
		{name: "lone dash is a verb", argv: argv("-"), verb: "-", globals: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Parse(tt.argv)
			if got := a.Verb(); got != tt.verb {
				t.Errorf("Verb() = %q, want %q", got, tt.verb)
			}
			if !slices.Equal(a.Argv(), tt.argv) {
				t.Errorf("Argv() = %q, want %q", a.Argv(), tt.argv)
			}
			for name, want := range tt.globals {
				if got, ok := a.Global(name); !ok || got != want {
					t.Errorf("Global(%q) = %q, %v; want %q, true", name, got, ok, want)
				}
			}
			for name := range a.globals {
				if _, ok := tt.globals[name]; !ok {
					t.Errorf("unexpected global %q = %q", name, a.globals[name])
				}
			}
		})
	}
}

// TestParseDoubleDash: runc and crun both end their global flags at
// "--" and take the next argument as the command (`runc -- list` lists).
func TestParseDoubleDash(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		verb string
		pos  []string
	}{
		{name: "-- alone", argv: argv("--"), verb: "", pos: nil},
		{name: "-- before the verb", argv: argv("-- list"), verb: "list", pos: []string{}},
		{name: "globals, then --", argv: argv("--root /r -- create --bundle /b ID"), verb: "create", pos: []string{"ID"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Parse(tt.argv)
			if got := a.Verb(); got != tt.verb {
				t.Errorf("Verb() = %q, want %q", got, tt.verb)
			}
			if got := a.Positional(); !slices.Equal(got, tt.pos) {
				t.Errorf("Positional() = %q, want %q", got, tt.pos)
			}
		})
	}
}

func TestVerbFlag(t *testing.T) {
	tests := []struct {
		name  string
		argv  []string
		value string
		found bool
	}{
		{name: "containerd", argv: argv(containerdCreate), value: "/b", found: true},
		{name: "--bundle X", argv: argv("create --bundle /b ID"), value: "/b", found: true},
		{name: "--bundle=X", argv: argv("create --bundle=/b ID"), value: "/b", found: true},
		{name: "-b X", argv: argv("create -b /b ID"), value: "/b", found: true},
		{name: "-b=X", argv: argv("create -b=/b ID"), value: "/b", found: true},
		{name: "-bundle X", argv: argv("run -bundle /b ID"), value: "/b", found: true},
		{name: "absent", argv: argv("create --pid-file /p ID"), found: false},
		{name: "empty inline value", argv: argv("create --bundle= ID"), value: "", found: true},
		{name: "value containing =", argv: argv("create --bundle=/a=b ID"), value: "/a=b", found: true},
		{name: "last one wins", argv: argv("create -b /first --bundle /second ID"), value: "/second", found: true},
		{name: "after globals", argv: argv("--root /r --log /l create -b /b ID"), value: "/b", found: true},
		{name: "value of another flag is -b", argv: argv("create --pid-file -b ID"), found: false},
		{name: "value of another flag is --bundle", argv: argv("create --console-socket --bundle --bundle /b ID"), value: "/b", found: true},
		{name: "value is a flag name", argv: argv("create --bundle --pid-file ID"), value: "--pid-file", found: true},
		{name: "after the container ID", argv: argv("create ID --bundle /b"), found: false},
		{name: "after --", argv: argv("create -- --bundle /b"), found: false},
		{name: "global --bundle is not the verb's", argv: argv("--bundle /g create ID"), found: false},
		{name: "no verb", argv: argv("--bundle /b"), found: false},
		{name: "flag at the end takes no value", argv: argv("create ID2 -b"), found: false},
		{name: "boolean flag before", argv: argv("create --no-pivot -b /b ID"), value: "/b", found: true},
		{name: "restore, after its value flags", argv: argv("restore --image-path /i --work-path /w --bundle /b ID"), value: "/b", found: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			value, found := Parse(tt.argv).VerbFlag("bundle", "b")
			if value != tt.value || found != tt.found {
				t.Errorf("VerbFlag(bundle, b) = %q, %v; want %q, %v", value, found, tt.value, tt.found)
			}
		})
	}
}

func TestVerbFlagExecProcess(t *testing.T) {
	tests := []struct {
		argv  []string
		value string
		found bool
	}{
		{argv: argv("exec --process /p.json ID"), value: "/p.json", found: true},
		{argv: argv("exec -p /p.json ID"), value: "/p.json", found: true},
		{argv: argv("exec -p=/p.json ID"), value: "/p.json", found: true},
		{argv: argv("exec --env -p ID sh"), found: false},
		{argv: argv("exec ID sh -p /p.json"), found: false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.argv[1:], " "), func(t *testing.T) {
			value, found := Parse(tt.argv).VerbFlag("process", "p")
			if value != tt.value || found != tt.found {
				t.Errorf("VerbFlag(process, p) = %q, %v; want %q, %v", value, found, tt.value, tt.found)
			}
		})
	}
}

func TestPositional(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want []string
	}{
		{name: "containerd create", argv: argv(containerdCreate), want: []string{"ID"}},
		{name: "create with booleans", argv: argv("create --no-pivot --no-new-keyring -b /b ID"), want: []string{"ID"}},
		{name: "create with console socket", argv: argv("create --console-socket /s --preserve-fds 2 ID"), want: []string{"ID"}},
		{
			name: "exec",
			argv: append(argv("exec -t --env A=B -u 0 id"), "sh", "-c", "x"),
			want: []string{"id", "sh", "-c", "x"},
		},
		{
			name: "exec, every value flag",
			argv: argv("exec --console-socket /s --cwd /w -e A=1 --user 1:1 -g 5 --additional-gids 6 --pid-file /p --process-label l --apparmor a -c CAP_X --cap CAP_Y --preserve-fds 1 --cgroup c --detach --tty --no-new-privs id ls -l"),
			want: []string{"id", "ls", "-l"},
		},
		{name: "exec, flags of the command are kept", argv: argv("exec id ls -l --env X"), want: []string{"id", "ls", "-l", "--env", "X"}},
		{name: "exec, --", argv: argv("exec -t -- id -weird"), want: []string{"id", "-weird"}},
		{name: "exec, command after --", argv: argv("exec -t id -- sh"), want: []string{"id", "--", "sh"}},
		{name: "exec --process", argv: argv("exec --process /p.json id"), want: []string{"id"}},
		{name: "exec without id", argv: argv("exec -t"), want: []string{}},
		{name: "other verb", argv: argv("--root /r kill ID KILL"), want: []string{"ID", "KILL"}},
		{name: "no verb", argv: argv("--debug"), want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Parse(tt.argv).Positional()
			if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("Positional() = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestWithExecCommand(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		cmd  []string
		want []string
	}{
		{
			name: "flags before the id are kept",
			argv: append(argv("--root /r --log /l exec -t --env A=B -u 0 id"), "sh", "-c", "x"),
			cmd:  []string{"/.podlock/helper", "sh", "-c", "x"},
			want: append(argv("--root /r --log /l exec -t --env A=B -u 0 id"), "/.podlock/helper", "sh", "-c", "x"),
		},
		{
			name: "-- is kept",
			argv: argv("exec -t -- id ls"),
			cmd:  []string{"H", "ls"},
			want: argv("exec -t -- id H ls"),
		},
		{
			name: "flags of the old command are dropped",
			argv: argv("exec id ls -l --env X"),
			cmd:  []string{"H"},
			want: argv("exec id H"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := slices.Clone(tt.argv)
			got := Parse(tt.argv).WithExecCommand(tt.cmd)
			if !slices.Equal(got, tt.want) {
				t.Errorf("WithExecCommand() =\n  %q\nwant\n  %q", got, tt.want)
			}
			if !slices.Equal(tt.argv, orig) {
				t.Errorf("WithExecCommand changed its input: %q", tt.argv)
			}
		})
	}
}

func TestWithVerbFlag(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want []string
	}{
		{
			name: "after the verb",
			argv: argv("--root /r exec -t id sh"),
			want: argv("--root /r exec --no-new-privs -t id sh"),
		},
		{
			name: "nothing after the verb",
			argv: argv("exec"),
			want: argv("exec --no-new-privs"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := slices.Clone(tt.argv)
			got := Parse(tt.argv).WithVerbFlag("--no-new-privs")
			if !slices.Equal(got, tt.want) {
				t.Errorf("WithVerbFlag() =\n  %q\nwant\n  %q", got, tt.want)
			}
			if !slices.Equal(tt.argv, orig) {
				t.Errorf("WithVerbFlag changed its input: %q", tt.argv)
			}
		})
	}
}

// TestExecRewrite chains the two rewrites the way prepareExec does.
func TestExecRewrite(t *testing.T) {
	in := append(argv("--root /run/containerd/runc/k8s.io --log /x/log.json --log-format json exec --process /tmp/p.json -d --pid-file /p id"), "sh", "-c", "echo hi")
	a := Parse(in)
	got := Parse(a.WithExecCommand([]string{"/.podlock/helper", "sh", "-c", "echo hi"})).WithVerbFlag("--no-new-privs")
	want := append(argv("--root /run/containerd/runc/k8s.io --log /x/log.json --log-format json exec --no-new-privs --process /tmp/p.json -d --pid-file /p id /.podlock/helper"), "sh", "-c", "echo hi")
	if !slices.Equal(got, want) {
		t.Errorf("got\n  %q\nwant\n  %q", got, want)
	}
}

// TestVerbValueFlagsOfRunc: flags that runc 1.2+ and crun take a value
// for must not be mistaken for booleans, or their value is taken for the
// container ID and the flags after it are not seen.
func TestVerbValueFlagsOfRunc(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		pos  []string
	}{
		{name: "runc create --pidfd-socket", argv: argv("create --pidfd-socket /s --bundle /b ID"), pos: []string{"ID"}},
		{name: "runc exec --pidfd-socket", argv: argv("exec --pidfd-socket /s ID sh"), pos: []string{"ID", "sh"}},
		{name: "crun create --config", argv: argv("create --config /c.json --bundle /b ID"), pos: []string{"ID"}},
		{name: "restore as containerd's shim runs it", argv: argv("restore --detach --pid-file /b/init.pid --image-path /i --work-path /w --no-pivot --bundle /b ID"), pos: []string{"ID"}},
		{name: "restore with every value flag", argv: argv("restore --console-socket /s --manage-cgroups-mode soft --empty-ns network --lsm-profile a:b --lsm-mount-context c -b /b ID"), pos: []string{"ID"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Parse(tt.argv).Positional(); !slices.Equal(got, tt.pos) {
				t.Errorf("Positional() = %q, want %q", got, tt.pos)
			}
		})
	}
}
