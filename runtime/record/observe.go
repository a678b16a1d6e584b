package record

import (
	"bytes"
	byteorder "encoding/binary"
	"errors"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/landlock/compile"
)

// observer turns the system calls of a container's processes, as seccomp
// notifications show them while the caller waits, into a Recording.
//
// What a binary may do must cover everything the processes below it do,
// since Landlock domains stack along execve: so each process carries the
// chain of binaries its ancestry ran, and each access is recorded for
// every binary of the chain.
type observer struct {
	rec   *Recording
	mu    sync.Mutex
	procs map[int]*process // by host thread ID
	// runtimes are the executables of the runtime's init processes: a
	// process still running one of them is runc between loading the
	// filter and executing the container's process, and its calls are
	// not the container's.
	runtimes map[fileID]bool
	// sweepAt is the size of procs at which the threads that are gone
	// without an exit call (killed by a signal) are forgotten.
	sweepAt int
}

// minSweep is the smallest sweepAt: below it, procs stays small whatever
// the container does.
const minSweep = 4096

// maxChain bounds the binaries a process's chain holds. Landlock stacks at
// most 16 domains, one per listed binary along an exec chain, so a recorded
// profile could not enforce a longer one anyway; a binary beyond it still
// has its accesses recorded for its ancestors.
const maxChain = 16

type process struct {
	chain []string
	// stale is set when the executable must be read again: the process
	// is new to the observer, has called execve, or is still the
	// runtime's.
	stale bool
}

// fileID identifies a file whatever the path it is seen by.
type fileID struct{ dev, ino uint64 }

func newObserver(rec *Recording) *observer {
	return &observer{rec: rec, procs: map[int]*process{}, runtimes: map[fileID]bool{}, sweepAt: minSweep}
}

// expect registers the process that runc reports with a new listener: its
// init, which the filter confines from before it executes the container's
// process. By its executable, not its ID: the threads of runc's init make
// calls too, even while the init executes the container's process.
func (o *observer) expect(pid int) {
	id, ok := executable(pid)
	if !ok {
		return // gone already
	}
	o.mu.Lock()
	o.runtimes[id] = true
	o.mu.Unlock()
}

// executable identifies the file a process runs.
func executable(pid int) (fileID, bool) {
	var st unix.Stat_t
	if err := unix.Stat(procPath(pid, "exe"), &st); err != nil {
		return fileID{}, false
	}
	return fileID{dev: st.Dev, ino: st.Ino}, true
}

// atCWD is AT_FDCWD as a system call argument.
const atCWD uint64 = 1<<64 - 100

// call is one system call, stopped until the observer has looked at it.
type call struct {
	pid  int
	name string
	args [6]uint64
}

// observe records c. It reads the caller's memory and /proc entries, which
// stay valid while the caller waits for the response.
func (o *observer) observe(c call) {
	chain, ok := o.chain(c)
	if !ok {
		return
	}
	o.rec.Syscall(c.name)
	a := c.args
	switch c.name {
	case "open":
		o.open(c.pid, chain, atCWD, a[0], a[1])
	case "creat":
		o.open(c.pid, chain, atCWD, a[0], unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC)
	case "openat":
		o.open(c.pid, chain, a[0], a[1], a[2])
	case "openat2":
		// struct open_how starts with the flags.
		var how [8]byte
		if readMemory(c.pid, a[2], how[:]) == nil {
			o.open(c.pid, chain, a[0], a[1], byteorder.NativeEndian.Uint64(how[:]))
		}
	case "execve":
		o.exec(c.pid, chain, atCWD, a[0])
	case "execveat":
		o.exec(c.pid, chain, a[0], a[1])
	case "mkdir", "rmdir", "unlink", "mknod":
		o.entry(c.pid, chain, atCWD, a[0])
	case "mkdirat", "unlinkat", "mknodat":
		o.entry(c.pid, chain, a[0], a[1])
	case "rename", "link":
		o.entry(c.pid, chain, atCWD, a[0])
		o.entry(c.pid, chain, atCWD, a[1])
	case "renameat", "renameat2", "linkat":
		o.entry(c.pid, chain, a[0], a[1])
		o.entry(c.pid, chain, a[2], a[3])
	case "symlink":
		o.entry(c.pid, chain, atCWD, a[1])
	case "symlinkat":
		o.entry(c.pid, chain, a[1], a[2])
	case "truncate":
		if p, ok := o.path(c.pid, atCWD, a[0]); ok {
			o.rec.Path(chain, p, Write)
		}
	case "connect", "bind":
		if port, ok := inetPort(c.pid, a[1], a[2]); ok {
			if c.name == "connect" {
				o.rec.Connect(chain, port)
			} else {
				o.rec.Bind(chain, port)
			}
		}
	}
}

