package plugin

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// denialReason is the reason of the Events podlock-node posts on a pod
// when the kernel denies one of its processes something.
const denialReason = "PodlockDenied"

// denial is one PodlockDenied Event.
type denial struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Container string `json:"container,omitempty"`
	// Profiles are the LandlockProfiles of the pod's namespace that the
	// pod is bound to: from the pod when it still exists, else from the
	// Event's message.
	Profiles  []string    `json:"profiles,omitempty"`
	Node      string      `json:"node,omitempty"`
	Count     int32       `json:"count"`
	FirstSeen metav1.Time `json:"firstSeen"`
	LastSeen  metav1.Time `json:"lastSeen"`
	Message   string      `json:"message"`
}

// boundProfiles returns the LandlockProfiles a pod is bound to: its own
// (label) and its namespace's (annotation the controller copies from the
// namespace's label).
func boundProfiles(pod *corev1.Pod) []string {
	var out []string
	if p := pod.Labels[v1alpha1.ProfileKey]; p != "" {
		out = append(out, p)
	}
	if p := pod.Annotations[v1alpha1.NamespaceProfileKey]; p != "" && p != pod.Labels[v1alpha1.ProfileKey] {
		out = append(out, p)
	}
	return out
}

// denials lists the PodlockDenied Events of a namespace ("" for all),
// the latest first. pods are the pods of the same namespaces, by
// namespace/name, to tell which profiles each denial is of.
func (s *session) denials(ctx context.Context, namespace string, pods map[string]*corev1.Pod) ([]denial, error) {
	var events corev1.EventList
	if err := s.client.List(ctx, &events, client.InNamespace(namespace), client.MatchingFields{"reason": denialReason}); err != nil {
		return nil, fmt.Errorf("listing the Events of reason %s: %w", denialReason, err)
	}
	out := make([]denial, 0, len(events.Items))
	for i := range events.Items {
		e := &events.Items[i]
		if e.Reason != denialReason || e.InvolvedObject.Kind != "Pod" {
			continue
		}
		d := denial{
			Namespace: e.Namespace,
			Pod:       e.InvolvedObject.Name,
			Container: containerOf(e.InvolvedObject.FieldPath),
			Node:      e.Source.Host,
			Count:     max(e.Count, 1),
			FirstSeen: cmpTime(e.FirstTimestamp, e.CreationTimestamp),
			LastSeen:  cmpTime(e.LastTimestamp, e.CreationTimestamp),
			Message:   e.Message,
		}
		if pod, ok := pods[e.Namespace+"/"+d.Pod]; ok && pod.UID == e.InvolvedObject.UID {
			d.Profiles = boundProfiles(pod)
		} else {
			d.Profiles = profilesInMessage(e.Message)
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b denial) int { return b.LastSeen.Compare(a.LastSeen.Time) })
	return out, nil
}

func cmpTime(t, fallback metav1.Time) metav1.Time {
	if t.IsZero() {
		return fallback
	}
	return t
}

// containerOf returns the container of an Event's field path,
// spec.containers{NAME}.
func containerOf(fieldPath string) string {
	name, ok := strings.CutPrefix(fieldPath, "spec.containers{")
	if !ok {
		return ""
	}
	return strings.TrimSuffix(name, "}")
}

// profilesInMessage reads the profiles that podlock-node names at the end
// of a denial's message: "... (namespace profile NS-PROFILE, profile
// PROFILE)".
func profilesInMessage(msg string) []string {
	i := strings.LastIndex(msg, " (")
	if i < 0 || !strings.HasSuffix(msg, ")") {
		return nil
	}
	var out []string
	for _, part := range strings.Split(msg[i+2:len(msg)-1], ", ") {
		name, ok := strings.CutPrefix(part, "namespace profile ")
		if !ok {
			name, ok = strings.CutPrefix(part, "profile ")
		}
		if ok && name != "" {
			out = append(out, name)
		}
	}
	return out
}

// ofProfile returns the denials of pods bound to a profile.
func ofProfile(denials []denial, namespace, profile string) []denial {
	var out []denial
	for _, d := range denials {
		if d.Namespace == namespace && slices.Contains(d.Profiles, profile) {
			out = append(out, d)
		}
	}
	return out
}

// profileDenials sums up the denials of one profile.
type profileDenials struct {
	Namespace string      `json:"namespace"`
	Profile   string      `json:"profile"`
	Count     int32       `json:"count"`
	LastSeen  metav1.Time `json:"lastSeen"`
	Latest    string      `json:"latest"`
}

// byProfile sums up denials per profile, the profile with the latest
// denial first. Denials come latest first.
func byProfile(denials []denial) []profileDenials {
	index := map[[2]string]int{}
	var out []profileDenials
	for _, d := range denials {
		profiles := d.Profiles
		if len(profiles) == 0 {
			profiles = []string{""}
		}
		for _, p := range profiles {
			k := [2]string{d.Namespace, p}
			i, ok := index[k]
			if !ok {
				i = len(out)
				index[k] = i
				out = append(out, profileDenials{Namespace: d.Namespace, Profile: p, LastSeen: d.LastSeen, Latest: d.Message})
			}
			out[i].Count += d.Count
		}
	}
	slices.SortStableFunc(out, func(a, b profileDenials) int {
		return cmp.Or(b.LastSeen.Compare(a.LastSeen.Time), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Profile, b.Profile))
	})
	return out
}
