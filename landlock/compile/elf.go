package compile

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"golang.org/x/sys/unix"
)

// elfImage is an ELF file as the kernel and the dynamic loader read it: the
// file header, the program headers and the segments they point to.
//
// Section headers are never read. Neither the kernel nor the loader look at
// them, so in a hostile image they can say anything, and debug/elf reads
// the section name table, decompressing it if it claims to be compressed,
// as it opens a file: a few kilobytes that expand to gigabytes. Every read
// here is bounded by the kernel's own limits or by a small constant,
// whatever the file's size.
type elfImage struct {
	r       *io.SectionReader
	order   binary.ByteOrder
	class   elf.Class
	machine elf.Machine
	progs   []elf.ProgHeader
}

const (
	// maxProgHeaders bounds the program headers read: the kernel loads
	// no more than 64 KiB of them (load_elf_phdrs).
	maxProgHeaders = 65536
	// maxDynamic bounds the dynamic segment read: a real one holds a few
	// dozen entries.
	maxDynamic = 65536
)

// readELF reads the file header and program headers of an ELF file.
func readELF(r *io.SectionReader) (*elfImage, error) {
	var ident [elf.EI_NIDENT]byte
	if _, err := r.ReadAt(ident[:], 0); err != nil {
		return nil, fmt.Errorf("reading the ELF header: %w", err)
	}
	img := &elfImage{r: r, class: elf.Class(ident[elf.EI_CLASS])}
	switch elf.Data(ident[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		img.order = binary.LittleEndian
	case elf.ELFDATA2MSB:
		img.order = binary.BigEndian
	default:
		return nil, fmt.Errorf("unknown ELF data encoding %d", ident[elf.EI_DATA])
	}
	header := io.NewSectionReader(r, 0, 64)
	var phoff uint64
	var phentsize, phnum uint16
	var progSize int
	switch img.class {
	case elf.ELFCLASS64:
		var h elf.Header64
		if err := binary.Read(header, img.order, &h); err != nil {
			return nil, fmt.Errorf("reading the ELF header: %w", err)
		}
		img.machine, phoff, phentsize, phnum = elf.Machine(h.Machine), h.Phoff, h.Phentsize, h.Phnum
		progSize = binary.Size(elf.Prog64{})
	case elf.ELFCLASS32:
		var h elf.Header32
		if err := binary.Read(header, img.order, &h); err != nil {
			return nil, fmt.Errorf("reading the ELF header: %w", err)
		}
		img.machine, phoff, phentsize, phnum = elf.Machine(h.Machine), uint64(h.Phoff), h.Phentsize, h.Phnum
		progSize = binary.Size(elf.Prog32{})
	default:
		return nil, fmt.Errorf("unknown ELF class %d", img.class)
	}
	// The kernel refuses the same (ENOEXEC).
	if int(phentsize) != progSize {
		return nil, fmt.Errorf("program header size %d, want %d", phentsize, progSize)
	}
	if n := int(phnum) * progSize; n == 0 || n > maxProgHeaders {
		return nil, fmt.Errorf("%d program headers, podlock reads 1 to %d", phnum, maxProgHeaders/progSize)
	}
	data, err := img.read(phoff, uint64(phnum)*uint64(progSize))
	if err != nil {
		return nil, fmt.Errorf("reading the program headers: %w", err)
	}
	progs := bytes.NewReader(data)
	for range phnum {
		var p elf.ProgHeader
		if img.class == elf.ELFCLASS64 {
			var p64 elf.Prog64
			err = binary.Read(progs, img.order, &p64)
			p = elf.ProgHeader{Type: elf.ProgType(p64.Type), Off: p64.Off, Vaddr: p64.Vaddr, Filesz: p64.Filesz}
		} else {
			var p32 elf.Prog32
			err = binary.Read(progs, img.order, &p32)
			p = elf.ProgHeader{Type: elf.ProgType(p32.Type), Off: uint64(p32.Off), Vaddr: uint64(p32.Vaddr), Filesz: uint64(p32.Filesz)}
		}
		if err != nil {
			return nil, fmt.Errorf("reading the program headers: %w", err)
		}
		img.progs = append(img.progs, p)
	}
	return img, nil
}

// read reads n bytes at off, all of which must be in the file.
func (img *elfImage) read(off, n uint64) ([]byte, error) {
	if off > math.MaxInt64 || n > uint64(img.r.Size()) {
		return nil, io.ErrUnexpectedEOF
	}
	buf := make([]byte, n)
	if _, err := img.r.ReadAt(buf, int64(off)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// segment reads the file contents of a segment of at most limit bytes.
func (img *elfImage) segment(p elf.ProgHeader, limit uint64) ([]byte, error) {
	if p.Filesz > limit {
		return nil, fmt.Errorf("%s segment of %d bytes, more than the %d podlock reads", p.Type, p.Filesz, limit)
	}
	data, err := img.read(p.Off, p.Filesz)
	if err != nil {
		return nil, fmt.Errorf("reading the %s segment: %w", p.Type, err)
	}
	return data, nil
}

// interp returns the program interpreter, or "" for a static binary. Only
// the first PT_INTERP counts: it is the one the kernel loads, and it
// ignores any other.
func (img *elfImage) interp() (string, error) {
	for _, p := range img.progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		// The kernel's conditions (binfmt_elf): 2 to PATH_MAX bytes,
		// NUL-terminated.
		if p.Filesz < 2 || p.Filesz > unix.PathMax {
			return "", fmt.Errorf("ELF interpreter name of %d bytes, the kernel accepts 2 to %d", p.Filesz, unix.PathMax)
		}
		data, err := img.segment(p, unix.PathMax)
		if err != nil {
			return "", err
		}
		if data[len(data)-1] != 0 {
			return "", errors.New("ELF interpreter name is not NUL-terminated")
		}
		name, _, _ := bytes.Cut(data, []byte{0})
		return string(name), nil
	}
	return "", nil
}

// dynamic returns the names of the shared libraries the file needs
// (DT_NEEDED) and its run paths (DT_RPATH, DT_RUNPATH), from the last
// PT_DYNAMIC segment: the one glibc's and musl's loaders use.
func (img *elfImage) dynamic() (needed, runPaths []string, err error) {
	var dyn *elf.ProgHeader
	for i := range img.progs {
		if img.progs[i].Type == elf.PT_DYNAMIC {
			dyn = &img.progs[i]
		}
	}
	if dyn == nil {
		return nil, nil, nil // static
	}
	data, err := img.segment(*dyn, maxDynamic)
	if err != nil {
		return nil, nil, err
	}
	entrySize := 8
	if img.class == elf.ELFCLASS64 {
		entrySize = 16
	}
	type stringEntry struct {
		tag    elf.DynTag
		offset uint64
	}
	var refs []stringEntry
	var strtab, strsz uint64
	hasStrtab := false
entries:
	for ; len(data) >= entrySize; data = data[entrySize:] {
		var tag elf.DynTag
		var value uint64
		if img.class == elf.ELFCLASS64 {
			tag, value = elf.DynTag(int64(img.order.Uint64(data))), img.order.Uint64(data[8:])
		} else {
			tag, value = elf.DynTag(int32(img.order.Uint32(data))), uint64(img.order.Uint32(data[4:]))
		}
		switch tag {
		case elf.DT_NULL:
			break entries
		case elf.DT_STRTAB:
			strtab, hasStrtab = value, true
		case elf.DT_STRSZ:
			strsz = value
		case elf.DT_NEEDED, elf.DT_RPATH, elf.DT_RUNPATH:
			refs = append(refs, stringEntry{tag, value})
		}
	}
	if len(refs) == 0 {
		return nil, nil, nil
	}
	if !hasStrtab {
		return nil, nil, errors.New("dynamic segment names libraries but has no string table (DT_STRTAB)")
	}
	table, err := img.fileOffset(strtab)
	if err != nil {
		return nil, nil, fmt.Errorf("string table of the dynamic segment: %w", err)
	}
	for _, e := range refs {
		s, err := img.dynString(table, strsz, e.offset)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", e.tag, err)
		}
		if e.tag == elf.DT_NEEDED {
			needed = append(needed, s)
		} else {
			runPaths = append(runPaths, s)
		}
	}
	return needed, runPaths, nil
}

// fileOffset maps a virtual address to where a loadable segment holds it
// in the file.
func (img *elfImage) fileOffset(vaddr uint64) (uint64, error) {
	for _, p := range img.progs {
		if p.Type == elf.PT_LOAD && vaddr >= p.Vaddr && vaddr-p.Vaddr < p.Filesz {
			return p.Off + (vaddr - p.Vaddr), nil
		}
	}
	return 0, fmt.Errorf("address %#x is in no loadable segment", vaddr)
}

// dynString reads the NUL-terminated string at offset in the string table
// at table, of size bytes (0 if unknown), up to PATH_MAX bytes: no library
// name or run path the loader uses is longer.
func (img *elfImage) dynString(table, size, offset uint64) (string, error) {
	n := uint64(unix.PathMax)
	if size != 0 {
		if offset >= size {
			return "", fmt.Errorf("string at %d is past the end of the string table (%d bytes)", offset, size)
		}
		n = min(n, size-offset)
	}
	start := table + offset
	if start < table || start > math.MaxInt64 {
		return "", fmt.Errorf("string at %d is outside the file", offset)
	}
	buf := make([]byte, n)
	got, err := img.r.ReadAt(buf, int64(start))
	if i := bytes.IndexByte(buf[:got], 0); i >= 0 {
		return string(buf[:i]), nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return "", fmt.Errorf("string at %d is not NUL-terminated within %d bytes", offset, n)
}
