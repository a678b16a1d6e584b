package compile

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// libraryDirs are where the dynamic loaders of glibc and musl look when a
// binary carries no run path. /etc/ld.so.conf is not read: images that add
// library directories there need to list them in the profile.
var libraryDirs = []string{"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"}

var multiarch = map[elf.Machine]string{
	elf.EM_X86_64:  "x86_64-linux-gnu",
	elf.EM_AARCH64: "aarch64-linux-gnu",
	elf.EM_386:     "i386-linux-gnu",
	elf.EM_ARM:     "arm-linux-gnueabihf",
	elf.EM_PPC64:   "powerpc64le-linux-gnu",
	elf.EM_S390:    "s390x-linux-gnu",
	elf.EM_RISCV:   "riscv64-linux-gnu",
}

// maxShebangDepth bounds interpreter chains as the kernel does.
const maxShebangDepth = 5

// Loadable opens the root filesystem at rootfs (a host path, or a
// process's /proc/PID/root) and returns what loadable does for p.
func Loadable(rootfs, p string) ([]string, error) {
	r, err := openRoot(rootfs)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.loadable(p)
}

// loadable returns the canonical paths of every file the kernel and the
// dynamic loader open to start the executable at p: the file itself, a
// script's interpreter, the ELF interpreter and the shared libraries,
// recursively. A binary is useless without them, so a profile never has to
// list them.
func (r *root) loadable(p string) ([]string, error) {
	seen := map[string]bool{}
	var files []string
	add := func(canon string) bool {
		if seen[canon] {
			return false
		}
		seen[canon] = true
		files = append(files, canon)
		return true
	}
	var walk func(p string, depth int) error
	walk = func(p string, depth int) error {
		e, err := r.lookup(p)
		if err != nil {
			return err
		}
		if !add(e.Target) {
			return nil
		}
		f, err := r.readFile(e.Target)
		if err != nil {
			return err
		}
		defer f.Close()
		magic := make([]byte, 4)
		if _, err := io.ReadFull(f, magic); err != nil {
			return nil // empty or tiny files are nothing the kernel would load
		}
		switch {
		case string(magic[:2]) == "#!":
			if depth >= maxShebangDepth {
				return fmt.Errorf("%s: too many levels of interpreters", p)
			}
			interp, err := shebang(f)
			if err != nil || interp == "" {
				return err
			}
			return walk(interp, depth+1)
		case string(magic) == elf.ELFMAG:
			return r.elfDeps(f, e.Target, add)
		}
		return nil
	}
	if err := walk(p, 0); err != nil {
		return nil, err
	}
	return files, nil
}

func shebang(f io.ReadSeeker) (string, error) {
	if _, err := f.Seek(2, io.SeekStart); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(io.LimitReader(f, 256)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return "", nil
	}
	return fields[0], nil
}

func (r *root) elfDeps(f io.ReaderAt, self string, add func(string) bool) error {
	ef, err := elf.NewFile(f)
	if err != nil {
		return fmt.Errorf("%s: %w", self, err)
	}
	defer ef.Close()
	for _, prog := range ef.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		data, err := io.ReadAll(prog.Open())
		if err != nil {
			return fmt.Errorf("%s: reading ELF interpreter: %w", self, err)
		}
		interp := strings.TrimRight(string(data), "\x00")
		e, err := r.lookup(interp)
		if err != nil {
			return fmt.Errorf("%s: ELF interpreter: %w", self, err)
		}
		add(e.Target)
		add("/etc/ld.so.cache")
	}
	needed, err := ef.DynString(elf.DT_NEEDED)
	if err != nil || len(needed) == 0 {
		return nil // static, or no dynamic section to speak of
	}
	dirs := r.searchDirs(ef, self)
	for _, lib := range needed {
		libPath, ok := r.findLibrary(lib, dirs)
		if !ok {
			// The loader will fail on its own with a clear message;
			// there is nothing to grant.
			continue
		}
		if !add(libPath) {
			continue
		}
		lf, err := r.readFile(libPath)
		if err != nil {
			return err
		}
		err = r.elfDeps(lf, libPath, add)
		lf.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *root) searchDirs(ef *elf.File, self string) []string {
	var dirs []string
	for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
		values, _ := ef.DynString(tag)
		for _, v := range values {
			for _, d := range strings.Split(v, ":") {
				d = strings.ReplaceAll(d, "$ORIGIN", path.Dir(self))
				d = strings.ReplaceAll(d, "${ORIGIN}", path.Dir(self))
				if path.IsAbs(d) {
					dirs = append(dirs, d)
				}
			}
		}
	}
	if triplet, ok := multiarch[ef.Machine]; ok {
		dirs = append(dirs, "/lib/"+triplet, "/usr/lib/"+triplet)
	}
	return append(dirs, libraryDirs...)
}

func (r *root) findLibrary(name string, dirs []string) (string, bool) {
	if strings.Contains(name, "/") {
		e, err := r.lookup(name)
		return e.Target, err == nil
	}
	for _, d := range dirs {
		if e, err := r.lookup(path.Join(d, name)); err == nil {
			return e.Target, true
		}
	}
	return "", false
}
