package compile

import (
	"bytes"
	"compress/zlib"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// synthELF describes a small x86-64 executable written from scratch: its
// program headers, and optionally section headers that a parser must not
// trust.
type synthELF struct {
	interps []string // a PT_INTERP segment for each, in order
	needed  []string // DT_NEEDED entries of a PT_DYNAMIC segment
	runpath string   // DT_RUNPATH, if any
	// dynamicPadding adds DT_NULL entries after the end of the dynamic
	// segment's entries, making it that many bytes larger.
	dynamicPadding int
	// bomb adds section headers whose name table claims to be compressed
	// and decompresses to 64 MiB of zeros.
	bomb bool
}

func (s synthELF) bytes(t *testing.T) []byte {
	t.Helper()
	const base = 0x400000
	le := binary.LittleEndian
	progSize := binary.Size(elf.Prog64{})
	nprogs := 1 + len(s.interps) // PT_LOAD, PT_INTERPs
	if len(s.needed) > 0 || s.runpath != "" {
		nprogs++ // PT_DYNAMIC
	}
	dataStart := uint64(binary.Size(elf.Header64{}) + nprogs*progSize)
	var data bytes.Buffer
	at := func() uint64 { return dataStart + uint64(data.Len()) }
	write := func(v any) {
		if err := binary.Write(&data, le, v); err != nil {
			t.Fatal(err)
		}
	}

	var progs []elf.Prog64
	for _, interp := range s.interps {
		off := at()
		data.WriteString(interp + "\x00")
		size := uint64(len(interp) + 1)
		progs = append(progs, elf.Prog64{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Off: off, Vaddr: base + off, Paddr: base + off, Filesz: size, Memsz: size, Align: 1})
	}
	if len(s.needed) > 0 || s.runpath != "" {
		strtab := at()
		data.WriteByte(0)
		var dyn []elf.Dyn64
		add := func(tag elf.DynTag, name string) {
			dyn = append(dyn, elf.Dyn64{Tag: int64(tag), Val: at() - strtab})
			data.WriteString(name + "\x00")
		}
		for _, lib := range s.needed {
			add(elf.DT_NEEDED, lib)
		}
		if s.runpath != "" {
			add(elf.DT_RUNPATH, s.runpath)
		}
		dyn = append(dyn,
			elf.Dyn64{Tag: int64(elf.DT_STRTAB), Val: base + strtab},
			elf.Dyn64{Tag: int64(elf.DT_STRSZ), Val: at() - strtab},
			elf.Dyn64{Tag: int64(elf.DT_NULL)})
		dyn = append(dyn, make([]elf.Dyn64, s.dynamicPadding/binary.Size(elf.Dyn64{}))...)
		for data.Len()%8 != 0 {
			data.WriteByte(0)
		}
		off := at()
		write(dyn)
		size := at() - off
		progs = append(progs, elf.Prog64{Type: uint32(elf.PT_DYNAMIC), Flags: uint32(elf.PF_R), Off: off, Vaddr: base + off, Paddr: base + off, Filesz: size, Memsz: size, Align: 8})
	}
	var shoff uint64
	var shnum, shstrndx uint16
	if s.bomb {
		off := at()
		write(elf.Chdr64{Type: uint32(elf.COMPRESS_ZLIB), Size: 64 << 20, Addralign: 1})
		z, err := zlib.NewWriterLevel(&data, zlib.BestSpeed)
		if err != nil {
			t.Fatal(err)
		}
		zeros := make([]byte, 1<<20)
		for range 64 {
			z.Write(zeros)
		}
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
		size := at() - off
		for data.Len()%8 != 0 {
			data.WriteByte(0)
		}
		shoff = at()
		write([]elf.Section64{
			{},
			{Type: uint32(elf.SHT_STRTAB), Flags: uint64(elf.SHF_COMPRESSED), Off: off, Size: size, Addralign: 1},
		})
		shnum, shstrndx = 2, 1
	}
	total := at()
	progs = append([]elf.Prog64{{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Vaddr: base, Paddr: base, Filesz: total, Memsz: total, Align: 0x1000}}, progs...)

	var out bytes.Buffer
	header := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Entry: base, Phoff: uint64(binary.Size(elf.Header64{})), Shoff: shoff,
		Ehsize: uint16(binary.Size(elf.Header64{})), Phentsize: uint16(progSize), Phnum: uint16(len(progs)),
		Shentsize: uint16(binary.Size(elf.Section64{})), Shnum: shnum, Shstrndx: shstrndx,
	}
	copy(header.Ident[:], elf.ELFMAG)
	header.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	header.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	header.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	for _, v := range []any{header, progs} {
		if err := binary.Write(&out, le, v); err != nil {
			t.Fatal(err)
		}
	}
	out.Write(data.Bytes())
	return out.Bytes()
}

