package webhook

import (
	"fmt"

	sigsjson "sigs.k8s.io/json"
)

// pod is what the policy reads of a pod or a pod template. It is decoded
// from the request's JSON into a few fields rather than a whole
// corev1.Pod: that halves the cost of a review, and the webhook's latency
// is added to every pod creation of the cluster.
type pod struct {
	Labels, Annotations map[string]string
	// Deleting: metadata.deletionTimestamp is set.
	Deleting         bool
	RuntimeClassName *string
	// HasSecurityContext: spec.securityContext is an object.
	HasSecurityContext bool
	// HasSeccompProfile: a seccompProfile is set at the pod level or in
	// any container.
	HasSeccompProfile bool
	// Windows: spec.os.name is windows.
	Windows bool
	// EphemeralContainers are the names of spec.ephemeralContainers.
	EphemeralContainers []string
	// have says which objects a JSON patch can add into.
	have parents
}

// parents tells which of the objects a patch adds into exist in the JSON
// of the pod: a patch into a missing or null "metadata" or "spec" does not
// apply.
type parents struct{ metadata, spec bool }

type seccompField struct {
	SeccompProfile *struct{} `json:"seccompProfile"`
}

type containerJSON struct {
	Name            string        `json:"name"`
	SecurityContext *seccompField `json:"securityContext"`
}

type podJSON struct {
	Metadata *struct {
		Labels            map[string]string `json:"labels"`
		Annotations       map[string]string `json:"annotations"`
		DeletionTimestamp *string           `json:"deletionTimestamp"`
	} `json:"metadata"`
	Spec *struct {
		RuntimeClassName    *string         `json:"runtimeClassName"`
		SecurityContext     *seccompField   `json:"securityContext"`
		Containers          []containerJSON `json:"containers"`
		InitContainers      []containerJSON `json:"initContainers"`
		EphemeralContainers []containerJSON `json:"ephemeralContainers"`
		OS                  *struct {
			Name string `json:"name"`
		} `json:"os"`
	} `json:"spec"`
}

// decodePod reads a pod, or a pod template, from JSON.
func decodePod(raw []byte) (*pod, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("no object in the request")
	}
	var j podJSON
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &j); err != nil {
		return nil, fmt.Errorf("decoding the pod: %w", err)
	}
	p := &pod{have: parents{metadata: j.Metadata != nil, spec: j.Spec != nil}}
	if m := j.Metadata; m != nil {
		p.Labels, p.Annotations, p.Deleting = m.Labels, m.Annotations, m.DeletionTimestamp != nil
	}
	if s := j.Spec; s != nil {
		p.RuntimeClassName = s.RuntimeClassName
		p.HasSecurityContext = s.SecurityContext != nil
		p.HasSeccompProfile = s.SecurityContext != nil && s.SecurityContext.SeccompProfile != nil
		for _, list := range [][]containerJSON{s.InitContainers, s.Containers, s.EphemeralContainers} {
			for _, c := range list {
				if c.SecurityContext != nil && c.SecurityContext.SeccompProfile != nil {
					p.HasSeccompProfile = true
				}
			}
		}
		p.Windows = s.OS != nil && s.OS.Name == "windows"
		for _, c := range s.EphemeralContainers {
			p.EphemeralContainers = append(p.EphemeralContainers, c.Name)
		}
	}
	return p, nil
}
