package cluster

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"
)

// Image is an image the harness imports into containerd. No registry is
// reachable from the test machines, so images are built locally from a
// root filesystem and imported as an OCI image layout.
type Image struct {
	// Name is the full reference, e.g. podlock.test/busybox:1.
	Name string
	// Entrypoint and Cmd go into the image config.
	Entrypoint, Cmd []string
}

// The images every cluster has. Both share one busybox-static layer.
const (
	// BusyboxImage is the image test pods run: testenv.Rootfs, whose
	// default command is sh.
	BusyboxImage = "podlock.test/busybox:1"
	// PauseImage is the pod sandbox image (containerd's
	// pinned_images.sandbox): the same rootfs sleeping forever.
	PauseImage = "podlock.test/pause:1"
)

var defaultImages = []Image{
	{Name: BusyboxImage, Cmd: []string{"sh"}},
	// busybox sleep accepts no "infinity"; 2^31-1 seconds is forever enough.
	{Name: PauseImage, Entrypoint: []string{"/bin/sleep", "2147483647"}},
}

// epoch is the modification time of every file in built layers, so that
// the same rootfs always gives the same layer digest.
var epoch = time.Unix(0, 0).UTC()

// WriteImageLayout writes an OCI image layout as a tar stream to w: one
// gzip layer made from rootfs, and for each image a config, a manifest and
// an entry in index.json named so that `ctr images import` stores it
// under Image.Name.
func WriteImageLayout(w io.Writer, rootfs string, images []Image) error {
	var layer bytes.Buffer
	diffID, err := writeLayer(&layer, rootfs)
	if err != nil {
		return fmt.Errorf("layer from %s: %w", rootfs, err)
	}
	blobs := map[string][]byte{}
	add := func(data []byte) (string, int) {
		sum := sha256.Sum256(data)
		d := "sha256:" + hex.EncodeToString(sum[:])
		blobs[d] = data
		return d, len(data)
	}
	layerDigest, layerSize := add(layer.Bytes())

	type descriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int               `json:"size"`
		Platform    map[string]string `json:"platform,omitempty"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	var manifests []descriptor
	for _, img := range images {
		cfg := map[string]any{
			"architecture": runtime.GOARCH,
			"os":           "linux",
			"created":      epoch.Format(time.RFC3339),
			"config": map[string]any{
				"Env":        []string{"PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin"},
				"Entrypoint": img.Entrypoint,
				"Cmd":        img.Cmd,
				"WorkingDir": "/",
			},
			"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		}
		cfgJSON, err := json.Marshal(cfg)
		if err != nil {
			return err
		}
		cfgDigest, cfgSize := add(cfgJSON)
		manifest, err := json.Marshal(map[string]any{
			"schemaVersion": 2,
			"mediaType":     "application/vnd.oci.image.manifest.v1+json",
			"config":        descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: cfgDigest, Size: cfgSize},
			"layers":        []descriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: layerDigest, Size: layerSize}},
		})
		if err != nil {
			return err
		}
		mDigest, mSize := add(manifest)
		manifests = append(manifests, descriptor{
			MediaType: "application/vnd.oci.image.manifest.v1+json",
			Digest:    mDigest,
			Size:      mSize,
			Platform:  map[string]string{"architecture": runtime.GOARCH, "os": "linux"},
			// ctr names an imported image after io.containerd.image.name.
			Annotations: map[string]string{"io.containerd.image.name": img.Name},
		})
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     manifests,
	})
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	file := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	if err := file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := file("index.json", index); err != nil {
		return err
	}
	digests := make([]string, 0, len(blobs))
	for d := range blobs {
		digests = append(digests, d)
	}
	sort.Strings(digests)
	for _, d := range digests {
		if err := file("blobs/sha256/"+d[len("sha256:"):], blobs[d]); err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeLayer writes rootfs as a gzip-compressed tar to w and returns the
// digest of the uncompressed tar (the config's diff_id).
func writeLayer(w io.Writer, rootfs string) (string, error) {
	gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return "", err
	}
	diff := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(gz, diff))
	err = filepath.WalkDir(rootfs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(rootfs, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		// Owned by root whoever built it; reproducible.
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = epoch, time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := gz.Close(); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(diff.Sum(nil)), nil
}