// special makes a FIFO, socket or device node in a test rootfs.
func special(t *testing.T, root, p string, mode uint32, dev int) {
	t.Helper()
	if mode&unix.S_IFMT == unix.S_IFCHR && os.Geteuid() != 0 {
		if os.Getenv("PODLOCK_NO_SKIP") != "" {
			t.Fatal("cannot make a device node: needs root (PODLOCK_NO_SKIP is set)")
		}
		t.Skip("skipping: making a device node needs root")
	}
	if err := unix.Mknod(filepath.Join(root, p), mode|0o755, dev); err != nil {
		t.Fatal(err)
	}
}

// compileWithin compiles like Compile, but fails the test rather than
// hang when Compile blocks.
func compileWithin(t *testing.T, spec *v1alpha1.LandlockProfileSpec, c Container) (*Result, error) {
	t.Helper()
	type result struct {
		res *Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := Compile(one(spec), c, 7)
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		return r.res, r.err
	case <-time.After(time.Minute):
		t.Fatal("Compile() did not return within a minute: it is blocked reading the image")
		return nil, nil
	}
}

// Image files that are not regular files are never opened for reading:
// podlock would block on a FIFO and run a device's driver on the host. It
// fails with an error that names the file and its type.
func TestCompileRefusesSpecialFiles(t *testing.T) {
	rules := v1alpha1.AccessRules{ReadOnly: []string{"/etc/passwd"}}
	for _, tc := range []struct {
		name    string
		script  string // /app/run.sh
		binary  []byte // /app/bin, if set
		special func(t *testing.T, root string)
		listed  string
		want    string
	}{
		{
			name:    "script interpreter is a FIFO",
			script:  "#!/tmp/fifo\n",
			special: func(t *testing.T, root string) { special(t, root, "/tmp/fifo", unix.S_IFIFO, 0) },
			listed:  "/app/run.sh",
			want:    "interpreter of /app/run.sh: /tmp/fifo is a FIFO, not a regular file",
		},
		{
			name:    "script interpreter is a character device",
			script:  "#!/dev/zero\n",
			special: func(t *testing.T, root string) { special(t, root, "/dev/zero", unix.S_IFCHR, int(unix.Mkdev(1, 5))) },
			listed:  "/app/run.sh",
			want:    "interpreter of /app/run.sh: /dev/zero is a character device, not a regular file",
		},
		{
			name:    "script interpreter is a socket",
			script:  "#!/tmp/sock\n",
			special: func(t *testing.T, root string) { special(t, root, "/tmp/sock", unix.S_IFSOCK, 0) },
			listed:  "/app/run.sh",
			want:    "/tmp/sock is a socket, not a regular file",
		},
		{
			name:    "script interpreter is a symlink to a FIFO",
			script:  "#!/bin/interp\n",
			special: func(t *testing.T, root string) { special(t, root, "/tmp/fifo", unix.S_IFIFO, 0) },
			listed:  "/app/run.sh",
			want:    "/tmp/fifo is a FIFO, not a regular file",
		},
		{
			name:   "script interpreter is a directory",
			script: "#!/etc\n",
			listed: "/app/run.sh",
			want:   "interpreter of /app/run.sh: /etc is a directory, not a regular file",
		},
		{
			name:    "shared library is a FIFO",
			binary:  synthELF{needed: []string{"libfifo.so"}}.bytes(t),
			special: func(t *testing.T, root string) { special(t, root, "/lib/libfifo.so", unix.S_IFIFO, 0) },
			listed:  "/app/bin",
			want:    "library libfifo.so of /app/bin: /lib/libfifo.so is a FIFO, not a regular file",
		},
		{
			name:   "ELF interpreter is a directory",
			binary: synthELF{interps: []string{"/etc"}}.bytes(t),
			listed: "/app/bin",
			want:   "/app/bin: ELF interpreter /etc is a directory, not a regular file",
		},
		{
			name:   "ELF interpreter is a symlink to the root",
			binary: synthELF{interps: []string{"/lib/root"}}.bytes(t),
			listed: "/app/bin",
			want:   "/app/bin: ELF interpreter /lib/root is a directory, not a regular file",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := busyboxRoot(t,
				node{path: "/tmp/", mode: 0o1777},
				node{path: "/dev/"},
				node{path: "/lib/root", link: "/"},
				node{path: "/bin/interp", link: "/tmp/fifo"},
				node{path: "/app/run.sh", content: tc.script},
				node{path: "/app/bin", content: string(tc.binary)},
			)
			if tc.special != nil {
				tc.special(t, root)
			}
			for _, c := range []struct {
				what string
				spec *v1alpha1.LandlockProfileSpec
			}{
				{"listed", profile("app", map[string]v1alpha1.AccessRules{tc.listed: rules})},
				{"container-wide", &v1alpha1.LandlockProfileSpec{ContainerWide: map[string]v1alpha1.AccessRules{"app": rules}}},
			} {
				res, err := compileWithin(t, c.spec, Container{Name: "app", Rootfs: root, Args: []string{tc.listed}})
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: Compile() = %+v, %v; want an error containing %q", c.what, res, err, tc.want)
				}
			}
		})
	}
}

