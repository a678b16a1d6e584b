package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// staticBinary builds a small static program of podlock for an
// architecture, once per test, and returns its path.
func staticBinary(t *testing.T, arch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "podlock-interpose")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "github.com/kubewarden/podlock/cmd/podlock-interpose")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}

// binDir makes a directory of the image's binaries, each a copy of
// binary with its name appended (so that they differ), with mode and
// modification time as given.
func binDir(t *testing.T, binary string, mode os.FileMode, mtime time.Time) string {
	t.Helper()
	data, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Written in reverse order: the layer's order must not depend on it.
	for _, name := range slices.Backward(Binaries) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, append(slices.Clone(data), name...), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// build writes the image of platforms as build does and returns the
// index digest and the archive.
func build(t *testing.T, platforms ...Platform) (v1.Hash, []byte) {
	t.Helper()
	idx, err := Index(platforms)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := WriteLayout(dir, idx, "docker.io/library/podlock:test", "test"); err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if err := WriteArchive(&archive, dir); err != nil {
		t.Fatal(err)
	}
	return digest, archive.Bytes()
}

// The same binaries give the same image, byte for byte, whatever their
// modes, times and order on disk; other binaries give another image.
func TestReproducible(t *testing.T) {
	binary := staticBinary(t, "amd64")
	a := binDir(t, binary, 0o755, time.Now())
	b := binDir(t, binary, 0o700, time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC))
	digestA, archiveA := build(t, Platform{"linux", "amd64", a})
	digestB, archiveB := build(t, Platform{"linux", "amd64", b})
	if digestA != digestB {
		t.Errorf("the same binaries gave images %s and %s", digestA, digestB)
	}
	if !bytes.Equal(archiveA, archiveB) {
		t.Error("the same binaries gave different archives")
	}
	if again, _ := build(t, Platform{"linux", "amd64", a}); again != digestA {
		t.Errorf("a second build gave %s, the first %s", again, digestA)
	}

	f, err := os.OpenFile(filepath.Join(b, "podlock-helper"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("another build")
	f.Close()
	if other, _ := build(t, Platform{"linux", "amd64", b}); other == digestA {
		t.Error("another podlock-helper gave the same image")
	}
}

// The layout holds one image per platform, each with the binaries in
// /podlock, root-owned, mode 0755, dated at the epoch, and podlock-node as
// entrypoint; the layout names the image for ctr.
func TestContent(t *testing.T) {
	amd64, arm64 := staticBinary(t, "amd64"), staticBinary(t, "arm64")
	dirs := map[string]string{"amd64": binDir(t, amd64, 0o755, time.Now()), "arm64": binDir(t, arm64, 0o755, time.Now())}
	idx, err := Index([]Platform{{"linux", "amd64", dirs["amd64"]}, {"linux", "arm64", dirs["arm64"]}})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := WriteLayout(dir, idx, "docker.io/library/podlock:test", "test"); err != nil {
		t.Fatal(err)
	}

	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	topManifest, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(topManifest.Manifests) != 1 {
		t.Fatalf("index.json has %d entries, want 1", len(topManifest.Manifests))
	}
	if got := topManifest.Manifests[0].Annotations; got["io.containerd.image.name"] != "docker.io/library/podlock:test" || got["org.opencontainers.image.ref.name"] != "test" {
		t.Errorf("index.json annotations %v", got)
	}
	images, err := top.ImageIndex(topManifest.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := images.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(manifest.Manifests) != 2 {
		t.Fatalf("%d images, want 2", len(manifest.Manifests))
	}
	for _, desc := range manifest.Manifests {
		arch := desc.Platform.Architecture
		img, err := images.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.OS != "linux" || cfg.Architecture != arch || !cfg.Created.Time.Equal(epoch) || !slices.Equal(cfg.Config.Entrypoint, []string{"/podlock/podlock-node"}) {
			t.Errorf("%s: config %s/%s created %v entrypoint %v", arch, cfg.OS, cfg.Architecture, cfg.Created, cfg.Config.Entrypoint)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("%s: %d layers (%v), want 1", arch, len(layers), err)
		}
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, hdr.Name)
			if hdr.Mode != 0o755 || hdr.Uid != 0 || hdr.Gid != 0 || !hdr.ModTime.Equal(epoch) {
				t.Errorf("%s: %s has mode %o, owner %d:%d, time %v", arch, hdr.Name, hdr.Mode, hdr.Uid, hdr.Gid, hdr.ModTime)
			}
			if hdr.Typeflag == tar.TypeReg {
				got, _ := io.ReadAll(tr)
				want, _ := os.ReadFile(filepath.Join(dirs[arch], strings.TrimPrefix(hdr.Name, "podlock/")))
				if !bytes.Equal(got, want) {
					t.Errorf("%s: %s is not the binary of %s", arch, hdr.Name, dirs[arch])
				}
			}
		}
		rc.Close()
		want := []string{"podlock/"}
		for _, b := range Binaries {
			want = append(want, "podlock/"+b)
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: layer entries %v, want %v", arch, names, want)
		}
	}
}

// What cannot run where the image goes is refused, naming the file.
func TestRefusals(t *testing.T) {
	binary := staticBinary(t, "amd64")
	complete := func() string { return binDir(t, binary, 0o755, time.Now()) }
	tests := []struct {
		name     string
		platform func() Platform
		want     string
	}{
		{"missing binary", func() Platform {
			dir := complete()
			os.Remove(filepath.Join(dir, "podlock-node"))
			return Platform{"linux", "amd64", dir}
		}, "podlock-node: no such file or directory"},
		{"symlink", func() Platform {
			dir := complete()
			p := filepath.Join(dir, "podlock-helper")
			os.Rename(p, p+".real")
			os.Symlink(p+".real", p)
			return Platform{"linux", "amd64", dir}
		}, "podlock-helper is not a regular file"},
		{"other architecture", func() Platform { return Platform{"linux", "arm64", complete()} },
			"podlock-controller is built for EM_X86_64, not EM_AARCH64 (GOARCH=arm64)"},
		{"unknown architecture", func() Platform { return Platform{"linux", "mips", complete()} },
			`architecture "mips" is not one of amd64, arm64, ppc64le, riscv64, s390x`},
		{"other OS", func() Platform { return Platform{"windows", "amd64", complete()} }, "podlock runs on linux only"},
		{"dynamic binary", func() Platform {
			dir := complete()
			true, err := os.ReadFile("/bin/true")
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "podlock-runtime"), true, 0o755)
			return Platform{"linux", "amd64", dir}
		}, "podlock-runtime is dynamically linked"},
		{"not ELF", func() Platform {
			dir := complete()
			os.WriteFile(filepath.Join(dir, "podlock-install"), []byte("#!/bin/sh\n"), 0o755)
			return Platform{"linux", "amd64", dir}
		}, "podlock-install: not an ELF executable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Index([]Platform{tt.platform()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	dir := complete()
	if _, err := Index([]Platform{{"linux", "amd64", dir}, {"linux", "amd64", dir}}); err == nil || !strings.Contains(err.Error(), "platform linux/amd64 given twice") {
		t.Errorf("a platform twice: %v", err)
	}
}

func TestParsePlatform(t *testing.T) {
	for in, want := range map[string]Platform{
		"linux/arm64=bin/arm64": {"linux", "arm64", "bin/arm64"},
		"linux/amd64=/x=y":      {"linux", "amd64", "/x=y"},
	} {
		if got, err := ParsePlatform(in); err != nil || got != want {
			t.Errorf("ParsePlatform(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"linux/arm64", "linux=bin", "/amd64=bin", "linux/=bin", "linux/amd64="} {
		if _, err := ParsePlatform(in); err == nil {
			t.Errorf("ParsePlatform(%q) accepted", in)
		}
	}
}

func TestContainerdName(t *testing.T) {
	for in, want := range map[string]string{
		"podlock:v1":                  "docker.io/library/podlock:v1",
		"podlock":                     "docker.io/library/podlock:latest",
		"team/podlock:v1":             "docker.io/team/podlock:v1",
		"registry.example/podlock:v1": "registry.example/podlock:v1",
		"localhost:5000/podlock:v1":   "localhost:5000/podlock:v1",
	} {
		if got, _, err := containerdName(in); err != nil || got != want {
			t.Errorf("containerdName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, _, err := containerdName("Podlock:v1"); err == nil {
		t.Error("an upper-case repository was accepted")
	}
}

// The builder's library stays out of the binaries it packs.
func TestProductBinariesDoNotLinkBuildTools(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/kubewarden/podlock/cmd/...").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/google/go-containerregistry/", "helm.sh/", "sigs.k8s.io/kustomize/"} {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("a product binary links %s", pkg)
			}
		}
	}
}