// chain returns the binaries the caller descends from, or false for calls
// that are not the container's.
func (o *observer) chain(c call) ([]string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.procs[c.pid]
	if p == nil {
		p = &process{stale: true}
		if parent := o.procs[parentOf(c.pid)]; parent != nil {
			p.chain = parent.chain
		}
		if len(o.procs) >= o.sweepAt {
			o.sweep()
		}
		o.procs[c.pid] = p
	}
	exec := c.name == "execve" || c.name == "execveat"
	if p.stale {
		if id, ok := executable(c.pid); !ok || o.runtimes[id] {
			return nil, false
		}
		if exe, err := os.Readlink(procPath(c.pid, "exe")); err == nil && len(p.chain) < maxChain && !slices.Contains(p.chain, exe) {
			// A new slice: the chain may be shared with the parent's.
			p.chain = append(slices.Clip(p.chain), exe)
		}
		p.stale = false
	}
	chain := p.chain
	switch {
	case exec:
		p.stale = true
	case c.name == "exit_group" || c.name == "exit":
		// Forget the thread before its ID is reused.
		delete(o.procs, c.pid)
	}
	return chain, true
}

// sweep forgets the threads that no longer exist, and sets the size at
// which to look again to twice what is left, so that a container with many
// live threads costs a sweep per doubling, not per new thread. o.mu must
// be held.
func (o *observer) sweep() {
	for tid := range o.procs {
		if err := unix.Access("/proc/"+strconv.Itoa(tid), unix.F_OK); errors.Is(err, unix.ENOENT) {
			delete(o.procs, tid)
		}
	}
	o.sweepAt = max(minSweep, 2*len(o.procs))
}

// parentOf returns the thread group leader of a thread, or the parent of a
// process: whichever the caller took its binaries from.
func parentOf(tid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0
	}
	var tgid, ppid int
	for _, line := range strings.Split(string(data), "\n") {
		key, value, _ := strings.Cut(line, ":")
		switch key {
		case "Tgid":
			tgid, _ = strconv.Atoi(strings.TrimSpace(value))
		case "PPid":
			ppid, _ = strconv.Atoi(strings.TrimSpace(value))
		}
	}
	if tgid != tid {
		return tgid
	}
	return ppid
}

// open records an open(2) of any kind: reading or writing an existing
// file, listing a directory, or creating a file, which needs the right on
// the directory it is created in. Paths that do not exist and are not
// created are left out: the call fails anyway.
func (o *observer) open(pid int, chain []string, dirfd, pathArg, flags uint64) {
	if flags&unix.O_PATH != 0 {
		return // Landlock does not check O_PATH opens
	}
	p, ok := o.path(pid, dirfd, pathArg)
	if !ok {
		return
	}
	write := flags&unix.O_ACCMODE != unix.O_RDONLY || flags&unix.O_TRUNC != 0
	access := Read
	if write {
		access = Write
	}
	if generalise(p) != p {
		o.rec.Path(chain, p, access)
		return
	}
	_, err := statIn(pid, p)
	switch {
	case err != nil && flags&unix.O_CREAT != 0:
		o.rec.Path(chain, path.Dir(p), Write)
	case err != nil:
	default:
		o.rec.Path(chain, p, access)
	}
}

