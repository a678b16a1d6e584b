// Package controller keeps profiles that pods use from going away: it puts
// the finalizer podlock.kubewarden.io/in-use on every LandlockProfile and
// SeccompProfile that a pod which has not terminated uses, removes it when
// the last such pod is gone, and reports the number of those pods in
// .status.podsInUse.
//
// A pod uses the LandlockProfile named by its label
// podlock.kubewarden.io/profile and the one named by its annotation
// podlock.kubewarden.io/namespace-profile (its namespace's); the
// SeccompProfiles that these LandlockProfiles bind in
// spec.seccompByContainer; the SeccompProfile named by its annotation
// podlock.kubewarden.io/seccomp; and the base profiles of those
// SeccompProfiles, which the runtime merges into them.
// Built-in seccomp profiles are no objects and shadow objects of the same
// name, which are therefore never in use.
package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/builtin"
)

// Finalizer protects a profile that pods use.
const Finalizer = v1alpha1.Group + "/in-use"

// maxChain bounds the base-profile chains followed, as the runtime does.
const maxChain = 16

// Field indexes of the cache.
const (
	// IndexPodLandlock indexes pods that have not terminated by their
	// LandlockProfiles: their label's and their namespace's annotation's.
	IndexPodLandlock = "podlock.landlockProfile"
	// IndexPodSeccomp indexes pods that have not terminated by their
	// seccomp annotation.
	IndexPodSeccomp = "podlock.seccompProfile"
	// IndexLandlockSeccomp indexes LandlockProfiles by the SeccompProfiles
	// of their spec.seccompByContainer.
	IndexLandlockSeccomp = "podlock.seccompByContainer"
	// IndexSeccompBase indexes SeccompProfiles by their base profile.
	IndexSeccompBase = "podlock.baseProfileName"
)

func terminated(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func podLandlock(obj client.Object) []string {
	pod, ok := obj.(*corev1.Pod)
	if !ok || terminated(pod) {
		return nil
	}
	return landlockNames(pod)
}

// landlockNames returns the LandlockProfiles a pod is bound to: by its
// label, and by its namespace (the annotation the webhook set from the
// namespace's label, which keeps naming it after the label changes).
func landlockNames(obj client.Object) []string {
	var names []string
	if name := obj.GetLabels()[v1alpha1.ProfileKey]; name != "" {
		names = append(names, name)
	}
	if name := obj.GetAnnotations()[v1alpha1.NamespaceProfileKey]; name != "" && !slices.Contains(names, name) {
		names = append(names, name)
	}
	return names
}

func podSeccomp(obj client.Object) []string {
	pod, ok := obj.(*corev1.Pod)
	if !ok || terminated(pod) {
		return nil
	}
	if name, ok := pod.Annotations[v1alpha1.SeccompKey]; ok && name != "" && !isBuiltin(name) {
		return []string{name}
	}
	return nil
}

func landlockSeccomp(obj client.Object) []string {
	llp, ok := obj.(*crd.LandlockProfile)
	if !ok {
		return nil
	}
	var names []string
	for _, n := range llp.Spec.SeccompByContainer {
		if !isBuiltin(string(n)) && !slices.Contains(names, string(n)) {
			names = append(names, string(n))
		}
	}
	slices.Sort(names)
	return names
}

func seccompBase(obj client.Object) []string {
	sp, ok := obj.(*crd.SeccompProfile)
	if !ok || sp.Spec.BaseProfileName == "" || isBuiltin(sp.Spec.BaseProfileName) {
		return nil
	}
	return []string{sp.Spec.BaseProfileName}
}

func isBuiltin(name string) bool {
	_, ok := builtin.Get(name)
	return ok
}

// StripPod is the cache transform for pods: the controller reads only
// their identity, podlock's label and annotations and their phase, so the
// cache keeps nothing else.
func StripPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	keep := func(m map[string]string) map[string]string {
		var out map[string]string
		for k, v := range m {
			if len(k) > len(v1alpha1.Group) && k[:len(v1alpha1.Group)+1] == v1alpha1.Group+"/" {
				if out == nil {
					out = map[string]string{}
				}
				out[k] = v
			}
		}
		return out
	}
	return &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			DeletionTimestamp: pod.DeletionTimestamp,
			Labels:            keep(pod.Labels),
			Annotations:       keep(pod.Annotations),
		},
		Status: corev1.PodStatus{Phase: pod.Status.Phase},
	}, nil
}

