package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubewarden/podlock/cmd/kubectl-podlock/internal/rules"
	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/builtin"
)

// recordedFromLabel marks the objects podlock-node publishes from learning
// mode, with the name of the recorded profile.
const recordedFromLabel = v1alpha1.Group + "/recorded-from"

// incompleteAnnotation, on a recorded LandlockProfile, says per container
// how much a full recording left out (runtime/record.IncompleteAnnotation,
// which this binary does not link: that package is the node's).
const incompleteAnnotation = v1alpha1.Group + "/recording-incomplete"

// kindSeccompProfile is the rule a container's seccompByContainer entry
// becomes when it names no SeccompProfile of the namespace (a built-in
// profile, or one that is missing): the name, not system calls.
const kindSeccompProfile = "seccompProfile"

// Accesses of a kindSeccompProfile rule.
const (
	seccompBuiltin = "built-in"
	seccompMissing = "missing"
)

// errNothingRecorded says that a profile has no recording yet.
var errNothingRecorded = errors.New("nothing is recorded")

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "compare the recorded profile PROFILE-recorded with PROFILE, rule by rule, with each rule's evidence and PROFILE's denials",
		ArgsUsage: "PROFILE",
		Description: `Each rule of either profile is one line: + added by the recording, - in
force but not recorded, = in both. Recorded rules carry their evidence:
how many times, in which pods and on which nodes they were seen, first and
last. The denials of pods bound to PROFILE follow: a denial that a recorded
rule covers is a rule the profile in force lacks; one that no rule covers
is worth a look.`,
		Flags:  append(kubeFlags(), outputFlag()),
		Action: diff,
	}
}

func diff(c *cli.Context) error {
	format, name, s, err := onProfile(c)
	if err != nil {
		return err
	}
	r, err := s.review(c.Context, name)
	if err != nil {
		return err
	}
	return r.report.show(c.App.Writer, format)
}

// onProfile starts a command on one LandlockProfile: it returns the output
// format, the profile's name (the one argument) and a session, checking
// the arguments before connecting.
func onProfile(c *cli.Context) (format, name string, s *session, err error) {
	if format, err = outputFormat(c); err != nil {
		return "", "", nil, err
	}
	if c.NArg() != 1 {
		return "", "", nil, fmt.Errorf("%s takes one argument, the LandlockProfile's name, not %d", c.Command.Name, c.NArg())
	}
	name = c.Args().First()
	if err := v1alpha1.ValidateName(name); err != nil {
		return "", "", nil, err
	}
	s, err = connect(c)
	return format, name, s, err
}

// recordedName is the LandlockProfile podlock-node publishes the
// recording of profile into.
func recordedName(profile string) string { return profile + "-recorded" }

// review is a profile, its recording and their differences.
type review struct {
	profile  *crd.LandlockProfile
	recorded *crd.LandlockProfile
	// seccomp holds the recorded SeccompProfiles, by name.
	seccomp map[string]*crd.SeccompProfile
	report  diffReport
}

// diffReport is what diff prints.
type diffReport struct {
	Namespace string `json:"namespace"`
	Profile   string `json:"profile"`
	Recorded  string `json:"recorded"`
	// KeptAside says that the profile records, and that its rules are
	// those that record kept aside.
	KeptAside bool `json:"keptAside,omitempty"`
	// Nodes are the nodes that contributed to the recording.
	Nodes []string `json:"nodes,omitempty"`
	// Incomplete says how much recordings that were full left out, a line
	// per container; empty when nothing was left out.
	Incomplete string       `json:"incomplete,omitempty"`
	Rules      []rules.Line `json:"rules"`
	Denials    []denial     `json:"denials"`
}

