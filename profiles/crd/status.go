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
}