// podChanged lets through the pod updates that can change a profile's
// use: the kubelet updates a running pod's status often, and none of that
// matters but its phase.
var podChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*corev1.Pod)
	n, ok2 := e.ObjectNew.(*corev1.Pod)
	if !ok1 || !ok2 {
		return true
	}
	return o.Status.Phase != n.Status.Phase ||
		(o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) ||
		!maps.Equal(o.Labels, n.Labels) || !maps.Equal(o.Annotations, n.Annotations)
}}

// Setup registers the indexes and the two controllers with the manager.
func Setup(mgr ctrl.Manager) error {
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	for _, i := range []struct {
		obj  client.Object
		name string
		f    client.IndexerFunc
	}{
		{&corev1.Pod{}, IndexPodLandlock, podLandlock},
		{&corev1.Pod{}, IndexPodSeccomp, podSeccomp},
		{&crd.LandlockProfile{}, IndexLandlockSeccomp, landlockSeccomp},
		{&crd.SeccompProfile{}, IndexSeccompBase, seccompBase},
	} {
		if err := idx.IndexField(ctx, i.obj, i.name, i.f); err != nil {
			return fmt.Errorf("index %s: %w", i.name, err)
		}
	}

	r := &Reconciler{Client: mgr.GetClient(), Live: mgr.GetAPIReader(), StatusInterval: StatusInterval}
	m := &mapper{client: mgr.GetClient()}
	opts := controller.Options{MaxConcurrentReconciles: 2}
	err := ctrl.NewControllerManagedBy(mgr).
		Named("landlockprofile").
		For(&crd.LandlockProfile{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(m.podLandlock), builder.WithPredicates(podChanged)).
		WithOptions(opts).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			after, err := r.Reconcile(ctx, &crd.LandlockProfile{}, req.NamespacedName)
			return reconcile.Result{RequeueAfter: after}, err
		}))
	if err != nil {
		return fmt.Errorf("LandlockProfile controller: %w", err)
	}
	err = ctrl.NewControllerManagedBy(mgr).
		Named("seccompprofile").
		For(&crd.SeccompProfile{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(m.podSeccomp), builder.WithPredicates(podChanged)).
		Watches(&crd.LandlockProfile{}, handler.EnqueueRequestsFromMapFunc(m.landlockSeccomp)).
		Watches(&crd.SeccompProfile{}, handler.EnqueueRequestsFromMapFunc(m.seccompBases)).
		WithOptions(opts).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			after, err := r.Reconcile(ctx, &crd.SeccompProfile{}, req.NamespacedName)
			return reconcile.Result{RequeueAfter: after}, err
		}))
	if err != nil {
		return fmt.Errorf("SeccompProfile controller: %w", err)
	}
	return nil
}

// Reconciler sets a profile's finalizer and status from the pods that use
// it.
type Reconciler struct {
	// Client reads from the cache, with the indexes of Setup, and writes.
	Client client.Client
	// Live reads from the API server. It confirms that a profile is
	// unused before its finalizer goes: the cache may not have seen a pod
	// created a moment ago.
	Live client.Reader
	// StatusInterval is the least time between two writes of one
	// profile's status; zero writes every change.
	StatusInterval time.Duration

	mu sync.Mutex
	// statusWritten is when each profile's status was last written.
	statusWritten map[profileKey]time.Time
}

// StatusInterval spaces the writes of a profile's status.podsInUse. A
// batch of pods that start or go changes it with every pod, and each write
// is an etcd write and a watch event for every client of the profile:
// measured on the test cluster, 22 status writes for 10 pods started and
// deleted, most of the API server's extra work for those pods. The count
// settles at most this late. The finalizer, which keeps a profile in use
// from going, is never delayed.
const StatusInterval = time.Second

