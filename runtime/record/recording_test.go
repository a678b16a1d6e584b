package record

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/helpercalls"
)

func TestGeneralise(t *testing.T) {
	for in, want := range map[string]string{
		"/proc/self/status":       "/proc",
		"/proc/42/fd/3":           "/proc",
		"/proc/thread-self/attr":  "/proc",
		"/proc/sys/kernel/ngroup": "/proc/sys/kernel/ngroup",
		"/proc":                   "/proc",
		"/dev/pts/3":              "/dev/pts",
		"/dev/ptmx":               "/dev/ptmx",
		"/processes/1":            "/processes/1",
		"/etc/passwd":             "/etc/passwd",
	} {
		if got := generalise(in); got != want {
			t.Errorf("generalise(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCollapse(t *testing.T) {
	const r, rw, rx = Read, Read | Write, Read | Exec
	tests := []struct {
		name string
		in   map[string]Access
		want map[string]Access
	}{
		{
			name: "few files stay files",
			in:   map[string]Access{"/etc/passwd": r, "/etc/group": r, "/etc/hosts": r},
			want: map[string]Access{"/etc/passwd": r, "/etc/group": r, "/etc/hosts": r},
		},
		{
			name: "many files become their directory",
			in:   map[string]Access{"/etc/a": r, "/etc/b": r, "/etc/c": r, "/etc/d": rx},
			want: map[string]Access{"/etc": rx},
		},
		{
			name: "never the root",
			in:   map[string]Access{"/a": r, "/b": r, "/c": r, "/d": r},
			want: map[string]Access{"/a": r, "/b": r, "/c": r, "/d": r},
		},
		{
			name: "covered by a directory with as much access",
			in:   map[string]Access{"/tmp": rw, "/tmp/x": r, "/tmp/y/z": rw, "/tmp2": r},
			want: map[string]Access{"/tmp": rw, "/tmp2": r},
		},
		{
			name: "kept when the directory grants less",
			in:   map[string]Access{"/opt/bin": r, "/opt/bin/id": rx},
			want: map[string]Access{"/opt/bin": r, "/opt/bin/id": rx},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := collapse(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("collapse() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBinaryRules(t *testing.T) {
	rec := NewRecording()
	if rec.BinaryRules(nil) != nil {
		t.Fatal("an empty recording has rules")
	}
	sh, app := "/bin/busybox", "/app/server"
	rec.Path([]string{app}, "/etc/app.conf", Read)
	rec.Path([]string{app}, "/var/lib/app", Write)
	rec.Path([]string{app, sh}, "/bin/cat", Exec)
	rec.Path([]string{app, sh}, "/proc/7/status", Read)
	rec.Path([]string{app, sh}, "/data", Write|Exec)
	rec.Connect([]string{app}, 5432)
	rec.Bind([]string{app}, 8080)
	rec.Bind([]string{app}, 8080)
	want := v1alpha1.BinaryRules{
		app: {
			ReadOnly:      []string{"/etc/app.conf", "/proc"},
			ReadWrite:     []string{"/var/lib/app"},
			ReadExec:      []string{"/bin/cat"},
			ReadWriteExec: []string{"/data"},
			Network:       &v1alpha1.NetworkRules{BindTCP: []int32{8080}, ConnectTCP: []int32{5432}},
		},
		sh: {
			ReadOnly:      []string{"/proc"},
			ReadExec:      []string{"/bin/cat"},
			ReadWriteExec: []string{"/data"},
			Network:       &v1alpha1.NetworkRules{},
		},
	}
	if got := rec.BinaryRules(nil); !reflect.DeepEqual(got, want) {
		t.Errorf("BinaryRules() =\n%+v\nwant\n%+v", got, want)
	}
	// Rules are read back to what was seen: added to an empty recording,
	// they come out the same.
	if got := NewRecording().BinaryRules(want); !reflect.DeepEqual(got, want) {
		t.Errorf("BinaryRules(earlier) =\n%+v\nwant\n%+v", got, want)
	}
	spec := v1alpha1.LandlockProfileSpec{ProfilesByContainer: map[string]v1alpha1.BinaryRules{"app": want}}
	if err := spec.Validate(); err != nil {
		t.Errorf("recorded rules are invalid: %v", err)
	}
}

func TestSeccompSpec(t *testing.T) {
	rec := NewRecording()
	for _, name := range []string{"read", "openat", "read", "write"} {
		rec.Syscall(name)
	}
	earlier := &v1alpha1.SeccompProfileSpec{Syscalls: []v1alpha1.SyscallRule{
		{Names: []string{"getpid"}, Action: v1alpha1.ActionAllow},
		{Names: []string{"ptrace"}, Action: v1alpha1.ActionErrno},
	}}
	spec := rec.SeccompSpec(earlier, false)
	if spec.DefaultAction != v1alpha1.ActionErrno || len(spec.Syscalls) != 1 || spec.Syscalls[0].Action != v1alpha1.ActionAllow {
		t.Fatalf("SeccompSpec() = %+v, want one ALLOW rule and ERRNO by default", spec)
	}
	names := spec.Syscalls[0].Names
	if slices.Contains(names, "ptrace") {
		t.Errorf("allowed %q, want ptrace denied as before", names)
	}
	for _, want := range append([]string{"read", "openat", "getpid"}, baselineSyscalls...) {
		if !slices.Contains(names, want) {
			t.Errorf("allowed %q, want %s among them", names, want)
		}
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("allowed %q, want them sorted and each once", names)
	}
}

// With listed binaries, the helper's rules follow the calls seen, and stay
// rules of their own when the recording is merged with a later one: clone
// stays allowed for the helper's threads only.
func TestSeccompSpecWithHelper(t *testing.T) {
	rec := NewRecording()
	rec.Syscall("read")
	spec := rec.SeccompSpec(nil, true)
	if len(spec.Syscalls) == 0 || !reflect.DeepEqual(spec.Syscalls[1:], helpercalls.Rules()) {
		t.Fatalf("rules %+v, want the calls seen, then the helper's rules", spec.Syscalls)
	}
	again := NewRecording().SeccompSpec(&spec, true)
	if !reflect.DeepEqual(again, spec) {
		t.Errorf("merged with itself:\n%+v\nwant\n%+v", again, spec)
	}
	seen := again.Syscalls[0].Names
	for _, name := range []string{"clone", "landlock_restrict_self"} {
		if slices.Contains(seen, name) {
			t.Errorf("the calls seen %q include the helper's %s", seen, name)
		}
	}
	if without := NewRecording().SeccompSpec(&spec, false); len(without.Syscalls) != 1 {
		t.Errorf("without listed binaries: rules %+v, want the calls seen only", without.Syscalls)
	}
}

func TestNotifyFilter(t *testing.T) {
	t.Run("no filter", func(t *testing.T) {
		f := NotifyFilter(nil, "/a.sock")
		if f.DefaultAction != specs.ActAllow || f.ListenerPath != "/a.sock" {
			t.Fatalf("NotifyFilter(nil) = %+v", f)
		}
		var notified []string
		for _, rule := range f.Syscalls {
			switch rule.Action {
			case specs.ActNotify:
				notified = append(notified, rule.Names...)
			case specs.ActAllow:
				if !slices.Equal(rule.Names, []string{"write"}) {
					t.Errorf("allowed %q without notification, want only write", rule.Names)
				}
			}
		}
		for _, want := range []string{"openat", "execve", "connect", "read"} {
			if !slices.Contains(notified, want) {
				t.Errorf("%s is not notified", want)
			}
		}
		if slices.Contains(notified, "write") {
			t.Error("write is notified: runc refuses that")
		}
	})
	t.Run("the container's filter", func(t *testing.T) {
		current := &specs.LinuxSeccomp{
			DefaultAction:    specs.ActErrno,
			ListenerMetadata: "theirs",
			Architectures:    []specs.Arch{specs.ArchX86_64},
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"read", "write", "openat"}, Action: specs.ActAllow},
				{Names: []string{"ptrace"}, Action: specs.ActErrno},
				{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}}},
			},
		}
		want := &specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Architectures: []specs.Arch{specs.ArchX86_64},
			ListenerPath:  "/a.sock",
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"write"}, Action: specs.ActAllow},
				{Names: []string{"read", "openat"}, Action: specs.ActNotify},
				{Names: []string{"ptrace"}, Action: specs.ActErrno},
				{Names: []string{"personality"}, Action: specs.ActNotify, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}}},
			},
		}
		if got := NotifyFilter(current, "/a.sock"); !reflect.DeepEqual(got, want) {
			t.Errorf("NotifyFilter() =\n%+v\nwant\n%+v", got, want)
		}
		if !slices.Equal(current.Syscalls[0].Names, []string{"read", "write", "openat"}) {
			t.Errorf("the container's filter changed: %q", current.Syscalls[0].Names)
		}
	})
}

