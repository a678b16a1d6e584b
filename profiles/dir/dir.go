// Package dir is a profiles.Source backed by a directory of manifests, for
// nodes outside Kubernetes and for tests.
package dir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/kubewarden/podlock/profiles"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/oci"
)

// DefaultNamespace is the namespace of a manifest that names none, as
// kubectl would apply it.
const DefaultNamespace = "default"

// Source reads every *.yaml, *.yml and *.json file directly in Dir, each of
// which may hold several YAML documents, on every lookup: profiles change
// rarely and containers start often enough that an edit must take effect
// without a restart, but not so often that a small directory is a cost.
type Source struct {
	Dir string
}

// LandlockProfile implements profiles.Source.
func (s Source) LandlockProfile(_ context.Context, ref profiles.Ref) (*v1alpha1.LandlockProfile, error) {
	var found *v1alpha1.LandlockProfile
	err := s.find(v1alpha1.KindLandlockProfile, ref, func(doc []byte) error {
		found = new(v1alpha1.LandlockProfile)
		return v1alpha1.Decode(doc, found)
	})
	if err != nil {
		return nil, err
	}
	if err := found.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("LandlockProfile %s (in %s): %w", ref, s.Dir, err)
	}
	return found, nil
}

// SeccompProfile implements profiles.Source. A SeccompProfile manifest of
// the namespace comes first; failing that, an OCI or Docker seccomp JSON
// file named <name>.json in the seccomp/ subdirectory, which the node's
// administrator put there for every namespace, the way the kubelet's
// localhost profiles are.
func (s Source) SeccompProfile(_ context.Context, ref profiles.Ref) (*v1alpha1.SeccompProfile, error) {
	var found *v1alpha1.SeccompProfile
	err := s.find(v1alpha1.KindSeccompProfile, ref, func(doc []byte) error {
		found = new(v1alpha1.SeccompProfile)
		return v1alpha1.Decode(doc, found)
	})
	if !errors.Is(err, profiles.ErrNotFound) {
		return found, err
	}
	file := filepath.Join(s.Dir, SeccompDir, ref.Name+".json")
	data, ferr := os.ReadFile(file)
	if errors.Is(ferr, os.ErrNotExist) {
		return nil, fmt.Errorf("%w, nor %s", err, file)
	}
	if ferr != nil {
		return nil, fmt.Errorf("%s %s: %w: %w", v1alpha1.KindSeccompProfile, ref, ferr, profiles.ErrUnavailable)
	}
	spec, ierr := oci.Import(data)
	if ierr != nil {
		return nil, fmt.Errorf("%s: %w", file, ierr)
	}
	return &v1alpha1.SeccompProfile{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindSeccompProfile},
		Metadata: v1alpha1.ObjectMeta{Name: ref.Name, Namespace: ref.Namespace},
		Spec:     *spec,
	}, nil
}

// SeccompDir is the subdirectory of node-local seccomp JSON profiles.
const SeccompDir = "seccomp"

// find calls decode with the JSON of the one document of the given kind and
// name. A file that cannot be read or parsed fails every lookup: it may hold
// the profile asked for, and guessing would mean running unconfined.
func (s Source) find(kind string, ref profiles.Ref, decode func([]byte) error) error {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s %s: profiles directory %s does not exist: %w", kind, ref, s.Dir, profiles.ErrNotFound)
		}
		return fmt.Errorf("%s %s: reading profiles directory: %w: %w", kind, ref, err, profiles.ErrUnavailable)
	}
	var where string
	for _, entry := range entries {
		name := entry.Name()
		if entry.IsDir() || !isManifest(name) {
			continue
		}
		file := filepath.Join(s.Dir, name)
		docs, err := readDocuments(file)
		if err != nil {
			return fmt.Errorf("%s %s: %w", kind, ref, err)
		}
		for i, doc := range docs {
			var head struct {
				v1alpha1.TypeMeta `json:",inline"`
				Metadata          v1alpha1.ObjectMeta `json:"metadata"`
			}
			// A name or kind given twice must not let one reading of
			// the document pick another profile than the next.
			strict, err := sigsjson.UnmarshalStrict(doc, &head, sigsjson.DisallowDuplicateFields)
			if err == nil && len(strict) > 0 {
				err = strict[0]
			}
			if err != nil {
				return fmt.Errorf("%s %s: %s document %d: %w", kind, ref, file, i+1, err)
			}
			namespace := head.Metadata.Namespace
			if namespace == "" {
				namespace = DefaultNamespace
			}
			if head.Kind != kind || head.Metadata.Name != ref.Name || namespace != ref.Namespace {
				continue
			}
			if head.APIVersion != v1alpha1.APIVersion {
				return fmt.Errorf("%s %s: %s document %d: apiVersion %q, want %q", kind, ref, file, i+1, head.APIVersion, v1alpha1.APIVersion)
			}
			if where != "" {
				return fmt.Errorf("%s %s is defined twice, in %s and in %s document %d", kind, ref, where, file, i+1)
			}
			where = fmt.Sprintf("%s document %d", file, i+1)
			if err := decode(doc); err != nil {
				return fmt.Errorf("%s %s: %s: %w", kind, ref, where, err)
			}
		}
	}
	if where == "" {
		return fmt.Errorf("%s %s: no manifest in %s: %w", kind, ref, s.Dir, profiles.ErrNotFound)
	}
	return nil
}

func isManifest(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return !strings.HasPrefix(name, ".")
	}
	return false
}

// readDocuments reads a file's YAML documents, converted to JSON.
func readDocuments(file string) ([][]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	docs, err := Documents(data)
	if err != nil {
		return nil, fmt.Errorf("parsing %s %w", file, err)
	}
	return docs, nil
}

// Documents splits a YAML stream into its documents, converted to JSON,
// leaving out the empty ones and those of comments only. Strict conversion
// rejects duplicate keys, which in a security policy are more likely a
// mistake than an intent. A document that is a JSON object already (what
// the API server serves and `kubectl get -o json` prints) is kept as it
// is: converting it would parse it as YAML, the slowest step of reading a
// large profile, and v1alpha1.Decode rejects duplicate fields in its spec.
func Documents(data []byte) ([][]byte, error) {
	var docs [][]byte
	for i, part := range splitDocuments(data) {
		trimmed := bytes.TrimSpace(part)
		if len(trimmed) == 0 {
			continue
		}
		if trimmed[0] == '{' && json.Valid(trimmed) {
			docs = append(docs, trimmed)
			continue
		}
		doc, err := yaml.YAMLToJSONStrict(part)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if bytes.Equal(doc, []byte("null")) {
			continue
		}
		docs = append(docs, doc)
	}
	return docs, nil
}

// splitDocuments splits on YAML document separators, lines that are exactly
// "---" (optionally followed by a comment or spaces).
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	start := 0
	for i := 0; i <= len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += i
		}
		line := bytes.TrimRight(data[i:end], " \t\r")
		if bytes.Equal(line, []byte("---")) || bytes.HasPrefix(line, []byte("--- ")) || bytes.HasPrefix(line, []byte("---\t")) {
			docs = append(docs, data[start:i])
			start = end + 1
		}
		i = end + 1
	}
	if start < len(data) {
		docs = append(docs, data[start:])
	}
	return docs
}
