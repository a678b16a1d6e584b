package plugin

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// rulesBeforeRecordAnnotation keeps, while a profile records, the spec it
// had before (as JSON): the API server refuses rules in mode Record.
const rulesBeforeRecordAnnotation = v1alpha1.Group + "/rules-before-record"

func recordCommand() *cli.Command {
	return &cli.Command{
		Name:      "record",
		Usage:     "switch PROFILE to mode Record, keeping its rules aside; with --stop, back to what it was",
		ArgsUsage: "PROFILE",
		Description: `In mode Record, new pods bound to PROFILE run unconfined but observed,
and podlock-node publishes what they do as the LandlockProfile
PROFILE-recorded and its SeccompProfiles (see kubectl podlock diff).
PROFILE's rules are kept in its annotation ` + rulesBeforeRecordAnnotation + `
meanwhile. --stop restores them and the mode; kubectl podlock promote
instead replaces them with the recorded ones. Pods that already run keep
the mode they started with: restart them to record them.`,
		Flags: append(kubeFlags(), outputFlag(),
			&cli.BoolFlag{Name: "stop", Usage: "stop recording: restore the rules and mode kept aside"}),
		Action: record,
	}
}

func record(c *cli.Context) error {
	format, name, s, err := onProfile(c)
	if err != nil {
		return err
	}
	change, done := startRecording, "records"
	if c.Bool("stop") {
		change, done = stopRecording, "no longer records"
	}
	profile := &crd.LandlockProfile{}
	key := client.ObjectKey{Namespace: s.namespace, Name: name}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := s.client.Get(c.Context, key, profile); err != nil {
			return err
		}
		if err := change(profile); err != nil {
			return err
		}
		err := s.client.Update(c.Context, profile)
		if apierrors.IsConflict(err) {
			fmt.Fprintf(c.App.ErrWriter, "kubectl-podlock: LandlockProfile %s/%s changed meanwhile; retrying on its new version\n", s.namespace, name)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("LandlockProfile %s/%s: %w", s.namespace, name, err)
	}
	return show(c.App.Writer, format, manifest(profile), func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "LandlockProfile %s/%s %s (mode %s)\n", s.namespace, name, done, modeOf(&profile.Spec))
	})
}

func modeOf(s *v1alpha1.LandlockProfileSpec) v1alpha1.Mode {
	if s.Mode == "" {
		return v1alpha1.ModeEnforce
	}
	return s.Mode
}

// startRecording keeps the profile's spec in an annotation and leaves it
// in mode Record, with no rules.
func startRecording(p *crd.LandlockProfile) error {
	if p.Spec.Records() {
		return fmt.Errorf("it is in mode Record already; stop with --stop")
	}
	kept, err := json.Marshal(p.Spec)
	if err != nil {
		return err
	}
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[rulesBeforeRecordAnnotation] = string(kept)
	p.Spec = v1alpha1.LandlockProfileSpec{Mode: v1alpha1.ModeRecord, BestEffort: p.Spec.BestEffort}
	return nil
}

// stopRecording restores the spec kept by startRecording, or leaves a
// profile that had none in mode Enforce with no rules.
func stopRecording(p *crd.LandlockProfile) error {
	if !p.Spec.Records() {
		return fmt.Errorf("it is in mode %s, not Record: there is no recording to stop", modeOf(&p.Spec))
	}
	spec, ok, err := keptSpec(p)
	if err != nil {
		return err
	}
	if !ok {
		p.Spec = v1alpha1.LandlockProfileSpec{Mode: v1alpha1.ModeEnforce, BestEffort: p.Spec.BestEffort}
		return nil
	}
	p.Spec = *spec
	delete(p.Annotations, rulesBeforeRecordAnnotation)
	return nil
}

// keptSpec returns the spec startRecording kept aside, if any.
func keptSpec(p *crd.LandlockProfile) (*v1alpha1.LandlockProfileSpec, bool, error) {
	kept, ok := p.Annotations[rulesBeforeRecordAnnotation]
	if !ok {
		return nil, false, nil
	}
	var spec v1alpha1.LandlockProfileSpec
	if err := json.Unmarshal([]byte(kept), &spec); err != nil {
		return nil, false, fmt.Errorf("LandlockProfile %s/%s: annotation %s holds no LandlockProfile spec (%w): fix or remove it", p.Namespace, p.Name, rulesBeforeRecordAnnotation, err)
	}
	if spec.Records() {
		return nil, false, fmt.Errorf("LandlockProfile %s/%s: annotation %s holds a spec in mode Record: fix or remove it", p.Namespace, p.Name, rulesBeforeRecordAnnotation)
	}
	return &spec, true, nil
}