// The containers of the pods bound to a profile share its file, each
// adding to what earlier runs of the same container name recorded.
func TestOutputMerges(t *testing.T) {
	file := filepath.Join(t.TempDir(), "learned.yaml")
	save := func(container, path string, port uint16, syscall string) {
		t.Helper()
		rec := NewRecording()
		rec.Path([]string{"/bin/app"}, path, Read)
		rec.Connect([]string{"/bin/app"}, port)
		rec.Syscall(syscall)
		out := Output{File: file, Namespace: "team-a", Profile: "learned", Container: container, Network: true}
		if err := out.Save(rec); err != nil {
			t.Fatalf("Save() = %v", err)
		}
	}
	save("web", "/etc/a", 80, "read")
	save("sidecar", "/etc/sidecar", 53, "poll")
	save("web", "/etc/b", 443, "openat")

	out := Output{File: file, Namespace: "team-a", Profile: "learned", Container: "web"}
	landlock, seccomps, err := out.read()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(landlock.Metadata, v1alpha1.ObjectMeta{Name: "learned", Namespace: "team-a"}) || landlock.Spec.Mode != "" {
		t.Errorf("LandlockProfile %+v, mode %q", landlock.Metadata, landlock.Spec.Mode)
	}
	for container, want := range map[string]struct {
		paths []string
		ports []int32
	}{
		"web":     {[]string{"/etc/a", "/etc/b"}, []int32{80, 443}},
		"sidecar": {[]string{"/etc/sidecar"}, []int32{53}},
	} {
		rules := landlock.Spec.ProfilesByContainer[container]["/bin/app"]
		if !slices.Equal(rules.ReadOnly, want.paths) || !slices.Equal(rules.Network.ConnectTCP, want.ports) {
			t.Errorf("%s reads %q, connects to %v; want %q, %v", container, rules.ReadOnly, rules.Network.ConnectTCP, want.paths, want.ports)
		}
		if got := landlock.Spec.SeccompByContainer[container]; string(got) != "learned-"+container {
			t.Errorf("seccompByContainer[%s] = %q", container, got)
		}
	}
	var names []string
	for _, s := range seccomps {
		names = append(names, s.Metadata.Name)
		if s.Metadata.Name == "learned-web" {
			allowed := s.Spec.Syscalls[0].Names
			if !slices.Contains(allowed, "read") || !slices.Contains(allowed, "openat") || slices.Contains(allowed, "poll") {
				t.Errorf("learned-web allows %q, want read and openat, not poll", allowed)
			}
		}
	}
	if !slices.Equal(names, []string{"learned-web", "learned-sidecar"}) {
		t.Errorf("SeccompProfiles %q, want learned-web and learned-sidecar", names)
	}
	data, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(data), "# Recorded by podlock") {
		t.Errorf("file does not start with its header:\n%s", data)
	}
}

