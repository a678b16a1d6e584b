// Command image builds podlock's container image, the one the node
// DaemonSet and the controller's Deployment run, from the static binaries
// of `make build`, without a container engine (go-containerregistry, the
// library ko builds images with):
//
//	go run ./install/image [-image podlock:TAG] [-out DIR] [OS/ARCH=BINDIR ...]
//
// It writes DIR/oci, an OCI image layout, and DIR/image.tar, the same
// layout as one file for `ctr -n k8s.io images import`, `podman load` or
// `skopeo copy oci-archive:DIR/image.tar docker://REGISTRY/podlock:TAG`.
// The image holds the binaries in /podlock, and nothing else. Each
// OS/ARCH=BINDIR adds a platform (default: this machine's, from bin); the
// binaries must be static executables of that architecture.
//
// The same binaries always give the same image digest: the layer's
// entries are sorted, owned by root with mode 0755, and dated like the
// image itself at the Unix epoch.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/kubewarden/podlock/internal/atomicfile"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	image := fs.String("image", "podlock:dev", "the image `REFERENCE`, with its tag, that the layout names")
	out := fs.String("out", "bin/image", "`DIR` for oci/ (the OCI image layout) and image.tar (the same as an archive)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	specs := fs.Args()
	if len(specs) == 0 {
		specs = []string{"linux/" + runtime.GOARCH + "=bin"}
	}
	var platforms []Platform
	for _, s := range specs {
		p, err := ParsePlatform(s)
		if err != nil {
			return err
		}
		platforms = append(platforms, p)
	}
	ref, tag, err := containerdName(*image)
	if err != nil {
		return err
	}
	idx, err := Index(platforms)
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	layoutDir := filepath.Join(*out, "oci")
	if err := WriteLayout(layoutDir, idx, ref, tag); err != nil {
		return fmt.Errorf("writing the OCI layout %s: %w", layoutDir, err)
	}
	archive := filepath.Join(*out, "image.tar")
	var buf bytes.Buffer
	if err := WriteArchive(&buf, layoutDir); err != nil {
		return fmt.Errorf("archiving %s: %w", layoutDir, err)
	}
	if err := atomicfile.Write(archive, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("image %s %s\n  OCI layout %s\n  archive    %s\n", ref, digest, layoutDir, archive)
	return nil
}

// containerdName returns the full reference containerd gives an image
// reference (Docker Hub as docker.io, where go-containerregistry says
// index.docker.io), and its tag.
func containerdName(ref string) (string, string, error) {
	t, err := name.NewTag(ref)
	if err != nil {
		return "", "", fmt.Errorf("-image %q: want an image reference such as podlock:v1: %w", ref, err)
	}
	registry := t.Context().RegistryStr()
	if registry == name.DefaultRegistry {
		registry = "docker.io"
	}
	return registry + "/" + t.Context().RepositoryStr() + ":" + t.TagStr(), t.TagStr(), nil
}
