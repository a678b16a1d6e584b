package certs

import (
	"context"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/fields"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// CacheByObject restricts a manager's cache of webhook configurations to
// the rotator's own, by name: the controller's RBAC lets it read no
// other, and the watch needs no other.
func (r *Rotator) CacheByObject() map[client.Object]cache.ByObject {
	byName := func(name string) cache.ByObject {
		return cache.ByObject{Field: fields.OneTermEqualSelector("metadata.name", name)}
	}
	objs := map[client.Object]cache.ByObject{}
	if r.MutatingWebhookConfiguration != "" {
		objs[&admissionregistrationv1.MutatingWebhookConfiguration{}] = byName(r.MutatingWebhookConfiguration)
	}
	if r.ValidatingWebhookConfiguration != "" {
		objs[&admissionregistrationv1.ValidatingWebhookConfiguration{}] = byName(r.ValidatingWebhookConfiguration)
	}
	return objs
}

// SetupWatch writes the caBundle as soon as one of the configurations is
// created or changed, on every replica (no leader election). The webhooks
// fail closed: until the API server trusts them, every pod creation they
// select is refused, so the periodic check is not soon enough when the
// configurations are applied after the controller starts, or applied
// again without a caBundle. The manager's cache must be restricted with
// CacheByObject.
func (r *Rotator) SetupWatch(mgr ctrl.Manager) error {
	if r.MutatingWebhookConfiguration == "" && r.ValidatingWebhookConfiguration == "" {
		return nil
	}
	leaderless := false
	b := ctrl.NewControllerManagedBy(mgr).
		Named("webhook-cabundle").
		WithOptions(controller.Options{NeedLeaderElection: &leaderless})
	if r.MutatingWebhookConfiguration != "" {
		b = b.Watches(&admissionregistrationv1.MutatingWebhookConfiguration{}, &handler.EnqueueRequestForObject{})
	}
	if r.ValidatingWebhookConfiguration != "" {
		b = b.Watches(&admissionregistrationv1.ValidatingWebhookConfiguration{}, &handler.EnqueueRequestForObject{})
	}
	return b.Complete(reconcile.Func(func(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
		bundle := r.CABundle()
		if bundle == nil {
			// Before the first Check, which writes it.
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, r.inject(ctx, bundle)
	}))
}
