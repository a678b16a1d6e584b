package landlock

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
)

func TestAccessLevels(t *testing.T) {
	tests := []struct {
		access    Access
		read      bool
		write     bool
		exec      bool
		truncate  bool
		refer     bool
		removeDir bool
	}{
		{access: ReadOnly, read: true},
		{access: ReadWrite, read: true, write: true, truncate: true, refer: true, removeDir: true},
		{access: ReadExec, read: true, exec: true},
		{access: ReadWriteExec, read: true, write: true, exec: true, truncate: true, refer: true, removeDir: true},
	}
	has := func(a Access, bit uint64) bool { return uint64(a)&bit == bit }
	for _, tt := range tests {
		t.Run(tt.access.String(), func(t *testing.T) {
			for _, c := range []struct {
				name string
				bit  uint64
				want bool
			}{
				{"read file", ll.AccessFSReadFile, tt.read},
				{"read dir", ll.AccessFSReadDir, tt.read},
				{"write file", ll.AccessFSWriteFile, tt.write},
				{"make reg", ll.AccessFSMakeReg, tt.write},
				{"execute", ll.AccessFSExecute, tt.exec},
				{"truncate", ll.AccessFSTruncate, tt.truncate},
				{"refer", ll.AccessFSRefer, tt.refer},
				{"remove dir", ll.AccessFSRemoveDir, tt.removeDir},
				{"ioctl dev", ll.AccessFSIoctlDev, false},
			} {
				if got := has(tt.access, c.bit); got != c.want {
					t.Errorf("%s: %v, want %v", c.name, got, c.want)
				}
			}
		})
	}
	// The rights kept for a file are a subset of every level's file rights.
	if fileAccess&^Access(ll.AccessFSExecute|ll.AccessFSWriteFile|ll.AccessFSTruncate|ll.AccessFSReadFile) != 0 {
		t.Errorf("fileAccess %#x grants a directory right", uint64(fileAccess))
	}
}

func TestAccessText(t *testing.T) {
	tests := []struct {
		access Access
		text   string
	}{
		{ReadOnly, "readOnly"},
		{ReadWrite, "readWrite"},
		{ReadExec, "readExec"},
		{ReadWriteExec, "readWriteExec"},
		{0, "0x0"},
		{Access(ll.AccessFSExecute), "0x1"},
		{Access(ll.AccessFSReadFile | ll.AccessFSExecute), "0x5"},
		{ReadOnly | Access(ll.AccessFSTruncate), "0x400c"},
		{Access(1 << 63), "0x8000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			text, err := tt.access.MarshalText()
			if err != nil || string(text) != tt.text {
				t.Errorf("MarshalText() = %q, %v; want %q", text, err, tt.text)
			}
			if s := tt.access.String(); s != tt.text {
				t.Errorf("String() = %q, want %q", s, tt.text)
			}
			var back Access
			if err := back.UnmarshalText(text); err != nil || back != tt.access {
				t.Errorf("UnmarshalText(%q) = %#x, %v; want %#x", text, uint64(back), err, uint64(tt.access))
			}
			// And through JSON, as in a policy file.
			data, err := json.Marshal(map[string]Access{"a": tt.access})
			if err != nil {
				t.Fatal(err)
			}
			if want := `{"a":"` + tt.text + `"}`; string(data) != want {
				t.Errorf("JSON = %s, want %s", data, want)
			}
			var m map[string]Access
			if err := json.Unmarshal(data, &m); err != nil || m["a"] != tt.access {
				t.Errorf("JSON round trip = %#x, %v", uint64(m["a"]), err)
			}
		})
	}
}

func TestAccessUnmarshalTextErrors(t *testing.T) {
	for _, text := range []string{"", "readonly", "ReadOnly", "read-only", "0x", "0xg", "rw", "-1"} {
		t.Run(text, func(t *testing.T) {
			a := Access(42)
			if err := a.UnmarshalText([]byte(text)); err == nil {
				t.Errorf("UnmarshalText(%q) = %#x, want an error", text, uint64(a))
			}
		})
	}
}

// TestAccessUnmarshalTextStrict: only what MarshalText writes is read
// back; words that happen to start with hexadecimal digits are not access
// bits.
func TestAccessUnmarshalTextStrict(t *testing.T) {
	for _, text := range []string{"fullAccess", "everything", "deadbeef", "1", "0x12zz", "add", "0x5 "} {
		t.Run(text, func(t *testing.T) {
			var a Access
			if err := a.UnmarshalText([]byte(text)); err == nil {
				t.Errorf("UnmarshalText(%q) = %#x, want an error", text, uint64(a))
			}
		})
	}
}

