package record

import (
	byteorder "encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readString reads a page at a time: a string that ends right before an
// unmapped page is read whole, and one that runs into it is an error.
func TestReadString(t *testing.T) {
	page := os.Getpagesize()
	mem, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	if err := unix.Mprotect(mem[page:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	base := uint64(uintptr(unsafe.Pointer(&mem[0])))
	pid := os.Getpid()

	const s = "/etc/passwd"
	at := page - len(s) - 1
	copy(mem[at:], s+"\x00")
	if got, err := readString(pid, base+uint64(at)); err != nil || got != s {
		t.Errorf("string ending at the page's end: %q, %v", got, err)
	}
	copy(mem[page-4:page], "/etc")
	if got, err := readString(pid, base+uint64(page-4)); err == nil {
		t.Errorf("string running into an unmapped page: %q, want an error", got)
	}
	long := strings.Repeat("a", page-1)
	copy(mem, long+"\x00")
	if got, err := readString(pid, base); err != nil || got != long {
		t.Errorf("string of a whole page: %d bytes, %v", len(got), err)
	}
}

func TestInetPort(t *testing.T) {
	tests := []struct {
		name string
		sa   []byte
		ok   bool
		port uint16
	}{
		{"ipv4", append(nativeFamily(unix.AF_INET), 0x1f, 0x90, 127, 0, 0, 1), true, 8080},
		{"ipv6", append(nativeFamily(unix.AF_INET6), 0x01, 0xbb, 0, 0, 0, 0), true, 443},
		{"unix", append(nativeFamily(unix.AF_UNIX), '/', 's'), false, 0},
		{"too short", []byte{2}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := uint64(uintptr(unsafe.Pointer(&tt.sa[0])))
			port, ok := inetPort(os.Getpid(), addr, uint64(len(tt.sa)))
			if ok != tt.ok || port != tt.port {
				t.Errorf("inetPort() = %d, %v, want %d, %v", port, ok, tt.port, tt.ok)
			}
		})
	}
}

// nativeFamily starts a socket address: its family, in the host's order.
func nativeFamily(family uint16) []byte {
	return byteorder.NativeEndian.AppendUint16(nil, family)
}

// Threads killed by a signal never call exit: the observer forgets them
// once procs grows, and keeps the live ones.
func TestObserverForgetsGoneThreads(t *testing.T) {
	o := newObserver(NewRecording())
	live := os.Getpid()
	o.procs[live] = &process{}
	for i := range minSweep {
		o.procs[1<<30+i] = &process{} // above any pid_max
	}
	o.chain(call{pid: live, name: "getpid"})
	if len(o.procs) != minSweep+1 {
		t.Fatalf("%d threads known before the sweep, want %d", len(o.procs), minSweep+1)
	}
	// A new thread (here the test's own, forgotten) triggers the sweep.
	delete(o.procs, live)
	o.chain(call{pid: live, name: "getpid"})
	if len(o.procs) != 1 || o.procs[live] == nil {
		t.Errorf("%d threads known after the sweep, want only the live one", len(o.procs))
	}
	if o.sweepAt != minSweep {
		t.Errorf("next sweep at %d threads, want %d", o.sweepAt, minSweep)
	}
}

// A chain holds at most maxChain binaries.
func TestObserverBoundsChains(t *testing.T) {
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{maxChain - 1, maxChain} {
		o := newObserver(NewRecording())
		chain := make([]string, n)
		for i := range chain {
			chain[i] = "/bin/b" + strconv.Itoa(i)
		}
		o.procs[os.Getpid()] = &process{chain: chain, stale: true}
		got, ok := o.chain(call{pid: os.Getpid(), name: "getpid"})
		want := min(n+1, maxChain)
		if !ok || len(got) != want {
			t.Errorf("chain of %d binaries, then %s: %d binaries, want %d", n, self, len(got), want)
		}
	}
}
