package publish

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/runtime/record/evidence"
)

// Names, labels and annotations of the published objects.
const (
	// LabelRecordedFrom names the profile in mode Record that an object
	// was recorded from. The ValidatingAdmissionPolicy of
	// install/kubernetes/node-recordings-policy.yaml lets podlock-node
	// write only objects that carry it, under the names below.
	LabelRecordedFrom = v1alpha1.Group + "/recorded-from"
	// CountsAnnotation holds each node's share of the counts of the
	// evidence: {"node": {"rule key": count}}. A node replaces only its
	// own share, so that publishing the same node file again changes
	// nothing, and the status's count is the sum of the shares.
	CountsAnnotation = v1alpha1.Group + "/recording-counts"
	// maxCountsSize keeps the annotation within the 256 KiB that all
	// annotations of an object may hold together.
	maxCountsSize = 200 << 10
)

// RecordedName is the LandlockProfile that the recording of profile is
// published as.
func RecordedName(profile string) string { return profile + "-recorded" }

// RecordedSeccompName is the SeccompProfile that the recording of
// container under profile is published as.
func RecordedSeccompName(profile, container string) string {
	return RecordedName(profile) + "-" + container
}

// counts is CountsAnnotation decoded.
type counts map[string]map[string]int64

func readCounts(meta *metav1.ObjectMeta) (counts, error) {
	c := counts{}
	if v, ok := meta.Annotations[CountsAnnotation]; ok {
		if err := json.Unmarshal([]byte(v), &c); err != nil {
			return nil, fmt.Errorf("annotation %s of %s: %w", CountsAnnotation, meta.Name, err)
		}
	}
	return c, nil
}

// setShare replaces node's share of the counts with those of evidence.
func setShare(meta *metav1.ObjectMeta, node string, ev []evidence.Rule) error {
	c, err := readCounts(meta)
	if err != nil {
		return err
	}
	share := map[string]int64{}
	for _, e := range ev {
		share[e.Key()] = e.Count
	}
	c[node] = share
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if len(data) > maxCountsSize {
		return fmt.Errorf("the evidence counts of %s would take %d KiB, more than the %d KiB an annotation may: the recording has too many rules to publish; review the node's file instead",
			meta.Name, len(data)>>10, maxCountsSize>>10)
	}
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[CountsAnnotation] = string(data)
	return nil
}

// claim labels a new object as recorded from source, and refuses an
// existing one that is not: podlock-node never writes a user's profile.
func claim(meta *metav1.ObjectMeta, source string, exists bool) error {
	if exists && meta.Labels[LabelRecordedFrom] != source {
		return fmt.Errorf("%s exists and is not labelled %s=%s: it is not a recording of %s, and podlock-node leaves it alone; delete or rename it to publish the recording",
			meta.Name, LabelRecordedFrom, source, source)
	}
	if meta.Labels == nil {
		meta.Labels = map[string]string{}
	}
	meta.Labels[LabelRecordedFrom] = source
	return nil
}

// mergeLandlock adds a node's recorded spec to the published one: the
// union of the rules of every binary, the published SeccompProfiles, and
// mode Enforce, ready to be promoted.
func mergeLandlock(spec *v1alpha1.LandlockProfileSpec, rec *Recording) {
	spec.Mode = v1alpha1.ModeEnforce
	for container, binaries := range rec.Landlock.Spec.ProfilesByContainer {
		if spec.ProfilesByContainer == nil {
			spec.ProfilesByContainer = map[string]v1alpha1.BinaryRules{}
		}
		if spec.ProfilesByContainer[container] == nil {
			spec.ProfilesByContainer[container] = v1alpha1.BinaryRules{}
		}
		for exe, rules := range binaries {
			spec.ProfilesByContainer[container][exe] = unionRules(spec.ProfilesByContainer[container][exe], rules)
		}
	}
	for container := range rec.Seccomp {
		if spec.SeccompByContainer == nil {
			spec.SeccompByContainer = map[string]v1alpha1.ProfileName{}
		}
		spec.SeccompByContainer[container] = v1alpha1.ProfileName(RecordedSeccompName(rec.Profile, container))
	}
}

func unionRules(a, b v1alpha1.AccessRules) v1alpha1.AccessRules {
	a.ReadOnly = union(a.ReadOnly, b.ReadOnly)
	a.ReadWrite = union(a.ReadWrite, b.ReadWrite)
	a.ReadExec = union(a.ReadExec, b.ReadExec)
	a.ReadWriteExec = union(a.ReadWriteExec, b.ReadWriteExec)
	if b.Network != nil {
		if a.Network == nil {
			a.Network = &v1alpha1.NetworkRules{}
		}
		a.Network.BindTCP = union(a.Network.BindTCP, b.Network.BindTCP)
		a.Network.ConnectTCP = union(a.Network.ConnectTCP, b.Network.ConnectTCP)
	}
	return a
}