func TestWraps(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		want bool
	}{
		{name: "nothing", p: Policy{ABI: 3}, want: false},
		{name: "binaries only", p: Policy{ABI: 3, Binaries: map[string]Binary{"/bin/sh": {Exec: "/bin/busybox"}}}, want: false},
		{name: "container-wide", p: Policy{ABI: 3, Container: Rulesets{{}}}, want: true},
		{name: "no container rulesets", p: Policy{ABI: 3, Container: Rulesets{}}, want: false},
		{name: "seccomp", p: Policy{ABI: 3, Seccomp: []string{"seccomp0.bpf"}}, want: true},
		{name: "both", p: Policy{ABI: 3, Container: Rulesets{{Rules: []Rule{{Access: ReadOnly, Paths: []string{"/"}}}}}, Seccomp: []string{"s"}}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Wraps(); got != tt.want {
				t.Errorf("Wraps() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadPolicy(t *testing.T) {
	full := &Policy{
		ABI:        3,
		BestEffort: true,
		Container: Rulesets{
			{Rules: []Rule{{Access: ReadExec, Paths: []string{HelperPath, "/bin/sh"}}, {Access: ReadWrite, Paths: []string{"/tmp"}}}},
			{Rules: []Rule{{Access: ReadExec, Paths: []string{"/bin"}}}, Network: &Network{BindTCP: []uint16{80}}},
		},
		Binaries: map[string]Binary{
			"/bin/sh":  {Exec: "/bin/busybox", Rules: Rulesets{{Rules: []Rule{{Access: ReadOnly, Paths: []string{"/etc"}}}}}},
			"/bin/cat": {Exec: Original(0), Rules: Rulesets{{}, {Scoped: []Scope{ScopeSignal}}}},
		},
		Seccomp: []string{"seccomp0.bpf", "seccomp1.bpf"},
	}
	fullLines, err := MarshalPolicy(full)
	if err != nil {
		t.Fatal(err)
	}
	// One object, as podlock wrote policies before a line per binary:
	// the runtime reads them for exec sessions into containers created
	// then.
	fullJSON, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		content  string // "-" for no file
		want     *Policy
		wantErr  string
		notExist bool
	}{
		{name: "round trip", content: string(fullLines), want: full},
		{name: "one object", content: string(fullJSON), want: full},
		{
			name:    "lines written by hand",
			content: "{\"abi\": 3}\n\n{\"binary\": \"/bin/sh\", \"exec\": \"/bin/busybox\", \"rules\": [{}]}\n",
			want:    &Policy{ABI: 3, Binaries: map[string]Binary{"/bin/sh": {Exec: "/bin/busybox", Rules: Rulesets{{}}}}},
		},
		{name: "binary listed twice", content: "{\"abi\": 3}\n{\"binary\": \"/bin/sh\", \"rules\": [{}]}\n{\"binary\": \"/bin/sh\", \"rules\": [{}]}\n", wantErr: `binary "/bin/sh" listed twice`},
		{name: "binary line without a path", content: "{\"abi\": 3}\n{\"exec\": \"/bin/sh\", \"rules\": [{}]}\n", wantErr: "without a path"},
		{name: "binary line without rules", content: "{\"abi\": 3}\n{\"binary\": \"/bin/sh\", \"exec\": \"/bin/sh\"}\n", wantErr: "binary /bin/sh has 0 rulesets"},
		{name: "malformed binary line", content: "{\"abi\": 3}\n{\"binary\": \"/bin/sh\",\n", wantErr: "parsing policy"},
		{name: "binaries in both forms", content: "{\"abi\": 3, \"binaries\": {}}\n{\"binary\": \"/bin/sh\", \"rules\": [{}]}\n", wantErr: "binaries both in the first"},
		{
			name:    "written by hand",
			content: `{"abi": 4, "container": [{"rules": [{"access": "readOnly", "paths": ["/"]}, {"access": "0x1", "paths": ["/bin"]}]}]}`,
			want: &Policy{ABI: 4, Container: Rulesets{{Rules: []Rule{
				{Access: ReadOnly, Paths: []string{"/"}},
				{Access: Access(ll.AccessFSExecute), Paths: []string{"/bin"}},
			}}}},
		},
		{
			// The policy of a container created by the release before
			// rulesets were stacked, which podlock-runtime reads to
			// confine an exec session: one ruleset, not none.
			name:    "single rulesets of an earlier release",
			content: `{"abi": 3, "container": {"rules": [{"access": "readOnly", "paths": ["/"]}]}, "binaries": {"/bin/sh": {"exec": "/bin/busybox", "rules": {}}}}`,
			want: &Policy{ABI: 3, Container: Rulesets{{Rules: []Rule{{Access: ReadOnly, Paths: []string{"/"}}}}},
				Binaries: map[string]Binary{"/bin/sh": {Exec: "/bin/busybox", Rules: Rulesets{{}}}}},
		},
		// A listed binary without a ruleset would run unconfined.
		{name: "binary without rules", content: `{"abi": 3, "binaries": {"/bin/sh": {"exec": "/bin/busybox"}}}`, wantErr: "binary /bin/sh has 0 rulesets, want 1 to 2"},
		{name: "binary with empty rules", content: `{"abi": 3, "binaries": {"/bin/sh": {"exec": "/bin/busybox", "rules": []}}}`, wantErr: "binary /bin/sh has 0 rulesets"},
		{name: "binary with too many rulesets", content: `{"abi": 3, "binaries": {"/bin/sh": {"exec": "/bin/busybox", "rules": [{}, {}, {}]}}}`, wantErr: "binary /bin/sh has 3 rulesets"},
		{name: "too many container rulesets", content: `{"abi": 3, "container": [{}, {}, {}]}`, wantErr: "3 container rulesets, at most 2"},
		{name: "container rulesets of the wrong type", content: `{"abi": 3, "container": "all"}`, wantErr: "parsing policy"},
		{name: "missing file", content: "-", wantErr: "reading policy", notExist: true},
		{name: "empty file", content: "", wantErr: "parsing policy"},
		{name: "malformed", content: `{"abi": 3,`, wantErr: "parsing policy"},
		{name: "no ABI", content: `{"container": {}}`, wantErr: "no Landlock ABI"},
		{name: "zero ABI", content: `{"abi": 0, "seccomp": ["s"]}`, wantErr: "no Landlock ABI"},
		// A policy written for one filter: refused rather than read as
		// none, which would run the program unfiltered.
		{name: "seccomp as a single file", content: `{"abi": 3, "seccomp": "seccomp.bpf"}`, wantErr: "parsing policy"},
		{name: "negative ABI", content: `{"abi": -1}`, wantErr: "no Landlock ABI"},
		{name: "unknown access", content: `{"abi": 3, "container": [{"rules": [{"access": "writeAll", "paths": ["/"]}]}]}`, wantErr: `unknown access "writeAll"`},
		{name: "unknown access in a single ruleset", content: `{"abi": 3, "container": {"rules": [{"access": "writeAll", "paths": ["/"]}]}}`, wantErr: `unknown access "writeAll"`},
		{name: "access of the wrong type", content: `{"abi": 3, "container": [{"rules": [{"access": 3, "paths": ["/"]}]}]}`, wantErr: "parsing policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "policy.json")
			if tt.content != "-" {
				if err := os.WriteFile(file, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadPolicy(file)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadPolicy() = %+v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				if tt.notExist != errors.Is(err, fs.ErrNotExist) {
					t.Errorf("ReadPolicy() error = %v; errors.Is(fs.ErrNotExist) = %v, want %v", err, !tt.notExist, tt.notExist)
				}
				if !tt.notExist && !strings.Contains(err.Error(), file) {
					t.Errorf("ReadPolicy() error = %v, want it to name %s", err, file)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadPolicy() error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ReadPolicy() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The helper decodes the rules of the binary it was started as, and no
// other: every start of a listed binary pays for what it decodes.
func TestParsePolicyFor(t *testing.T) {
	const policy = `{"abi": 3, "container": [{"rules": [{"access": "readOnly", "paths": ["/"]}]}], "binaries": {
		"/bin/sh": {"exec": "/bin/busybox", "rules": [{"rules": [{"access": "readOnly", "paths": ["/etc"]}]}]},
		"/bin/cat": {"exec": "/bin/busybox"}}}`
	container := Rulesets{{Rules: []Rule{{Access: ReadOnly, Paths: []string{"/"}}}}}
	sh := Binary{Exec: "/bin/busybox", Rules: Rulesets{{Rules: []Rule{{Access: ReadOnly, Paths: []string{"/etc"}}}}}}
	tests := []struct {
		self    string
		want    *Policy
		wantErr string
	}{
		{self: "/bin/sh", want: &Policy{ABI: 3, Container: container, Binaries: map[string]Binary{"/bin/sh": sh}}},
		{self: HelperPath, want: &Policy{ABI: 3, Container: container}},
		{self: "/bin/ls", want: &Policy{ABI: 3, Container: container}},
		// Its own entry is checked as parsePolicy checks every one.
		{self: "/bin/cat", wantErr: "binary /bin/cat has 0 rulesets"},
	}
	// The same policy as MarshalPolicy writes it, a line per binary,
	// with a binary whose path another one's starts with.
	lines := `{"abi": 3, "container": [{"rules": [{"access": "readOnly", "paths": ["/"]}]}]}
{"binary":"/bin/sh.real","exec":"/bin/busybox"}
{"binary":"/bin/sh","exec":"/bin/busybox","rules":[{"rules":[{"access":"readOnly","paths":["/etc"]}]}]}
{"binary":"/bin/cat","exec":"/bin/busybox"}
`
	for format, policy := range map[string]string{"one object": policy, "lines": lines} {
		for _, tt := range tests {
			t.Run(format+tt.self, func(t *testing.T) {
				got, err := parsePolicyFor([]byte(policy), PolicyPath, tt.self)
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("parsePolicyFor() = %+v, %v; want an error containing %q", got, err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("parsePolicyFor() = %+v, want %+v", got, tt.want)
				}
			})
		}
	}
	if _, err := parsePolicyFor([]byte("{\"abi\": 3}\n{\"binary\":\"/bin/sh\",\"rules\": 1}\n"), PolicyPath, HelperPath); err != nil {
		t.Errorf("a line of another binary of the wrong type: %v, want it left undecoded", err)
	}
	if _, err := parsePolicyFor([]byte(`{"abi": 3, "binaries": {"/bin/sh": 1}}`), PolicyPath, HelperPath); err != nil {
		t.Errorf("an entry of another binary of the wrong type: %v, want it left undecoded", err)
	}
	if _, err := parsePolicyFor([]byte(`{"abi": 3, "binaries": {"/bin/sh": 1}`), PolicyPath, HelperPath); err == nil {
		t.Error("a malformed policy was accepted")
	}
}

func TestOriginal(t *testing.T) {
	for n, want := range map[int]string{0: "/.podlock/orig/0", 1: "/.podlock/orig/1", 12: "/.podlock/orig/12"} {
		if got := Original(n); got != want {
			t.Errorf("Original(%d) = %q, want %q", n, got, want)
		}
	}
	if !strings.HasPrefix(HelperPath, Dir+"/") || !strings.HasPrefix(PolicyPath, Dir+"/") || !strings.HasPrefix(OriginalsDir, Dir+"/") {
		t.Errorf("paths outside %s: %s %s %s", Dir, HelperPath, PolicyPath, OriginalsDir)
	}
}

func TestOwnerProfiles(t *testing.T) {
	for _, tc := range []struct {
		o    Owner
		want string
	}{
		{Owner{Profile: "demo"}, "profile demo"},
		{Owner{Profile: "demo", NamespaceSeccomp: "strict"}, "profile demo"},
		{Owner{NamespaceProfile: "base"}, "namespace profile base"},
		{Owner{NamespaceProfile: "base", Profile: "demo"}, "namespace profile base, profile demo"},
		{Owner{NamespaceSeccomp: "strict"}, "SeccompProfile strict"},
	} {
		if got := tc.o.Profiles(); got != tc.want {
			t.Errorf("%+v.Profiles() = %q, want %q", tc.o, got, tc.want)
		}
	}
}

// BenchmarkParsePolicy decodes a policy the size of testenv.LargeProfile's
// (200 listed binaries of 50 paths, 1,000 paths container-wide) as the
// helper does when the container starts (its rules only) and as it did
// before it decoded only what it applies (every binary's).
func BenchmarkParsePolicy(b *testing.B) {
	p := &Policy{ABI: 3, Binaries: map[string]Binary{}}
	var wide []string
	for i := range 1000 {
		wide = append(wide, fmt.Sprintf("/data/wide/d%d/f%d", i/50, i))
	}
	p.Container = Rulesets{{Rules: []Rule{{Access: ReadWrite, Paths: wide}}}}
	for i := range 200 {
		var paths []string
		for j := range 50 {
			paths = append(paths, fmt.Sprintf("/data/applet%d/f%d", i, j))
		}
		p.Binaries[fmt.Sprintf("/bin/applet%d", i)] = Binary{Exec: "/bin/busybox", Rules: Rulesets{{Rules: []Rule{{Access: ReadOnly, Paths: paths}}}}}
	}
	data, err := MarshalPolicy(p)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("policy of %d bytes", len(data))
	for _, bc := range []struct {
		name string
		read func() (*Policy, error)
	}{
		{"container", func() (*Policy, error) { return parsePolicyFor(data, PolicyPath, HelperPath) }},
		{"one-binary", func() (*Policy, error) { return parsePolicyFor(data, PolicyPath, "/bin/applet7") }},
		{"every-binary", func() (*Policy, error) { return parsePolicy(data, PolicyPath) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				if _, err := bc.read(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
