package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubewarden/podlock/profiles/crd"
)

// Store is what the admission handlers read from the cluster. A missing
// object is (nil, nil); an error means the answer is unknown, and the
// request is refused (failurePolicy Fail semantics, from inside).
type Store interface {
	// NamespaceLabels returns the labels of a namespace.
	NamespaceLabels(ctx context.Context, name string) (map[string]string, error)
	LandlockProfile(ctx context.Context, namespace, name string) (*crd.LandlockProfile, error)
	SeccompProfile(ctx context.Context, namespace, name string) (*crd.SeccompProfile, error)
	// RuntimeClassHandler returns the handler of a RuntimeClass; found is
	// false when there is no RuntimeClass of that name.
	RuntimeClassHandler(ctx context.Context, name string) (handler string, found bool, err error)
}

// ClientStore reads from the manager's cache and, on a miss, from the API
// server: an object created a moment before the pod that needs it may not
// have reached the cache yet, and rejecting the pod for that would make
// `kubectl apply -f profile-and-pod.yaml` fail at random.
type ClientStore struct {
	Cache client.Reader
	Live  client.Reader
}

var _ Store = ClientStore{}

func (s ClientStore) get(ctx context.Context, key types.NamespacedName, obj client.Object) (bool, error) {
	err := s.Cache.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) && s.Live != nil {
		err = s.Live.Get(ctx, key, obj)
	}
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading %T %s: %w", obj, key, err)
	}
	return true, nil
}

// NamespaceLabels implements Store with a metadata-only read.
func (s ClientStore) NamespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	found, err := s.get(ctx, types.NamespacedName{Name: name}, ns)
	if err != nil || !found {
		return nil, err
	}
	return ns.Labels, nil
}

// LandlockProfile implements Store.
func (s ClientStore) LandlockProfile(ctx context.Context, namespace, name string) (*crd.LandlockProfile, error) {
	p := &crd.LandlockProfile{}
	found, err := s.get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, p)
	if err != nil || !found {
		return nil, err
	}
	return p, nil
}

// SeccompProfile implements Store.
func (s ClientStore) SeccompProfile(ctx context.Context, namespace, name string) (*crd.SeccompProfile, error) {
	p := &crd.SeccompProfile{}
	found, err := s.get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, p)
	if err != nil || !found {
		return nil, err
	}
	return p, nil
}

// RuntimeClassHandler implements Store.
func (s ClientStore) RuntimeClassHandler(ctx context.Context, name string) (string, bool, error) {
	rc := &nodev1.RuntimeClass{}
	found, err := s.get(ctx, types.NamespacedName{Name: name}, rc)
	if err != nil || !found {
		return "", false, err
	}
	return rc.Handler, true, nil
}
