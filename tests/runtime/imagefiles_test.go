package runtime_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// hangTimeout is how long a runtime command may take before a test calls
// it hung: far above what any create takes, even on a loaded machine.
const hangTimeout = 2 * time.Minute

// Everything podlock-runtime reads from an image is hostile. A script
// whose #! line names a FIFO, or a device node, stops create at once with
// an error in runc's log that names the file and what it is: podlock never
// opens such a file, where a FIFO would block create until a writer came
// and a device would run its driver on the host.
func TestImageSpecialFileAsInterpreter(t *testing.T) {
	for _, tc := range []struct {
		name string
		node string // made in the rootfs
		mode uint32
		dev  int
		want string
	}{
		{
			name: "FIFO",
			node: "/tmp/fifo",
			mode: unix.S_IFIFO,
			want: `binary /app/run.sh of container "app": interpreter of /app/run.sh: /tmp/fifo is a FIFO, not a regular file`,
		},
		{
			name: "character device",
			node: "/opt/zero",
			mode: unix.S_IFCHR,
			dev:  int(unix.Mkdev(1, 5)), // /dev/zero
			want: `binary /app/run.sh of container "app": interpreter of /app/run.sh: /opt/zero is a character device, not a regular file`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.rt.Timeout = hangTimeout
			e.profile("demo", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  profilesByContainer:
    app:
      /app/run.sh:
        readOnly: [/etc/hostname]
`)
			b := testenv.NewBundle(t, "/app/run.sh").Annotate("default", "app", "demo")
			rootfs := filepath.Join(b.Dir, "rootfs")
			if err := os.MkdirAll(filepath.Join(rootfs, "app"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(rootfs, "app", "run.sh"), []byte("#!"+tc.node+"\necho UNCONFINED\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mknod(filepath.Join(rootfs, tc.node), tc.mode|0o755, tc.dev); err != nil {
				t.Fatal(err)
			}
			before := b.Write(t)
			res := e.rt.Command("create", "--bundle", b.Dir, "special")
			if res.Err == nil {
				t.Fatal("create succeeded")
			}
			if strings.Contains(res.Err.Error(), "did not return") {
				t.Fatalf("create hung: %v", res.Err)
			}
			errs := e.rt.LogErrors(t)
			if len(errs) == 0 || !strings.Contains(errs[len(errs)-1], tc.want) {
				t.Errorf("log errors %q, want the last to contain %q", errs, tc.want)
			}
			if !bytes.Equal(before, b.Config(t)) {
				t.Error("config.json changed")
			}
			if res := e.rt.Command("state", "special"); res.Err == nil {
				t.Errorf("a container exists: %s", res.Stdout)
			}
		})
	}
}

// Only the first PT_INTERP of an ELF file is its interpreter, for the
// kernel and for podlock: a second one naming /etc grants the binary
// nothing there.
func TestSecondELFInterpreterGrantsNothing(t *testing.T) {
	e := newEnv(t)
	e.profile("demo", `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: demo
spec:
  profilesByContainer:
    app:
      /usr/bin/ls-host:
        readOnly: [/etc/hostname]
`)
	b := testenv.NewBundle(t, "sh", "-c", "/usr/bin/ls-host /etc/hostname; /usr/bin/ls-host /etc; exit 0").Annotate("default", "app", "demo")
	rootfs := filepath.Join(b.Dir, "rootfs")
	copyDynamic(t, "/bin/ls", rootfs, "/usr/bin/ls-host")
	addSecondInterp(t, filepath.Join(rootfs, "usr", "bin", "ls-host"), "/etc")
	b.Write(t)
	res := e.rt.Run(b, "second-interp")
	if res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{"/etc/hostname"})
	wantLines(t, "stderr", res.Stderr, []string{"/usr/bin/ls-host: cannot open directory '/etc': Permission denied"})
}

// addSecondInterp turns the last PT_NOTE program header of a 64-bit
// little-endian ELF file into a second PT_INTERP, whose name in the file is
// interp, appended to it. The kernel ignores every PT_INTERP but the first;
// glibc's loader takes the last one's name from memory, so the new header
// points there at the first one's.
func addSecondInterp(t *testing.T, file, interp string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB {
		t.Fatalf("%s is not a 64-bit little-endian ELF file", file)
	}
	var first *elf.Prog
	note := -1
	for i, p := range f.Progs {
		if p.Type == elf.PT_INTERP && first == nil {
			first = p
		}
		if p.Type == elf.PT_NOTE {
			note = i
		}
	}
	if first == nil || note < 0 {
		t.Fatalf("%s has no PT_INTERP or no PT_NOTE", file)
	}
	var header elf.Header64
	if err := binary.Read(bytes.NewReader(data), binary.LittleEndian, &header); err != nil {
		t.Fatal(err)
	}
	name := uint64(len(data))
	data = append(data, interp+"\x00"...)
	prog := elf.Prog64{
		Type:   uint32(elf.PT_INTERP),
		Flags:  uint32(elf.PF_R),
		Off:    name,
		Vaddr:  first.Vaddr,
		Paddr:  first.Paddr,
		Filesz: uint64(len(interp) + 1),
		Memsz:  first.Memsz,
		Align:  1,
	}
	var ph bytes.Buffer
	if err := binary.Write(&ph, binary.LittleEndian, prog); err != nil {
		t.Fatal(err)
	}
	copy(data[header.Phoff+uint64(note)*uint64(header.Phentsize):], ph.Bytes())
	if err := os.WriteFile(file, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// The recording agent reads what a recorded container executes, while the
// container waits for it: a script whose #! line names a FIFO neither
// blocks the agent nor the container, whose exec fails as the kernel
// decides.
func TestRecordFIFOInterpreter(t *testing.T) {
	records := t.TempDir()
	e := newEnv(t, "PODLOCK_RECORD_DIR="+records)
	e.rt.Timeout = hangTimeout
	e.profile("learned", recordProfile)
	b := testenv.NewBundle(t, "sh", "-c", `mkfifo /tmp/fifo && printf '#!/tmp/fifo\n' > /tmp/s && chmod +x /tmp/s; /tmp/s; echo "status $?"`).
		Annotate("default", "app", "learned")
	b.Write(t)
	res := e.rt.Run(b, "record-fifo")
	if res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout", res.Stdout, []string{"status 126"})
	wantLines(t, "stderr", res.Stderr, []string{"sh: /tmp/s: Permission denied"})
	testenv.WaitForRecording(t, records, "default", "learned")
}