// profileKey tells profiles apart across kinds.
type profileKey struct {
	kind string
	types.NamespacedName
}

// Reconcile brings one profile (obj, an empty LandlockProfile or
// SeccompProfile) in line with its use. A status write that must wait
// for StatusInterval is left for later: Reconcile returns when to come
// back.
func (r *Reconciler) Reconcile(ctx context.Context, obj client.Object, key types.NamespacedName) (time.Duration, error) {
	pk := profileKey{fmt.Sprintf("%T", obj), key}
	if err := r.Client.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(pk)
		}
		return 0, client.IgnoreNotFound(err)
	}
	n, err := usage(ctx, cachedInventory{r.Client}, obj)
	if err != nil {
		return 0, fmt.Errorf("%s: counting its pods: %w", describe(obj), err)
	}
	has := controllerutil.ContainsFinalizer(obj, Finalizer)
	if n == 0 && has && r.Live != nil {
		if n, err = usage(ctx, &liveInventory{reader: r.Live, namespace: key.Namespace}, obj); err != nil {
			return 0, fmt.Errorf("%s: counting its pods in the API server: %w", describe(obj), err)
		}
	}

	switch {
	case n > 0 && !has && obj.GetDeletionTimestamp() == nil:
		// (The API server refuses new finalizers on an object being
		// deleted; one deleted before its first pod was seen is gone.)
		if err := r.patchFinalizer(ctx, obj, true); err != nil {
			return 0, err
		}
	case n == 0 && has:
		if err := r.patchFinalizer(ctx, obj, false); err != nil {
			return 0, err
		}
		if obj.GetDeletionTimestamp() != nil {
			r.forget(pk)
			return 0, nil // garbage collected now
		}
	}

	status := statusOf(obj)
	if status.PodsInUse == int32(n) {
		return 0, nil
	}
	if wait := r.statusWait(pk); wait > 0 {
		return wait, nil
	}
	orig := obj.DeepCopyObject().(client.Object)
	status.PodsInUse = int32(n)
	if err := r.Client.Status().Patch(ctx, obj, client.MergeFrom(orig)); err != nil {
		if apierrors.IsNotFound(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("%s: writing status.podsInUse=%d: %w", describe(obj), n, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.statusWritten == nil {
		r.statusWritten = map[profileKey]time.Time{}
	}
	r.statusWritten[pk] = time.Now()
	return 0, nil
}

// statusWait is how long the status of profile k must wait before its
// next write.
func (r *Reconciler) statusWait(k profileKey) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	last, ok := r.statusWritten[k]
	if !ok {
		return 0
	}
	return r.StatusInterval - time.Since(last)
}

func (r *Reconciler) forget(k profileKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.statusWritten, k)
}

// patchFinalizer adds or removes the finalizer with a merge patch that
// carries the resourceVersion: finalizers are a list that a merge patch
// replaces whole, so another writer's finalizer must not be lost.
func (r *Reconciler) patchFinalizer(ctx context.Context, obj client.Object, add bool) error {
	orig := obj.DeepCopyObject().(client.Object)
	if add {
		controllerutil.AddFinalizer(obj, Finalizer)
	} else {
		controllerutil.RemoveFinalizer(obj, Finalizer)
	}
	err := r.Client.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
	if err != nil && !(apierrors.IsNotFound(err) && !add) {
		verb := "removing"
		if add {
			verb = "adding"
		}
		return fmt.Errorf("%s: %s finalizer %s: %w", describe(obj), verb, Finalizer, err)
	}
	return nil
}

func statusOf(obj client.Object) *crd.ProfileStatus {
	switch p := obj.(type) {
	case *crd.LandlockProfile:
		return &p.Status
	case *crd.SeccompProfile:
		return &p.Status
	}
	panic(fmt.Sprintf("controller: %T is not a profile", obj))
}

func describe(obj client.Object) string {
	kind := "SeccompProfile"
	if _, ok := obj.(*crd.LandlockProfile); ok {
		kind = "LandlockProfile"
	}
	return kind + " " + obj.GetNamespace() + "/" + obj.GetName()
}
