package crd

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// LandlockProfile says which binaries of which containers of a pod are
// confined by Landlock, and to what. A pod uses it through the label
// podlock.kubewarden.io/profile, set when the pod is created.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=llp,categories=podlock
// +kubebuilder:printcolumn:name="In-use pods",type=integer,JSONPath=`.status.podsInUse`,description="Pods that use the profile"
// +kubebuilder:printcolumn:name="Best effort",type=boolean,JSONPath=`.spec.bestEffort`,priority=1,description="Containers start on kernels with an older Landlock ABI"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type LandlockProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   v1alpha1.LandlockProfileSpec `json:"spec,omitempty"`
	Status ProfileStatus                `json:"status,omitempty"`
}

// LandlockProfileList is a list of LandlockProfiles.
//
// +kubebuilder:object:root=true
type LandlockProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LandlockProfile `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LandlockProfile{}, &LandlockProfileList{})
}
