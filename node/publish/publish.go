// Package publish turns what learning mode recorded on a node into API
// objects a user with access to the namespace can review and promote: for
// a profile P in mode Record, the LandlockProfile P-recorded (mode
// Enforce, bound to no pod) and a SeccompProfile P-recorded-<container>
// per container, in P's namespace, labelled recorded-from=P, with the
// evidence of each rule in their status.
//
// Several nodes record the same profile and merge into the same objects:
// each write reads the object, merges (the union of the rules; the
// evidence merged as mergeStatus says) and writes it back with the
// resourceVersion it read, again on a conflict. The node's file stays the
// source of truth on the node: podlock-node publishes it whenever it
// changes, and again after every start.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/runtime/record/evidence"
)

// Publisher publishes the recordings of one node's record directory.
type Publisher struct {
	Client client.Client
	Log    *slog.Logger
	// Node is this node's name, in the evidence.
	Node string
	// Dir is the record directory, as this process sees it.
	Dir string
	// Every is how often the directory is scanned for changes.
	Every time.Duration

	published map[string]string // file -> stamp of its last publication
	// retries counts the writes that met another writer's change.
	retries int
}

// conflicts is how hard a write retries when other nodes write the same
// object at the same time: about 30 s in all.
var conflicts = wait.Backoff{Steps: 30, Duration: 20 * time.Millisecond, Factor: 1.3, Jitter: 1, Cap: 2 * time.Second}

// Run publishes every recording that changed, every p.Every, until ctx
// ends.
func (p *Publisher) Run(ctx context.Context) {
	for {
		if err := p.PublishChanged(ctx); err != nil {
			p.Log.Error("publishing recordings", "dir", p.Dir, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(p.Every):
		}
	}
}

// PublishChanged publishes the recordings that changed since they were
// last published, and returns the errors of those that could not be.
func (p *Publisher) PublishChanged(ctx context.Context) error {
	found, err := Scan(p.Dir)
	if err != nil {
		return err
	}
	if p.published == nil {
		p.published = map[string]string{}
	}
	// Forget the files that are gone: the map stays as small as the
	// directory.
	present := map[string]bool{}
	for _, f := range found {
		present[f.File] = true
	}
	for file := range p.published {
		if !present[file] {
			delete(p.published, file)
		}
	}
	var errs []error
	for _, f := range found {
		if p.published[f.File] == f.stamp {
			continue
		}
		rec, err := Load(f)
		if err == nil {
			err = p.Publish(ctx, rec)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("recording of %s/%s: %w", f.Namespace, f.Profile, err))
			continue
		}
		p.published[f.File] = f.stamp
		p.Log.Info("recording published", "namespace", f.Namespace, "profile", f.Profile, "as", RecordedName(f.Profile), "conflictsRetried", p.retries)
	}
	return errors.Join(errs...)
}

// Publish merges one node's recording into the published objects: the
// SeccompProfiles first, so that the LandlockProfile never names one that
// does not exist.
func (p *Publisher) Publish(ctx context.Context, rec *Recording) error {
	landlockEvidence, seccompEvidence := split(rec.Evidence)
	for container, s := range rec.Seccomp {
		name := RecordedSeccompName(rec.Profile, container)
		w := write[*crd.SeccompProfile]{
			key:   types.NamespacedName{Namespace: rec.Namespace, Name: name},
			new:   func() *crd.SeccompProfile { return &crd.SeccompProfile{} },
			parts: func(o *crd.SeccompProfile) (*metav1.ObjectMeta, *crd.ProfileStatus) { return &o.ObjectMeta, &o.Status },
			merge: func(o *crd.SeccompProfile) { mergeSeccomp(&o.Spec, s.Spec) },
		}
		if err := w.do(ctx, p.Client, &p.retries, rec.Profile, p.Node, seccompEvidence[container]); err != nil {
			return fmt.Errorf("SeccompProfile %s: %w", name, err)
		}
	}
	name := RecordedName(rec.Profile)
	w := write[*crd.LandlockProfile]{
		key:   types.NamespacedName{Namespace: rec.Namespace, Name: name},
		new:   func() *crd.LandlockProfile { return &crd.LandlockProfile{} },
		parts: func(o *crd.LandlockProfile) (*metav1.ObjectMeta, *crd.ProfileStatus) { return &o.ObjectMeta, &o.Status },
		merge: func(o *crd.LandlockProfile) {
			mergeLandlock(&o.Spec, rec)
			incomplete(&o.ObjectMeta, p.Node, rec)
		},
	}
	if err := w.do(ctx, p.Client, &p.retries, rec.Profile, p.Node, landlockEvidence); err != nil {
		return fmt.Errorf("LandlockProfile %s: %w", name, err)
	}
	return nil
}

// write is the merge of one node's share into one published object.
type write[T client.Object] struct {
	key types.NamespacedName
	// new returns an empty object to read into.
	new   func() T
	parts func(T) (*metav1.ObjectMeta, *crd.ProfileStatus)
	// merge adds the node's spec to the object's.
	merge func(T)
}

// do writes the object, then its status (a subresource: a write of one
// ignores the other), each read, merged and written again until no other
// writer came in between.
func (w write[T]) do(ctx context.Context, c client.Client, retries *int, source, node string, ev []evidence.Rule) error {
	retriable := func(err error) bool {
		again := apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
		if again {
			*retries++
		}
		return again
	}
	err := retry.OnError(conflicts, retriable, func() error {
		obj := w.new()
		err := c.Get(ctx, w.key, obj)
		exists := err == nil
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		meta, _ := w.parts(obj)
		if !exists {
			obj = w.new()
			meta, _ = w.parts(obj)
			meta.Name, meta.Namespace = w.key.Name, w.key.Namespace
		}
		if err := claim(meta, source, exists); err != nil {
			return err
		}
		w.merge(obj)
		if err := setShare(meta, node, ev); err != nil {
			return err
		}
		if exists {
			return c.Update(ctx, obj)
		}
		return c.Create(ctx, obj)
	})
	if err != nil {
		return err
	}
	return retry.OnError(conflicts, retriable, func() error {
		obj := w.new()
		if err := c.Get(ctx, w.key, obj); err != nil {
			return err
		}
		meta, status := w.parts(obj)
		if meta.Labels[LabelRecordedFrom] != source {
			return claim(meta, source, true)
		}
		shares, err := readCounts(meta)
		if err != nil {
			return err
		}
		status.Recording = mergeStatus(status.Recording, source, node, ev, shares)
		return c.Status().Update(ctx, obj)
	})
}
