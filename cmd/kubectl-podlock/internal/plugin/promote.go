package plugin

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubewarden/podlock/cmd/kubectl-podlock/internal/rules"
	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// promotedFromLabel marks the SeccompProfiles promote writes, with the
// name of the LandlockProfile they were promoted for: promote overwrites
// only those.
const promotedFromLabel = v1alpha1.Group + "/promoted-from"

func promoteCommand() *cli.Command {
	return &cli.Command{
		Name:      "promote",
		Usage:     "make the recorded profile PROFILE-recorded the profile in force: PROFILE's spec is replaced by the recorded one",
		ArgsUsage: "PROFILE",
		Description: `Shows the diff (kubectl podlock diff PROFILE) and asks for confirmation
(y/N on stdin) unless --yes. Then it copies each recorded SeccompProfile
PROFILE-recorded-CONTAINER to PROFILE-CONTAINER, and replaces PROFILE's
spec with the recorded spec, in mode Enforce, naming those copies: the
next pods bound to PROFILE run confined by what was recorded. Pods that
already run keep the rules they started with.

The spec promoted is the one the diff showed. Concurrent changes to
PROFILE (its labels, annotations or status) are kept: a write that
conflicts with one is retried on the new version.`,
		Flags: append(kubeFlags(), outputFlag(),
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"}),
		Action: promote,
	}
}

func promote(c *cli.Context) error {
	format, name, s, err := onProfile(c)
	if err != nil {
		return err
	}
	r, err := s.review(c.Context, name)
	if err != nil {
		return err
	}
	for _, l := range r.report.Rules {
		if l.Change != rules.Removed && l.Kind == kindSeccompProfile && l.Access == seccompMissing {
			return fmt.Errorf("not promoted: %s/%s names the SeccompProfile %s for container %s, which does not exist; wait for podlock-node to publish it, or record again",
				s.namespace, r.recorded.Name, l.Value, l.Container)
		}
	}
	// The diff goes where the confirmation is asked: on stdout in a table,
	// on stderr when stdout carries YAML or JSON of the result.
	diffOut := c.App.Writer
	if format != formatTable {
		diffOut = c.App.ErrWriter
	}
	if err := r.report.show(diffOut, formatTable); err != nil {
		return err
	}
	if !c.Bool("yes") {
		fmt.Fprintf(diffOut, "\nReplace the spec of LandlockProfile %s/%s with the recorded one? [y/N] ", s.namespace, name)
		answer, _ := bufio.NewReader(c.App.Reader).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return fmt.Errorf("not promoted: the answer was %q, not y", strings.TrimSpace(answer))
		}
	}
	promoted, err := s.promote(c.Context, r, func(what string) {
		fmt.Fprintf(c.App.ErrWriter, "kubectl-podlock: %s changed while promoting; retrying on its new version\n", what)
	})
	if err != nil {
		return err
	}
	return show(c.App.Writer, format, manifest(promoted), func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "LandlockProfile %s/%s promoted from %s\n", s.namespace, name, r.recorded.Name)
	})
}

// promote copies the recorded SeccompProfiles, then replaces the profile's
// spec with the recorded one, retrying each write on conflict; conflicted
// is told what was written concurrently.
func (s *session) promote(ctx context.Context, r *review, conflicted func(what string)) (*crd.LandlockProfile, error) {
	name := r.profile.Name
	spec := *r.recorded.Spec.DeepCopy()
	spec.Mode = v1alpha1.ModeEnforce
	// bestEffort is the user's choice about older kernels, which no
	// recording can make: a profile that had it keeps it.
	spec.BestEffort = spec.BestEffort || r.profile.Spec.BestEffort
	for _, container := range sortedKeys(spec.SeccompByContainer) {
		recorded, ok := r.seccomp[string(spec.SeccompByContainer[container])]
		if !ok {
			continue // a built-in profile: nothing to copy
		}
		target := name + "-" + container
		if err := s.copySeccomp(ctx, recorded, target, name, conflicted); err != nil {
			return nil, err
		}
		spec.SeccompByContainer[container] = v1alpha1.ProfileName(target)
	}

	profile := r.profile.DeepCopy()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		profile.Spec = *spec.DeepCopy()
		// The rules kept aside by record belong to the spec replaced.
		delete(profile.Annotations, rulesBeforeRecordAnnotation)
		updateErr := s.client.Update(ctx, profile)
		if !apierrors.IsConflict(updateErr) {
			return updateErr
		}
		conflicted("LandlockProfile " + s.namespace + "/" + name)
		profile = &crd.LandlockProfile{}
		if err := s.client.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: name}, profile); err != nil {
			return err
		}
		return updateErr
	})
	if err != nil {
		return nil, fmt.Errorf("promoting LandlockProfile %s/%s: %w", s.namespace, name, err)
	}
	return profile, nil
}

// copySeccomp writes the spec of a recorded SeccompProfile into the
// SeccompProfile target, creating it or updating the one promote wrote
// before.
func (s *session) copySeccomp(ctx context.Context, from *crd.SeccompProfile, target, profile string, conflicted func(string)) error {
	what := "SeccompProfile " + s.namespace + "/" + target
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		existing := &crd.SeccompProfile{}
		err := s.client.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: target}, existing)
		switch {
		case apierrors.IsNotFound(err):
			return s.client.Create(ctx, &crd.SeccompProfile{
				ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: target, Labels: map[string]string{promotedFromLabel: profile}},
				Spec:       *from.Spec.DeepCopy(),
			})
		case err != nil:
			return err
		case existing.Labels[promotedFromLabel] != profile:
			return fmt.Errorf("it exists and promote did not write it (no label %s=%s): rename or delete it, or label it so if it may be replaced", promotedFromLabel, profile)
		}
		existing.Spec = *from.Spec.DeepCopy()
		err = s.client.Update(ctx, existing)
		if apierrors.IsConflict(err) {
			conflicted(what)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s from %s: %w", what, from.Name, err)
	}
	return nil
}
