package crd

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ProfileStatus is what the controller reports about a profile.
type ProfileStatus struct {
	// PodsInUse is the number of pods that use the profile. A profile in
	// use carries a finalizer and is only deleted once it drops to 0.
	// +optional
	// +kubebuilder:validation:Minimum=0
	PodsInUse int32 `json:"podsInUse"`

	// Conditions are the latest observations of the profile's state.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// Recording is set on the profiles that podlock-node publishes from
	// learning mode: the evidence behind each rule.
	// +optional
	Recording *RecordingStatus `json:"recording,omitempty"`
}

// RecordingStatus is the evidence behind a profile that podlock-node
// published from learning mode (the LandlockProfile <profile>-recorded):
// how often, where and when each recorded rule was seen, so that a
// reviewer can tell a rule that every run needed from one seen once.
type RecordingStatus struct {
	// Source is the profile in mode Record whose pods were recorded.
	Source string `json:"source"`

	// Nodes are the nodes that contributed to the recording.
	// +optional
	// +listType=set
	Nodes []string `json:"nodes,omitempty"`

	// Rules holds the evidence of each rule of the recorded spec.
	// +optional
	// +listType=atomic
	Rules []RuleEvidence `json:"rules,omitempty"`
}

// RuleEvidence is what was seen of one recorded rule.
type RuleEvidence struct {
	// Container is the container the rule is for.
	Container string `json:"container"`
	// Binary is the binary the rule is for, as it was started; empty for
	// a container-wide rule.
	// +optional
	Binary string `json:"binary,omitempty"`
	// Kind is what the rule grants: path, bindTCP, connectTCP or syscall.
	// +kubebuilder:validation:Enum=path;bindTCP;connectTCP;syscall
	Kind string `json:"kind"`
	// Value is the path, the port number or the system call's name.
	Value string `json:"value"`
	// Access is the Landlock access of a path rule: readOnly, readWrite,
	// readExec or readWriteExec.
	// +optional
	Access string `json:"access,omitempty"`
	// Count is how many times the rule was seen, over every container,
	// pod and node.
	Count int64 `json:"count"`
	// Pods are the pods in which it was seen (at most 8 are kept).
	// +optional
	// +listType=set
	Pods []string `json:"pods,omitempty"`
	// Nodes are the nodes on which it was seen.
	// +optional
	// +listType=set
	Nodes []string `json:"nodes,omitempty"`
	// FirstSeen and LastSeen bound when it was seen.
	FirstSeen metav1.Time `json:"firstSeen"`
	LastSeen  metav1.Time `json:"lastSeen"`
}
