package seccomp_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/seccomp"
	"github.com/kubewarden/podlock/seccomp/internal/sectest"
)

// Environment switches of TestMain for TestExec: the first makes the test
// binary install a filter and execute itself, the second makes the executed
// copy report what the filter does to it.
const (
	envExecParent = "PODLOCK_SECCOMP_TEST_EXEC"
	envExecChild  = "PODLOCK_SECCOMP_TEST_EXECED"
	testErrno     = 42
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(envExecChild) != "":
		os.Exit(execChild(os.Getenv(envExecChild)))
	case os.Getenv(envExecParent) != "":
		os.Exit(execParent(os.Getenv(envExecParent)))
	}
	os.Exit(m.Run())
}

// errnoFilter is a minimal program, without the architecture check that a
// real profile has: it makes system call nr fail with errno and allows the
// rest.
func errnoFilter(nr uint32, errno uint16) []byte {
	insts := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: nr},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	var buf bytes.Buffer
	for _, in := range insts {
		_ = binary.Write(&buf, binary.NativeEndian, in)
	}
	return buf.Bytes()
}

func mkdirErrno(dir, name string) error {
	return unix.Mkdirat(unix.AT_FDCWD, filepath.Join(dir, name), 0o700)
}

func TestLoadRefusesBadPrograms(t *testing.T) {
	good := errnoFilter(unix.SYS_MKDIRAT, testErrno)
	tests := []struct {
		name   string
		filter []byte
		flags  uint
		want   string
	}{
		{"empty", nil, 0, "empty program"},
		{"partial instruction", good[:len(good)-1], 0, "not a whole number"},
		{"too long", make([]byte, (seccomp.MaxInstructions+1)*seccomp.InstructionSize), 0, "exceeds the kernel's limit of 4096"},
		{"tsync", good, unix.SECCOMP_FILTER_FLAG_TSYNC, "SECCOMP_FILTER_FLAG_TSYNC"},
		{"tsync with log", good, unix.SECCOMP_FILTER_FLAG_TSYNC | seccomp.FlagLog, "SECCOMP_FILTER_FLAG_TSYNC"},
		{"listener", good, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, "unsupported flags 0x8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := seccomp.LoadWithFlags(tt.filter, tt.flags)
			if err == nil {
				t.Fatal("LoadWithFlags succeeded")
			}
			if !errors.Is(err, seccomp.ErrInvalidFilter) || !strings.HasPrefix(err.Error(), "loading seccomp filter: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q: want ErrInvalidFilter mentioning %q", err, tt.want)
			}
		})
	}
}

func TestProgramRoundTrip(t *testing.T) {
	for _, p := range []seccomp.Program{
		{Filter: errnoFilter(unix.SYS_MKDIRAT, 1)},
		{Filter: errnoFilter(unix.SYS_MKDIRAT, 1), Flags: seccomp.FlagLog | seccomp.FlagSpecAllow},
	} {
		data, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var q seccomp.Program
		if err := q.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(q.Filter, p.Filter) || q.Flags != p.Flags {
			t.Fatalf("round trip: got %+v, want %+v", q, p)
		}
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	valid, err := seccomp.Program{Filter: errnoFilter(unix.SYS_MKDIRAT, 1)}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), valid...)) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no \"PLSC\" header"},
		{"json", []byte(`{"defaultAction":"SCMP_ACT_ERRNO"}`), "no \"PLSC\" header"},
		{"version", edit(func(b []byte) []byte { b[4] = 2; return b }), "format version 2"},
		{"truncated", valid[:len(valid)-8], "announces 4 instructions but 24 bytes follow"},
		{"trailing", append(append([]byte(nil), valid...), 0), "announces 4 instructions but 33 bytes follow"},
		{"no instructions", edit(func(b []byte) []byte { b[12] = 0; return b[:16] }), "empty program"},
		{"tsync", edit(func(b []byte) []byte { b[8] = 1; return b }), "unsupported flags 0x1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p seccomp.Program
			err := p.UnmarshalBinary(tt.data)
			if !errors.Is(err, seccomp.ErrInvalidFilter) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v: want ErrInvalidFilter mentioning %q", err, tt.want)
			}
		})
	}
}

