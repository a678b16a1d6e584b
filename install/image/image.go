package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Binaries are the files of the image, under Dir: the static binaries of
// `make build`, which the node DaemonSet and the controller's Deployment
// run from there.
var Binaries = []string{"podlock-controller", "podlock-helper", "podlock-install", "podlock-interpose", "podlock-node", "podlock-runtime", "podlock-runtime-confine"}

// Dir is where the binaries are in the image.
const Dir = "podlock"

// Entrypoint is the image's default command; the manifests always name
// theirs.
var Entrypoint = []string{"/" + Dir + "/podlock-node"}

// epoch is the time of every file, of the image's creation and of its
// history: the same binaries always make the same image.
var epoch = time.Unix(0, 0).UTC()

// Platform is one platform of the image and the directory of its
// binaries.
type Platform struct {
	OS, Architecture string
	BinDir           string
}

// ParsePlatform parses OS/ARCH=DIR.
func ParsePlatform(s string) (Platform, error) {
	platform, dir, ok := strings.Cut(s, "=")
	osName, arch, ok2 := strings.Cut(platform, "/")
	if !ok || !ok2 || osName == "" || arch == "" || dir == "" {
		return Platform{}, fmt.Errorf("platform %q: want OS/ARCH=DIR, such as linux/arm64=bin/arm64", s)
	}
	return Platform{OS: osName, Architecture: arch, BinDir: dir}, nil
}

// elfMachines are the architectures the image can be built for, by their
// ELF machine.
var elfMachines = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"riscv64": elf.EM_RISCV,
}

// checkBinary refuses a file that is not a static executable of the
// platform: the image's binaries run on nodes (podlock-runtime,
// podlock-interpose) and inside any image (podlock-helper), where no
// dynamic loader can be counted on.
func checkBinary(p Platform, path string) error {
	if p.OS != "linux" {
		return fmt.Errorf("%s: podlock runs on linux only, not %s", path, p.OS)
	}
	want, ok := elfMachines[p.Architecture]
	if !ok {
		return fmt.Errorf("%s: architecture %q is not one of %s", path, p.Architecture, strings.Join(slices.Sorted(maps.Keys(elfMachines)), ", "))
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: not an ELF executable: %w", path, err)
	}
	defer f.Close()
	if f.Machine != want {
		return fmt.Errorf("%s is built for %s, not %s (GOARCH=%s)", path, f.Machine, want, p.Architecture)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: the image holds static binaries only (make build)", path)
		}
	}
	return nil
}

// Layer is the image's only layer: Dir and the binaries of binDir, in a
// tar with sorted entries owned by root, mode 0755 and the epoch as
// modification time, whatever the files on disk say.
func Layer(binDir string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	header := func(name string, typ byte, size int64) *tar.Header {
		return &tar.Header{Typeflag: typ, Name: name, Size: size, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}
	}
	if err := tw.WriteHeader(header(Dir+"/", tar.TypeDir, 0)); err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(slices.Values(Binaries)) {
		data, err := readRegular(filepath.Join(binDir, name))
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(header(Dir+"/"+name, tar.TypeReg, int64(len(data)))); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerTar := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// readRegular reads a file that must be a regular file (not a symlink to
// one: what goes into the image is what `make build` wrote).
func readRegular(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("%w (make build writes the binaries)", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return os.ReadFile(path)
}

// Image is the image of one platform.
func Image(p Platform) (v1.Image, error) {
	for _, name := range Binaries {
		if err := checkBinary(p, filepath.Join(p.BinDir, name)); err != nil {
			return nil, err
		}
	}
	layer, err := Layer(p.BinDir)
	if err != nil {
		return nil, fmt.Errorf("layer of %s: %w", p.BinDir, err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "podlock install/image: the static binaries of make build in /" + Dir},
	})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = p.OS, p.Architecture
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config = v1.Config{Entrypoint: Entrypoint, WorkingDir: "/"}
	return mutate.ConfigFile(img, cfg)
}

// Index is the multi-platform image: one image per platform.
func Index(platforms []Platform) (v1.ImageIndex, error) {
	if len(platforms) == 0 {
		return nil, errors.New("no platform to build")
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	seen := map[string]bool{}
	for _, p := range platforms {
		key := p.OS + "/" + p.Architecture
		if seen[key] {
			return nil, fmt.Errorf("platform %s given twice", key)
		}
		seen[key] = true
		img, err := Image(p)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Architecture}},
		})
	}
	return idx, nil
}

// WriteLayout writes the index as an OCI image layout in dir (replacing
// what is there), named by ref ("docker.io/library/podlock:v1") for
// `ctr images import` and by its tag for other OCI tools.
func WriteLayout(dir string, idx v1.ImageIndex, ref, tag string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          ref,
		"org.opencontainers.image.ref.name": tag,
	}))
}

// WriteArchive writes the layout in dir as a tar to w, the form `ctr
// images import` and `podman load` read: sorted entries, root-owned, the
// epoch as modification time.
func WriteArchive(w io.Writer, dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		paths = append(paths, path)
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(paths)
	tw := tar.NewWriter(w)
	for _, path := range paths {
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case fi.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, hdr.Name+"/", 0o755
		case fi.Mode().IsRegular():
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, fi.Size()
		default:
			return fmt.Errorf("%s: not a file or directory", path)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if _, err := tw.Write(data); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}
