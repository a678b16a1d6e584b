package compile

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
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

// maxLoadable bounds the files one executable may need: real programs load
// a few hundred libraries at most, and each one costs podlock-runtime an
// open and a parse.
const maxLoadable = 4096

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
// list them. Everything read on the way is image content, hostile: only
// regular files are opened, never blocking, and only what the kernel and
// the loader read of them is parsed, within fixed bounds.
func (r *root) loadable(p string) ([]string, error) {
	if files, ok := r.loadables[p]; ok {
		return slices.Clone(files), nil
	}
	files, err := r.walkLoadable(p)
	if err != nil {
		return nil, err
	}
	if r.loadables == nil {
		r.loadables = map[string][]string{}
	}
	r.loadables[p] = files
	return slices.Clone(files), nil
}

func (r *root) walkLoadable(p string) ([]string, error) {
	seen := map[string]bool{}
	var files []string
	add := func(canon string) (bool, error) {
		if seen[canon] {
			return false, nil
		}
		if len(files) == maxLoadable {
			return false, fmt.Errorf("%s needs more than %d files (interpreters and libraries); podlock stops there", p, maxLoadable)
		}
		seen[canon] = true
		files = append(files, canon)
		return true, nil
	}
	var walk func(p string, depth int) error
	walk = func(p string, depth int) error {
		e, err := r.lookup(p)
		if err != nil {
			return err
		}
		if added, err := add(e.Target); !added {
			return err
		}
		f, err := r.readFile(e.Target)
		if err != nil {
			return err
		}
		defer f.Close()
		content := f.content()
		magic := make([]byte, 4)
		if _, err := content.ReadAt(magic, 0); err != nil {
			return nil // empty or tiny files are nothing the kernel would load
		}
		switch {
		case string(magic[:2]) == "#!":
			if depth >= maxShebangDepth {
				return fmt.Errorf("%s: too many levels of interpreters", p)
			}
			interp, err := shebang(content)
			if err != nil || interp == "" {
				return err
			}
			if err := walk(interp, depth+1); err != nil {
				return fmt.Errorf("interpreter of %s: %w", p, err)
			}
			return nil
		case string(magic) == elf.ELFMAG:
			return r.elfDeps(content, e.Target, add)
		}
		return nil
	}
	if err := walk(p, 0); err != nil {
		return nil, err
	}
	return files, nil
}

// shebang returns the interpreter a script's #! line names. The kernel
// reads no more than the first 256 bytes of the file.
func shebang(content io.ReaderAt) (string, error) {
	line, err := bufio.NewReader(io.NewSectionReader(content, 2, 256-2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return "", nil
	}
	return fields[0], nil
}

// elfDeps adds the ELF interpreter and the shared libraries of the ELF file
// self, recursively.
func (r *root) elfDeps(content *io.SectionReader, self string, add func(string) (bool, error)) error {
	img, err := readELF(content)
	if err != nil {
		return fmt.Errorf("%s: %w", self, err)
	}
	interp, err := img.interp()
	if err != nil {
		return fmt.Errorf("%s: %w", self, err)
	}
	if interp != "" {
		e, err := r.lookup(interp)
		if err != nil {
			return fmt.Errorf("%s: ELF interpreter: %w", self, err)
		}
		if e.TargetMode&unix.S_IFMT != unix.S_IFREG {
			return fmt.Errorf("%s: ELF interpreter %s is %s, not a regular file: the kernel would not run the binary", self, interp, fileType(e.TargetMode))
		}
		for _, f := range []string{e.Target, "/etc/ld.so.cache"} {
			if _, err := add(f); err != nil {
				return err
			}
		}
	}
	needed, runPaths, err := img.dynamic()
	if err != nil {
		return fmt.Errorf("%s: %w", self, err)
	}
	if len(needed) == 0 {
		return nil // static
	}
	dirs := searchDirs(img.machine, runPaths, self)
	for _, lib := range needed {
		libPath, ok := r.findLibrary(lib, dirs)
		if !ok {
			// The loader will fail on its own with a clear message;
			// there is nothing to grant.
			continue
		}
		if added, err := add(libPath); !added {
			if err != nil {
				return err
			}
			continue
		}
		lf, err := r.readFile(libPath)
		if err != nil {
			return fmt.Errorf("library %s of %s: %w", lib, self, err)
		}
		err = r.elfDeps(lf.content(), libPath, add)
		lf.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// searchDirs lists where the loader looks for the libraries of a file:
// its run paths, then the system's directories.
func searchDirs(machine elf.Machine, runPaths []string, self string) []string {
	var dirs []string
	for _, v := range runPaths {
		for _, d := range strings.Split(v, ":") {
			d = strings.ReplaceAll(d, "$ORIGIN", path.Dir(self))
			d = strings.ReplaceAll(d, "${ORIGIN}", path.Dir(self))
			if path.IsAbs(d) {
				dirs = append(dirs, d)
			}
		}
	}
	if triplet, ok := multiarch[machine]; ok {
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
