package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// inventory answers the questions usage asks about one namespace.
type inventory interface {
	// pods returns the UIDs of the pods that have not terminated whose
	// index (IndexPodLandlock or IndexPodSeccomp) has value.
	pods(ctx context.Context, namespace, index, value string) ([]types.UID, error)
	// landlockBinding returns the LandlockProfiles that bind a
	// SeccompProfile in spec.seccompByContainer.
	landlockBinding(ctx context.Context, namespace, seccomp string) ([]string, error)
	// derived returns the SeccompProfiles whose base profile is seccomp.
	derived(ctx context.Context, namespace, seccomp string) ([]string, error)
}

// usage counts the pods that use a profile.
func usage(ctx context.Context, inv inventory, obj client.Object) (int, error) {
	ns, name := obj.GetNamespace(), obj.GetName()
	if _, ok := obj.(*crd.LandlockProfile); ok {
		uids, err := inv.pods(ctx, ns, IndexPodLandlock, name)
		return len(uids), err
	}
	if isBuiltin(name) {
		return 0, nil
	}
	// The profile and every profile derived from it, at any depth: a pod
	// that uses a derived profile runs with this one merged in.
	names := []string{name}
	seen := map[string]bool{name: true}
	for i := 0; i < len(names); i++ {
		more, err := inv.derived(ctx, ns, names[i])
		if err != nil {
			return 0, err
		}
		for _, n := range more {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	users := map[types.UID]bool{}
	add := func(index, value string) error {
		uids, err := inv.pods(ctx, ns, index, value)
		for _, u := range uids {
			users[u] = true
		}
		return err
	}
	for _, n := range names {
		if err := add(IndexPodSeccomp, n); err != nil {
			return 0, err
		}
		llps, err := inv.landlockBinding(ctx, ns, n)
		if err != nil {
			return 0, err
		}
		for _, l := range llps {
			if err := add(IndexPodLandlock, l); err != nil {
				return 0, err
			}
		}
	}
	return len(users), nil
}

// cachedInventory answers from the cache's indexes.
type cachedInventory struct{ reader client.Reader }

func (c cachedInventory) pods(ctx context.Context, ns, index, value string) ([]types.UID, error) {
	var list corev1.PodList
	if err := c.reader.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{index: value}); err != nil {
		return nil, fmt.Errorf("listing pods by %s=%s: %w", index, value, err)
	}
	uids := make([]types.UID, 0, len(list.Items))
	for i := range list.Items {
		uids = append(uids, list.Items[i].UID)
	}
	return uids, nil
}

func (c cachedInventory) landlockBinding(ctx context.Context, ns, seccomp string) ([]string, error) {
	var list crd.LandlockProfileList
	if err := c.reader.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{IndexLandlockSeccomp: seccomp}); err != nil {
		return nil, fmt.Errorf("listing LandlockProfiles binding %s: %w", seccomp, err)
	}
	names := make([]string, 0, len(list.Items))
	for i := range list.Items {
		names = append(names, list.Items[i].Name)
	}
	return names, nil
}

func (c cachedInventory) derived(ctx context.Context, ns, seccomp string) ([]string, error) {
	var list crd.SeccompProfileList
	if err := c.reader.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{IndexSeccompBase: seccomp}); err != nil {
		return nil, fmt.Errorf("listing SeccompProfiles based on %s: %w", seccomp, err)
	}
	names := make([]string, 0, len(list.Items))
	for i := range list.Items {
		names = append(names, list.Items[i].Name)
	}
	return names, nil
}

// liveInventory answers from lists of the namespace read from the API
// server once, filtered with the index functions: field indexes exist only
// in the cache.
type liveInventory struct {
	reader    client.Reader
	namespace string
	podList   *corev1.PodList
	llpList   *crd.LandlockProfileList
	spList    *crd.SeccompProfileList
}

