package webhook

import (
	"context"

	"github.com/kubewarden/podlock/profiles/crd"
)

// MemStore is a Store over fixed objects, for tests and benchmarks.
type MemStore struct {
	Namespaces      map[string]map[string]string
	Landlock        map[string]*crd.LandlockProfile // by "namespace/name"
	Seccomp         map[string]*crd.SeccompProfile  // by "namespace/name"
	RuntimeHandlers map[string]string               // RuntimeClass name -> handler
	// Err, when set, is returned by every lookup.
	Err error
}

var _ Store = (*MemStore)(nil)

// NamespaceLabels implements Store.
func (m *MemStore) NamespaceLabels(_ context.Context, name string) (map[string]string, error) {
	return m.Namespaces[name], m.Err
}

// LandlockProfile implements Store.
func (m *MemStore) LandlockProfile(_ context.Context, namespace, name string) (*crd.LandlockProfile, error) {
	if m.Err != nil {
		return nil, m.Err
	}
	if p, ok := m.Landlock[namespace+"/"+name]; ok {
		return p.DeepCopy(), nil
	}
	return nil, nil
}

// SeccompProfile implements Store.
func (m *MemStore) SeccompProfile(_ context.Context, namespace, name string) (*crd.SeccompProfile, error) {
	if m.Err != nil {
		return nil, m.Err
	}
	if p, ok := m.Seccomp[namespace+"/"+name]; ok {
		return p.DeepCopy(), nil
	}
	return nil, nil
}

// RuntimeClassHandler implements Store.
func (m *MemStore) RuntimeClassHandler(_ context.Context, name string) (string, bool, error) {
	h, ok := m.RuntimeHandlers[name]
	return h, ok, m.Err
}
