package publish

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubewarden/podlock/profiles/dir"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/runtime/record/evidence"
)

// MaxRecordingSize bounds the recorded YAML file read from the node: the
// objects it becomes must fit in etcd (1.5 MiB by default), and a
// recording of a hostile container must not make podlock-node read
// without end.
const MaxRecordingSize = 4 << 20

// Found is a recording in the record directory: <dir>/<namespace>/<profile>.yaml
// and its evidence file.
type Found struct {
	Namespace, Profile string
	File, Evidence     string
	// root is the record directory the files are read beneath.
	root string
	// stamp changes when either file changes.
	stamp string
}

// Scan lists the recordings of the record directory. It follows no
// symbolic link and skips every name that is not a namespace directory
// or a profile's file, such as the recorder's locks, logs and sockets.
func Scan(root string) ([]Found, error) {
	namespaces, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the record directory: %w", err)
	}
	var found []Found
	for _, ns := range namespaces {
		if !ns.IsDir() || len(validation.IsDNS1123Label(ns.Name())) > 0 {
			continue // ReadDir's IsDir is false for a symlink
		}
		files, err := os.ReadDir(filepath.Join(root, ns.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading the record directory: %w", err)
		}
		for _, f := range files {
			profile, ok := strings.CutSuffix(f.Name(), ".yaml")
			if !ok || !f.Type().IsRegular() || len(validation.IsDNS1123Subdomain(profile)) > 0 {
				continue
			}
			file := filepath.Join(root, ns.Name(), f.Name())
			found = append(found, Found{Namespace: ns.Name(), Profile: profile, File: file, Evidence: evidence.FileOf(file), root: root})
		}
	}
	for i := range found {
		found[i].stamp = stamp(found[i].File) + stamp(found[i].Evidence)
	}
	return found, nil
}

func stamp(file string) string {
	var st unix.Stat_t
	if err := unix.Lstat(file, &st); err != nil {
		return "-"
	}
	return fmt.Sprintf("%d.%d.%d.%d;", st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec)
}

// Recording is what one node recorded of one profile.
type Recording struct {
	Namespace, Profile string
	Landlock           *v1alpha1.LandlockProfile
	// Seccomp maps a container name to its recorded SeccompProfile.
	Seccomp  map[string]*v1alpha1.SeccompProfile
	Evidence []evidence.Rule
}

// Load reads a recording and checks that it describes the profile its
// file is named after.
func Load(f Found) (*Recording, error) {
	data, err := readBeneath(f.root, f.File, MaxRecordingSize)
	if err != nil {
		return nil, err
	}
	docs, err := dir.Documents(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.File, err)
	}
	rec := &Recording{Namespace: f.Namespace, Profile: f.Profile, Seccomp: map[string]*v1alpha1.SeccompProfile{}}
	seccomps := map[string]*v1alpha1.SeccompProfile{}
	for _, doc := range docs {
		var meta v1alpha1.TypeMeta
		if err := json.Unmarshal(doc, &meta); err != nil {
			return nil, fmt.Errorf("%s: %w", f.File, err)
		}
		switch meta.Kind {
		case v1alpha1.KindLandlockProfile:
			rec.Landlock = &v1alpha1.LandlockProfile{}
			err = json.Unmarshal(doc, rec.Landlock)
		case v1alpha1.KindSeccompProfile:
			var s v1alpha1.SeccompProfile
			err = json.Unmarshal(doc, &s)
			seccomps[s.Metadata.Name] = &s
		default:
			err = fmt.Errorf("unexpected kind %q", meta.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.File, err)
		}
	}
	if rec.Landlock == nil || rec.Landlock.Metadata.Name != f.Profile || rec.Landlock.Metadata.Namespace != f.Namespace {
		return nil, fmt.Errorf("%s: no LandlockProfile %s/%s in it", f.File, f.Namespace, f.Profile)
	}
	for container, name := range rec.Landlock.Spec.SeccompByContainer {
		if len(validation.IsDNS1123Label(container)) > 0 {
			return nil, fmt.Errorf("%s: container name %q is not a DNS label", f.File, container)
		}
		s := seccomps[string(name)]
		if s == nil {
			return nil, fmt.Errorf("%s: no SeccompProfile %s for container %s", f.File, name, container)
		}
		rec.Seccomp[container] = s
	}
	data, err = readBeneath(f.root, f.Evidence, evidence.MaxSize)
	if errors.Is(err, os.ErrNotExist) {
		return rec, nil // recorded before evidence was kept
	}
	if err != nil {
		return nil, err
	}
	var ev evidence.File
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Evidence, err)
	}
	rec.Evidence = ev.Rules
	return rec, nil
}

// readBeneath reads file, a path beneath root, if it is a regular file of
// at most limit bytes: no component of its path beneath root may be a
// symbolic link (a directory swapped for one after Scan included), and a
// FIFO never blocks the read.
func readBeneath(root, file string, limit int64) ([]byte, error) {
	rel, err := filepath.Rel(root, file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, &os.PathError{Op: "open", Path: root, Err: err})
	}
	defer unix.Close(dir)
	fd, err := unix.Openat2(dir, rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, &os.PathError{Op: "open", Path: file, Err: err})
	}
	f := os.NewFile(uintptr(fd), file)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading %s: not a regular file", file)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("reading %s: larger than %d bytes; not published", file, limit)
	}
	return data, nil
}