func TestMarshalRefusesBadProgram(t *testing.T) {
	_, err := seccomp.Program{Filter: []byte{1, 2, 3}}.MarshalBinary()
	if !errors.Is(err, seccomp.ErrInvalidFilter) {
		t.Fatalf("error %v: want ErrInvalidFilter", err)
	}
}

func TestLoadFiltersCallingThreadOnly(t *testing.T) {
	dir := t.TempDir()
	sectest.RunInSubprocess(t, func() error {
		if err := sectest.SetNoNewPrivs(); err != nil {
			return err
		}
		if err := seccomp.LoadWithFlags(errnoFilter(unix.SYS_MKDIRAT, testErrno), seccomp.FlagLog); err != nil {
			return err
		}
		if err := mkdirErrno(dir, "filtered"); err != unix.Errno(testErrno) {
			return fmt.Errorf("mkdirat on the filtered thread: got %v, want errno %d", err, testErrno)
		}
		if unix.Getpid() <= 0 {
			return errors.New("getpid failed under the filter")
		}
		// A goroutine that locks a thread cannot share ours, which is
		// locked: it proves the other threads are not filtered.
		other := make(chan error)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			other <- mkdirErrno(dir, "unfiltered")
		}()
		if err := <-other; err != nil {
			return fmt.Errorf("mkdirat on another thread: %w (the filter reached other threads)", err)
		}
		return nil
	})
}

func TestExec(t *testing.T) {
	sectest.RequireRoot(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envExecParent+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"mkdirat: errno 42 on every thread", "symlinkat: errno 43"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("executed program did not report %q:\n%s", want, out)
		}
	}
}

// Exec checks every program before it installs the first: a bad one
// leaves the caller unfiltered, and so does an empty list.
func TestExecRefusesBeforeFiltering(t *testing.T) {
	good := seccomp.Program{Filter: errnoFilter(unix.SYS_MKDIRAT, testErrno)}
	for _, programs := range [][]seccomp.Program{nil, {good, {Filter: []byte{1}}}} {
		err := seccomp.Exec(programs, "/bin/true", []string{"true"}, nil)
		if !errors.Is(err, seccomp.ErrInvalidFilter) {
			t.Errorf("Exec(%d programs): error %v, want ErrInvalidFilter", len(programs), err)
		}
	}
	if err := mkdirErrno(t.TempDir(), "unfiltered"); err != nil {
		t.Fatalf("mkdirat after a refused Exec: %v", err)
	}
}

// execParent runs in a copy of the test binary: it stacks three filters,
// two on mkdirat and one on symlinkat, and executes the test binary again,
// as podlock-helper executes the container's program.
func execParent(dir string) int {
	if err := sectest.SetNoNewPrivs(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// no_new_privs is per thread: Exec must run on the thread that has it.
	runtime.LockOSThread()
	programs := []seccomp.Program{
		{Filter: errnoFilter(unix.SYS_MKDIRAT, testErrno-1)},
		{Filter: errnoFilter(unix.SYS_SYMLINKAT, testErrno+1)},
		// Loaded last: its errno wins over the first filter's.
		{Filter: errnoFilter(unix.SYS_MKDIRAT, testErrno)},
	}
	env := append(os.Environ(), envExecChild+"="+dir)
	err := seccomp.Exec(programs, os.Args[0], []string{os.Args[0]}, env)
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// execChild checks that the program executed by Exec runs under the
// filters on all of its threads.
func execChild(dir string) int {
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			runtime.LockOSThread()
			errs <- mkdirErrno(dir, fmt.Sprint(i))
		}()
	}
	for range 4 {
		if err := <-errs; err != unix.Errno(testErrno) {
			fmt.Printf("mkdirat: got %v, want errno %d\n", err, testErrno)
			return 1
		}
	}
	fmt.Println("mkdirat: errno 42 on every thread")
	if err := unix.Symlinkat("target", unix.AT_FDCWD, filepath.Join(dir, "link")); err != unix.Errno(testErrno+1) {
		fmt.Printf("symlinkat: got %v, want errno %d\n", err, testErrno+1)
		return 1
	}
	fmt.Println("symlinkat: errno 43")
	return 0
}