func (l *liveInventory) load(ctx context.Context) error {
	if l.podList != nil {
		return nil
	}
	pods, llps, sps := &corev1.PodList{}, &crd.LandlockProfileList{}, &crd.SeccompProfileList{}
	for _, list := range []client.ObjectList{pods, llps, sps} {
		if err := l.reader.List(ctx, list, client.InNamespace(l.namespace)); err != nil {
			return fmt.Errorf("listing %T of namespace %s: %w", list, l.namespace, err)
		}
	}
	l.podList, l.llpList, l.spList = pods, llps, sps
	return nil
}

func has(values []string, v string) bool {
	for _, x := range values {
		if x == v {
			return true
		}
	}
	return false
}

func (l *liveInventory) pods(ctx context.Context, _, index, value string) ([]types.UID, error) {
	if err := l.load(ctx); err != nil {
		return nil, err
	}
	f := podLandlock
	if index == IndexPodSeccomp {
		f = podSeccomp
	}
	var uids []types.UID
	for i := range l.podList.Items {
		if has(f(&l.podList.Items[i]), value) {
			uids = append(uids, l.podList.Items[i].UID)
		}
	}
	return uids, nil
}

func (l *liveInventory) landlockBinding(ctx context.Context, _, seccomp string) ([]string, error) {
	if err := l.load(ctx); err != nil {
		return nil, err
	}
	var names []string
	for i := range l.llpList.Items {
		if has(landlockSeccomp(&l.llpList.Items[i]), seccomp) {
			names = append(names, l.llpList.Items[i].Name)
		}
	}
	return names, nil
}

func (l *liveInventory) derived(ctx context.Context, _, seccomp string) ([]string, error) {
	if err := l.load(ctx); err != nil {
		return nil, err
	}
	var names []string
	for i := range l.spList.Items {
		if has(seccompBase(&l.spList.Items[i]), seccomp) {
			names = append(names, l.spList.Items[i].Name)
		}
	}
	return names, nil
}

// mapper turns events into the profiles to reconcile.
type mapper struct{ client client.Reader }

func requests(ns string, names []string) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(names))
	for _, n := range names {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: n}})
	}
	return out
}

// podLandlock maps a pod to its LandlockProfiles, whatever its phase: a
// pod that terminates stops using them.
func (m *mapper) podLandlock(_ context.Context, obj client.Object) []reconcile.Request {
	return requests(obj.GetNamespace(), landlockNames(obj))
}

// podSeccomp maps a pod to every SeccompProfile it uses.
func (m *mapper) podSeccomp(ctx context.Context, obj client.Object) []reconcile.Request {
	var names []string
	if n := obj.GetAnnotations()[v1alpha1.SeccompKey]; n != "" && !isBuiltin(n) {
		names = append(names, n)
	}
	for _, l := range landlockNames(obj) {
		llp := &crd.LandlockProfile{}
		if err := m.client.Get(ctx, types.NamespacedName{Namespace: obj.GetNamespace(), Name: l}, llp); err == nil {
			names = append(names, landlockSeccomp(llp)...)
		}
	}
	return requests(obj.GetNamespace(), m.withBases(ctx, obj.GetNamespace(), names))
}

// landlockSeccomp maps a LandlockProfile (its old and its new version, on
// an update) to the SeccompProfiles it binds.
func (m *mapper) landlockSeccomp(ctx context.Context, obj client.Object) []reconcile.Request {
	return requests(obj.GetNamespace(), m.withBases(ctx, obj.GetNamespace(), landlockSeccomp(obj)))
}

// seccompBases maps a SeccompProfile to its base profiles: their users
// change with it.
func (m *mapper) seccompBases(ctx context.Context, obj client.Object) []reconcile.Request {
	bases := m.withBases(ctx, obj.GetNamespace(), seccompBase(obj))
	return requests(obj.GetNamespace(), bases)
}

// withBases returns names and their base profiles, at any depth.
func (m *mapper) withBases(ctx context.Context, ns string, names []string) []string {
	var out []string
	for _, n := range names {
		for depth := 0; n != "" && !isBuiltin(n) && !has(out, n) && depth < maxChain; depth++ {
			out = append(out, n)
			sp := &crd.SeccompProfile{}
			if err := m.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: n}, sp); err != nil {
				break
			}
			n = sp.Spec.BaseProfileName
		}
	}
	return out
}