// Only the first PT_INTERP of an ELF file counts, as for the kernel: a
// second one naming a directory grants nothing.
func TestCompileSecondELFInterpreter(t *testing.T) {
	for _, second := range []string{"/etc", "/lib/root", "/etc/passwd"} {
		t.Run(second, func(t *testing.T) {
			root := busyboxRoot(t,
				node{path: "/lib/ld.so", content: "a loader"},
				node{path: "/lib/root", link: "/"},
				node{path: "/app/bin", content: string(synthELF{interps: []string{"/lib/ld.so", second}}.bytes(t))},
			)
			res, err := compileWithin(t, profile("app", map[string]v1alpha1.AccessRules{"/app/bin": {}}), Container{Name: "app", Rootfs: root})
			if err != nil {
				t.Fatalf("Compile() error = %v", err)
			}
			want := []string{"/app/bin", "/lib/ld.so", "/etc/ld.so.cache"}
			if got := readExec(t, res.Policy.Binaries["/app/bin"].Rules[0]); !slices.Equal(got, want) {
				t.Errorf("readExec = %q, want %q", got, want)
			}
		})
	}
}

// Libraries are found from the program headers, as the loader finds them:
// section headers may be absent (a stripped binary) or hostile.
func TestCompileELFParsing(t *testing.T) {
	lib := synthELF{}.bytes(t)
	for _, tc := range []struct {
		name    string
		binary  synthELF
		want    []string // readExec after the implicit paths
		wantErr string
	}{
		{
			name:   "libraries of a binary without section headers",
			binary: synthELF{interps: []string{"/lib/ld.so"}, needed: []string{"liba.so", "libmissing.so"}},
			want:   []string{"/app/bin", "/lib/ld.so", "/etc/ld.so.cache", "/lib/liba.so"},
		},
		{
			name:   "run path",
			binary: synthELF{needed: []string{"libb.so"}, runpath: "$ORIGIN/../vendor"},
			want:   []string{"/app/bin", "/vendor/libb.so"},
		},
		{
			name:   "compressed section headers are never read",
			binary: synthELF{interps: []string{"/lib/ld.so"}, needed: []string{"liba.so"}, bomb: true},
			want:   []string{"/app/bin", "/lib/ld.so", "/etc/ld.so.cache", "/lib/liba.so"},
		},
		{
			name:    "oversized dynamic segment",
			binary:  synthELF{needed: []string{"liba.so"}, dynamicPadding: maxDynamic},
			wantErr: "/app/bin: PT_DYNAMIC segment of 65600 bytes, more than the 65536 podlock reads",
		},
		{
			name:    "oversized interpreter name",
			binary:  synthELF{interps: []string{strings.Repeat("/x", unix.PathMax)}},
			wantErr: "/app/bin: ELF interpreter name of 8193 bytes, the kernel accepts 2 to 4096",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := busyboxRoot(t,
				node{path: "/lib/ld.so", content: "a loader"},
				node{path: "/lib/liba.so", content: string(lib)},
				node{path: "/vendor/libb.so", content: string(lib)},
				node{path: "/app/bin", content: string(tc.binary.bytes(t))},
			)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			res, err := compileWithin(t, profile("app", map[string]v1alpha1.AccessRules{"/app/bin": {}}), Container{Name: "app", Rootfs: root})
			runtime.ReadMemStats(&after)
			if grown := after.TotalAlloc - before.TotalAlloc; grown > 16<<20 {
				t.Errorf("Compile() allocated %d MiB", grown>>20)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Compile() = %+v, %v; want an error containing %q", res, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Compile() error = %v", err)
			}
			if got := readExec(t, res.Policy.Binaries["/app/bin"].Rules[0]); !slices.Equal(got, tc.want) {
				t.Errorf("readExec = %q, want %q", got, tc.want)
			}
		})
	}
}