// exec records an execve(2) of an existing file, with the interpreters the
// kernel executes for it, which also need the execute right.
func (o *observer) exec(pid int, chain []string, dirfd, pathArg uint64) {
	p, ok := o.path(pid, dirfd, pathArg)
	if !ok {
		return
	}
	if _, err := statIn(pid, p); err != nil {
		return
	}
	files, err := compile.Loadable(procPath(pid, "root"), p)
	if err != nil {
		files = []string{p}
	}
	for _, f := range files {
		o.rec.Path(chain, f, Exec)
	}
	if !slices.Contains(files, p) {
		o.rec.Path(chain, p, Exec) // the name it was started by, if a symlink
	}
}

// entry records a change to a directory entry, which needs the right on
// the directory.
func (o *observer) entry(pid int, chain []string, dirfd, pathArg uint64) {
	if p, ok := o.path(pid, dirfd, pathArg); ok && p != "/" {
		o.rec.Path(chain, path.Dir(p), Write)
	}
}

// path reads a path argument and makes it absolute and clean, relative to
// the directory dirfd names.
func (o *observer) path(pid int, dirfd, addr uint64) (string, bool) {
	p, err := readString(pid, addr)
	if err != nil || p == "" {
		return "", false
	}
	if !path.IsAbs(p) {
		var base string
		if fd := int32(dirfd); fd == unix.AT_FDCWD {
			base, err = os.Readlink(procPath(pid, "cwd"))
		} else {
			base, err = os.Readlink(procPath(pid, "fd/"+strconv.Itoa(int(fd))))
		}
		if err != nil || !path.IsAbs(base) {
			return "", false
		}
		p = path.Join(base, p)
	}
	return path.Clean(p), true
}

func procPath(pid int, name string) string {
	return "/proc/" + strconv.Itoa(pid) + "/" + name
}

// statIn stats p inside the caller's root filesystem, following symlinks
// without ever leaving it.
func statIn(pid int, p string) (*unix.Stat_t, error) {
	root, err := unix.Open(procPath(pid, "root"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)
	rel := strings.TrimPrefix(p, "/")
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// inetPort reads the port of an IPv4 or IPv6 socket address.
func inetPort(pid int, addr, length uint64) (uint16, bool) {
	if length < 4 || length > 128 {
		return 0, false
	}
	sa := make([]byte, 4)
	if readMemory(pid, addr, sa) != nil {
		return 0, false
	}
	switch byteorder.NativeEndian.Uint16(sa) {
	case unix.AF_INET, unix.AF_INET6:
		return byteorder.BigEndian.Uint16(sa[2:]), true
	}
	return 0, false
}

// maxPath is the longest path the kernel accepts, with its NUL.
const maxPath = unix.PathMax

var errNoString = errors.New("no NUL-terminated string")

// readString reads a NUL-terminated string from the caller's memory, a
// page at most at a time so that a read never crosses into a page the
// string does not reach.
func readString(pid int, addr uint64) (string, error) {
	page := uint64(os.Getpagesize())
	var s []byte
	for len(s) < maxPath {
		chunk := make([]byte, page-addr%page)
		if err := readMemory(pid, addr, chunk); err != nil {
			return "", err
		}
		if i := bytes.IndexByte(chunk, 0); i >= 0 {
			return string(append(s, chunk[:i]...)), nil
		}
		s = append(s, chunk...)
		addr += uint64(len(chunk))
	}
	return "", errNoString
}

func readMemory(pid int, addr uint64, buf []byte) error {
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}
	n, err := unix.ProcessVMReadv(pid, local, remote, 0)
	if err != nil {
		return err
	}
	if n != len(buf) {
		return unix.EFAULT
	}
	return nil
}