// Without network rules (a kernel older than Landlock ABI 4), the rules
// leave TCP alone.
func TestOutputWithoutNetwork(t *testing.T) {
	rec := NewRecording()
	rec.Path([]string{"/bin/app"}, "/etc/a", Read)
	rec.Connect([]string{"/bin/app"}, 80)
	out := Output{File: filepath.Join(t.TempDir(), "learned.yaml"), Namespace: "team-a", Profile: "learned", Container: "web"}
	if err := out.Save(rec); err != nil {
		t.Fatal(err)
	}
	landlock, _, err := out.read()
	if err != nil {
		t.Fatal(err)
	}
	if rules := landlock.Spec.ProfilesByContainer["web"]["/bin/app"]; rules.Network != nil || !slices.Equal(rules.ReadOnly, []string{"/etc/a"}) {
		t.Errorf("rules %+v, want /etc/a and no network", rules)
	}
}

// A file that is not a recording is left as it is, and said so.
func TestOutputRefusesAForeignFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "learned.yaml")
	garbage := []byte("kind: LandlockProfile\nspec: [not, a, spec\n")
	if err := os.WriteFile(file, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := NewRecording()
	rec.Path([]string{"/bin/app"}, "/etc/a", Read)
	out := Output{File: file, Namespace: "team-a", Profile: "learned", Container: "web"}
	err := out.Save(rec)
	if err == nil || !strings.Contains(err.Error(), "reading the recording "+file) {
		t.Errorf("Save() = %v, want an error naming the file", err)
	}
	if data, _ := os.ReadFile(file); string(data) != string(garbage) {
		t.Errorf("the file changed:\n%s", data)
	}
}