// Loadable, which the record agent runs on a live container's files, does
// not block on a FIFO either.
func TestLoadableRefusesFIFO(t *testing.T) {
	root := busyboxRoot(t, node{path: "/tmp/"}, node{path: "/app/fifo.sh", content: "#!/tmp/fifo\n"})
	special(t, root, "/tmp/fifo", unix.S_IFIFO, 0)
	done := make(chan error, 1)
	go func() {
		_, err := Loadable(root, "/app/fifo.sh")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "/tmp/fifo is a FIFO") {
			t.Errorf("Loadable() error = %v, want one naming the FIFO", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Loadable() did not return within a minute: it is blocked on the FIFO")
	}
}

// The ELF reader takes hostile bytes: it never panics, and never reads
// more than its bounds whatever the headers claim.
func FuzzReadELF(f *testing.F) {
	t := &testing.T{}
	for _, s := range []synthELF{
		{},
		{interps: []string{"/lib/ld.so", "/etc"}},
		{needed: []string{"liba.so", "libb.so"}, runpath: "$ORIGIN/lib"},
	} {
		f.Add(s.bytes(t))
	}
	if data, err := os.ReadFile("/usr/bin/true"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := readELF(io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data))))
		if err != nil {
			return
		}
		if interp, err := img.interp(); err == nil && len(interp) >= unix.PathMax {
			t.Errorf("interpreter name of %d bytes", len(interp))
		}
		needed, runPaths, err := img.dynamic()
		if err != nil {
			return
		}
		for _, s := range append(needed, runPaths...) {
			if len(s) >= unix.PathMax {
				t.Errorf("dynamic string of %d bytes", len(s))
			}
		}
	})
}