func union[T interface{ ~string | ~int32 }](a, b []T) []T {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// mergeSeccomp adds a node's recorded SeccompProfile to the published one:
// the union of the system calls allowed without conditions, in the first
// rule as the recorder writes it, then the union of the other rules.
func mergeSeccomp(spec *v1alpha1.SeccompProfileSpec, recorded v1alpha1.SeccompProfileSpec) {
	var names []string
	var rest []v1alpha1.SyscallRule
	for _, rule := range slices.Concat(spec.Syscalls, recorded.Syscalls) {
		if rule.Action == v1alpha1.ActionAllow && len(rule.Args) == 0 && rule.ErrnoRet == nil {
			names = append(names, rule.Names...)
			continue
		}
		if !slices.ContainsFunc(rest, func(r v1alpha1.SyscallRule) bool { return reflect.DeepEqual(r, rule) }) {
			rest = append(rest, rule)
		}
	}
	slices.Sort(names)
	spec.DefaultAction = recorded.DefaultAction
	spec.Syscalls = nil
	if names = slices.Compact(names); len(names) > 0 {
		spec.Syscalls = append(spec.Syscalls, v1alpha1.SyscallRule{Names: names, Action: v1alpha1.ActionAllow})
	}
	spec.Syscalls = append(spec.Syscalls, rest...)
}

// mergeStatus adds a node's evidence to the published one. Pods, nodes and
// times merge by union, minimum and maximum, which publishing again does
// not change; each count is the sum of the nodes' shares (CountsAnnotation).
func mergeStatus(current *crd.RecordingStatus, source, node string, ev []evidence.Rule, c counts) *crd.RecordingStatus {
	out := &crd.RecordingStatus{Source: source}
	byKey := map[string]*crd.RuleEvidence{}
	if current != nil {
		out.Nodes = slices.Clone(current.Nodes)
		for i := range current.Rules {
			r := current.Rules[i]
			byKey[ruleKey(r)] = &r
		}
	}
	out.Nodes = union(out.Nodes, []string{node})
	for _, e := range ev {
		k := e.Key()
		r := byKey[k]
		if r == nil {
			r = &crd.RuleEvidence{Container: e.Container, Binary: e.Binary, Kind: e.Kind, Value: e.Value, Access: e.Access,
				FirstSeen: metav1.NewTime(e.FirstSeen), LastSeen: metav1.NewTime(e.LastSeen)}
			byKey[k] = r
		}
		r.Nodes = union(r.Nodes, []string{node})
		for _, p := range e.Pods {
			if !slices.Contains(r.Pods, p) && len(r.Pods) < evidence.MaxPods {
				r.Pods = append(r.Pods, p)
			}
		}
		slices.Sort(r.Pods)
		if e.FirstSeen.Before(r.FirstSeen.Time) {
			r.FirstSeen = metav1.NewTime(e.FirstSeen)
		}
		if e.LastSeen.After(r.LastSeen.Time) {
			r.LastSeen = metav1.NewTime(e.LastSeen)
		}
	}
	for k, r := range byKey {
		var sum int64
		var counted bool
		for _, share := range c {
			if n, ok := share[k]; ok {
				sum += n
				counted = true
			}
		}
		if counted {
			r.Count = sum
		}
	}
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		out.Rules = append(out.Rules, *byKey[k])
	}
	return out
}

func ruleKey(r crd.RuleEvidence) string {
	return evidence.Rule{Container: r.Container, Binary: r.Binary, Kind: r.Kind, Value: r.Value, Access: r.Access}.Key()
}

// split returns the evidence of the LandlockProfile (paths and ports) and
// that of each container's SeccompProfile (system calls).
func split(ev []evidence.Rule) (landlock []evidence.Rule, seccomp map[string][]evidence.Rule) {
	seccomp = map[string][]evidence.Rule{}
	for _, e := range ev {
		if e.Kind == evidence.KindSyscall {
			seccomp[e.Container] = append(seccomp[e.Container], e)
		} else {
			landlock = append(landlock, e)
		}
	}
	return landlock, seccomp
}

// incomplete carries the recorder's note that a recording was full over to
// the published profile, naming the node.
func incomplete(meta *metav1.ObjectMeta, node string, rec *Recording) {
	note := rec.Landlock.Metadata.Annotations[evidence.IncompleteAnnotation]
	if note == "" {
		return
	}
	prefix := "node " + node + ", "
	var lines []string
	for _, line := range strings.Split(meta.Annotations[evidence.IncompleteAnnotation], "\n") {
		if line != "" && !strings.HasPrefix(line, prefix) {
			lines = append(lines, line)
		}
	}
	for _, line := range strings.Split(note, "\n") {
		lines = append(lines, prefix+line)
	}
	slices.Sort(lines)
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[evidence.IncompleteAnnotation] = strings.Join(lines, "\n")
}
