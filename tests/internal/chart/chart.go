// Package chart renders podlock's Helm chart (install/helm/podlock) and
// its kustomization (install/) with Helm's and kustomize's own Go
// packages, for the tests that compare them, dry-run them on a real API
// server, and install the chart on the test cluster.
package chart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	chartiface "helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/kubewarden/podlock/profiles/dir"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// Namespace is the release namespace of the chart's defaults, the
// namespace of the kustomization.
const Namespace = "podlock-system"

// Dir is the chart's directory.
func Dir() string { return filepath.Join(testenv.ModuleRoot(), "install", "helm", "podlock") }

// Load loads the chart from Dir.
func Load() (chartiface.Charter, error) {
	ch, err := loader.Load(Dir())
	if err != nil {
		return nil, fmt.Errorf("loading the chart %s: %w", Dir(), err)
	}
	return ch, nil
}

// Object is a rendered object.
type Object map[string]any

// Kind, Name and Namespace of the object.
func (o Object) Kind() string { return str(o["kind"]) }

// Name of the object.
func (o Object) Name() string { return str(meta(o)["name"]) }

// Namespace of the object; "" when cluster-scoped.
func (o Object) Namespace() string { return str(meta(o)["namespace"]) }

// Key identifies the object: apiVersion, kind, namespace and name.
func (o Object) Key() string {
	return strings.Join([]string{str(o["apiVersion"]), o.Kind(), o.Namespace(), o.Name()}, " ")
}

func meta(o Object) map[string]any {
	m, _ := o["metadata"].(map[string]any)
	return m
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// Render renders the chart as `helm template --include-crds` does, into
// namespace, with values over the chart's defaults, and returns its
// objects, CRDs first.
func Render(namespace string, values map[string]any) ([]Object, error) {
	ch, err := Load()
	if err != nil {
		return nil, err
	}
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = "podlock"
	install.Namespace = namespace
	install.Replace = true
	install.IncludeCRDs = true
	rel, err := install.Run(ch, values)
	if err != nil {
		return nil, fmt.Errorf("rendering the chart: %w", err)
	}
	r, ok := rel.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("rendering the chart: a release of type %T", rel)
	}
	return Parse([]byte(r.Manifest))
}

// Kustomize builds install/ as `kubectl apply -k install/` does.
func Kustomize() ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(testenv.ModuleRoot(), "install"))
	if err != nil {
		return nil, fmt.Errorf("kustomize build install/: %w", err)
	}
	out, err := res.AsYaml()
	if err != nil {
		return nil, err
	}
	return Parse(out)
}

// Parse splits a manifest into its objects.
func Parse(manifest []byte) ([]Object, error) {
	docs, err := dir.Documents(manifest)
	if err != nil {
		return nil, err
	}
	var objs []Object
	for _, doc := range docs {
		if len(bytes.TrimSpace(doc)) == 0 || string(bytes.TrimSpace(doc)) == "null" {
			continue
		}
		var o Object
		if err := json.Unmarshal(doc, &o); err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// Manifest joins objects into one multi-document manifest.
func Manifest(objs []Object) ([]byte, error) {
	var docs [][]byte
	for _, o := range objs {
		js, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		docs = append(docs, js)
	}
	return bytes.Join(docs, []byte("\n---\n")), nil
}

// Find returns the object of kind and name, or nil.
func Find(objs []Object, kind, name string) Object {
	i := slices.IndexFunc(objs, func(o Object) bool { return o.Kind() == kind && o.Name() == name })
	if i < 0 {
		return nil
	}
	return objs[i]
}