// review reads a profile, its recording, the SeccompProfiles of both and
// the denials of pods bound to the profile.
func (s *session) review(ctx context.Context, name string) (*review, error) {
	r := &review{profile: &crd.LandlockProfile{}, recorded: &crd.LandlockProfile{}, seccomp: map[string]*crd.SeccompProfile{}}
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: name}, r.profile); err != nil {
		return nil, fmt.Errorf("LandlockProfile %s/%s: %w", s.namespace, name, err)
	}
	recorded := recordedName(name)
	switch err := s.client.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: recorded}, r.recorded); {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("LandlockProfile %s/%s: %w: there is no LandlockProfile %s; record it with `kubectl podlock record %s -n %s`, run the workload, and try again once podlock-node has published the recording",
			s.namespace, name, errNothingRecorded, recorded, name, s.namespace)
	case err != nil:
		return nil, fmt.Errorf("LandlockProfile %s/%s: %w", s.namespace, recorded, err)
	}
	if from := r.recorded.Labels[recordedFromLabel]; from != name {
		return nil, fmt.Errorf("LandlockProfile %s/%s is not a recording of %s: its label %s is %q; podlock-node labels what it publishes",
			s.namespace, recorded, name, recordedFromLabel, from)
	}

	// While the profile records, what is in force after --stop is the
	// spec kept aside.
	inForce, keptAside := &r.profile.Spec, false
	if r.profile.Spec.Records() {
		kept, ok, err := keptSpec(r.profile)
		if err != nil {
			return nil, err
		}
		if ok {
			inForce, keptAside = kept, true
		}
	}
	current := rules.Landlock(inForce)
	var evidence []crd.RuleEvidence
	var nodes []string
	if rec := r.recorded.Status.Recording; rec != nil {
		evidence, nodes = rec.Rules, rec.Nodes
	}
	seccomp, err := s.seccompRules(ctx, inForce.SeccompByContainer, nil)
	if err != nil {
		return nil, err
	}
	current = append(current, seccomp...)
	recordedRules := rules.Landlock(&r.recorded.Spec)
	seccomp, err = s.seccompRules(ctx, r.recorded.Spec.SeccompByContainer, func(sp *crd.SeccompProfile) {
		r.seccomp[sp.Name] = sp
		if sp.Status.Recording != nil {
			evidence = append(evidence, sp.Status.Recording.Rules...)
		}
	})
	if err != nil {
		return nil, err
	}
	recordedRules = append(recordedRules, seccomp...)
	rules.Sort(current)
	rules.Sort(recordedRules)

	var pods corev1.PodList
	if err := s.client.List(ctx, &pods, client.InNamespace(s.namespace)); err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	byName := map[string]*corev1.Pod{}
	for i := range pods.Items {
		byName[s.namespace+"/"+pods.Items[i].Name] = &pods.Items[i]
	}
	denials, err := s.denials(ctx, s.namespace, byName)
	if err != nil {
		return nil, err
	}
	r.report = diffReport{
		Namespace: s.namespace, Profile: name, Recorded: recorded, Nodes: nodes, KeptAside: keptAside,
		Incomplete: r.recorded.Annotations[incompleteAnnotation],
		Rules:      rules.Diff(current, recordedRules, evidence),
		Denials:    ofProfile(denials, s.namespace, name),
	}
	if r.report.Rules == nil {
		r.report.Rules = []rules.Line{}
	}
	if r.report.Denials == nil {
		r.report.Denials = []denial{}
	}
	return r, nil
}

// seccompRules reads the SeccompProfiles a seccompByContainer names, and
// returns their rules; found sees each profile read.
func (s *session) seccompRules(ctx context.Context, byContainer map[string]v1alpha1.ProfileName, found func(*crd.SeccompProfile)) ([]rules.Rule, error) {
	var out []rules.Rule
	for container, name := range byContainer {
		sp := &crd.SeccompProfile{}
		switch err := s.client.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: string(name)}, sp); {
		case apierrors.IsNotFound(err):
			access := seccompMissing
			if _, ok := builtin.Get(string(name)); ok {
				access = seccompBuiltin
			}
			out = append(out, rules.Rule{Container: container, Kind: kindSeccompProfile, Value: string(name), Access: access})
			continue
		case err != nil:
			return nil, fmt.Errorf("SeccompProfile %s/%s: %w", s.namespace, name, err)
		}
		if found != nil {
			found(sp)
		}
		out = append(out, rules.Seccomp(container, &sp.Spec)...)
	}
	return out, nil
}

var changeMark = map[rules.Change]string{rules.Added: "+", rules.Removed: "-", rules.Same: "="}

func (d *diffReport) show(out io.Writer, format string) error {
	now := time.Now()
	return show(out, format, d, func(w *tabwriter.Writer) {
		counts := map[rules.Change]int{}
		for _, l := range d.Rules {
			counts[l.Change]++
		}
		nodes := ""
		if len(d.Nodes) > 0 {
			nodes = " on " + strings.Join(d.Nodes, ", ")
		}
		kept := ""
		if d.KeptAside {
			kept = " (the rules kept aside while it records)"
		}
		fmt.Fprintf(w, "LandlockProfile %s/%s%s against its recording %s%s: %d added, %d removed, %d the same\n\n",
			d.Namespace, d.Profile, kept, d.Recorded, nodes, counts[rules.Added], counts[rules.Removed], counts[rules.Same])
		if d.Incomplete != "" {
			fmt.Fprintf(w, "The recording is incomplete: a recording was full, and what it left out is not here:\n%s\n\n", d.Incomplete)
		}
		row(w, "", "CONTAINER", "BINARY", "KIND", "VALUE", "ACCESS", "SEEN", "PODS", "NODES", "FIRST SEEN", "LAST SEEN")
		for _, l := range d.Rules {
			cells := []string{changeMark[l.Change], l.Container, l.Binary, l.Kind, l.Value, l.Access}
			if e := l.Evidence; e != nil {
				cells = append(cells, strconv.FormatInt(e.Count, 10), strings.Join(e.Pods, ","), strings.Join(e.Nodes, ","), age(e.FirstSeen, now), age(e.LastSeen, now))
			} else {
				cells = append(cells, "", "", "", "", "")
			}
			row(w, cells...)
		}
		fmt.Fprintln(w)
		if len(d.Denials) == 0 {
			fmt.Fprintf(w, "No denials of pods bound to %s.\n", d.Profile)
			return
		}
		fmt.Fprintf(w, "Denials of pods bound to %s:\n", d.Profile)
		row(w, "POD", "CONTAINER", "NODE", "COUNT", "LAST SEEN", "DENIAL")
		for _, dn := range d.Denials {
			row(w, dn.Pod, dn.Container, dn.Node, strconv.Itoa(int(dn.Count)), age(dn.LastSeen, now), dn.Message)
		}
	})
}

// sortedKeys returns the keys of a map in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