func TestSeccompName(t *testing.T) {
	short := Output{Profile: "learned", Container: "web"}
	if got := short.SeccompName(); got != "learned-web" {
		t.Errorf("SeccompName() = %q", got)
	}
	for _, long := range []Output{
		{Profile: strings.Repeat("p", 250), Container: "web"},
		{Profile: strings.Repeat("p", 200), Container: strings.Repeat("c", 63)},
		{Profile: strings.Repeat("p", 235) + ".q", Container: "web"},
	} {
		got := long.SeccompName()
		if len(got) > 253 || v1alpha1.ValidateName(got) != nil {
			t.Errorf("SeccompName() = %q (%d), want a valid name", got, len(got))
		}
	}
}

// A container can make up paths by the million: the recording keeps what
// fits in its bound, counts the rest as dropped, and says so once.
func TestRecordingIsBounded(t *testing.T) {
	const limit = 1 << 20
	full := 0
	rec := newRecording(limit, func() { full++ })
	app, sh := "/bin/app", "/bin/sh"
	rec.Path([]string{app}, "/etc/kept", Read)
	rec.Connect([]string{app}, 80)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 100_000
	long := strings.Repeat("x", 1000)
	for i := range n {
		rec.Path([]string{app}, fmt.Sprintf("/tmp/%s/%d", long, i), Read)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Unbounded, the paths alone would take 100 MB.
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 4<<20 {
		t.Errorf("the heap grew by %d bytes for a recording bound to %d", grown, limit)
	}
	if rec.size > limit {
		t.Errorf("recording holds %d bytes, more than its bound %d", rec.size, limit)
	}
	kept := len(rec.binaries[app].paths)
	if dropped := rec.Dropped(); dropped == 0 || kept+dropped != n+1 {
		t.Errorf("kept %d paths and dropped %d, want %d in all, some dropped", kept, dropped, n+1)
	}
	if full != 1 {
		t.Errorf("full reported %d times, want once", full)
	}

	// What is already there still gains accesses; nothing new gets in,
	// however small, once the last bytes are taken.
	for port := range uint16(100) {
		rec.Connect([]string{app}, 1000+port)
	}
	dropped := rec.Dropped()
	rec.Path([]string{app}, "/etc/kept", Write)
	rec.Connect([]string{app}, 80)
	if got := rec.binaries[app].paths["/etc/kept"]; got != Read|Write {
		t.Errorf("/etc/kept: %v, want read and write", got)
	}
	rec.Path([]string{sh}, "/etc/passwd", Read)
	rec.Connect([]string{app}, 443)
	rec.Syscall("ptrace")
	if rec.binaries[sh] != nil || rec.binaries[app].connect[443] || rec.syscalls["ptrace"] {
		t.Error("a new binary, port or system call was added to a full recording")
	}
	if got := rec.Dropped(); got != dropped+3 {
		t.Errorf("dropped %d, want %d", got, dropped+3)
	}
	if full != 1 {
		t.Errorf("full reported %d times, want once", full)
	}
}

// A recorded profile says which containers' recordings were full.
func TestOutputNotesIncompleteRecording(t *testing.T) {
	file := filepath.Join(t.TempDir(), "learned.yaml")
	save := func(container string, paths int) {
		t.Helper()
		rec := newRecording(10*entryCost, nil)
		for i := range paths {
			rec.Path([]string{"/bin/app"}, fmt.Sprintf("/data/%d", i), Read)
		}
		out := Output{File: file, Namespace: "team-a", Profile: "learned", Container: container}
		if err := out.Save(rec); err != nil {
			t.Fatalf("Save() = %v", err)
		}
	}
	note := func() string {
		t.Helper()
		landlock, _, err := Output{File: file}.read()
		if err != nil {
			t.Fatal(err)
		}
		return landlock.Metadata.Annotations[IncompleteAnnotation]
	}
	save("web", 3)
	if got := note(); got != "" {
		t.Errorf("complete recording noted as incomplete: %q", got)
	}
	save("web", 20)
	save("sidecar", 30)
	want := []string{
		"container sidecar: 22 new paths, ports or system calls were left out when the recording reached its limit of 64 MiB; the rules miss them",
		"container web: 12 new paths, ports or system calls were left out when the recording reached its limit of 64 MiB; the rules miss them",
	}
	if got := strings.Split(note(), "\n"); !slices.Equal(got, want) {
		t.Errorf("annotation %s =\n%q\nwant\n%q", IncompleteAnnotation, got, want)
	}
	// A later complete recording does not make up for what was left out.
	save("web", 3)
	if got := strings.Split(note(), "\n"); !slices.Equal(got, want) {
		t.Errorf("annotation after a complete recording =\n%q\nwant\n%q", got, want)
	}
}
