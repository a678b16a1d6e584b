package crd

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// SeccompProfile is a seccomp filter, in the format of OCI and Docker
// seccomp JSON, that a LandlockProfile applies to containers through
// spec.seccompByContainer.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=scp,categories=podlock
// +kubebuilder:printcolumn:name="Default action",type=string,JSONPath=`.spec.defaultAction`,description="Action of the system calls no rule matches (SCMP_ACT_ERRNO when empty)"
// +kubebuilder:printcolumn:name="Base",type=string,JSONPath=`.spec.baseProfileName`,description="Profile this one extends"
// +kubebuilder:printcolumn:name="In-use pods",type=integer,JSONPath=`.status.podsInUse`,description="Pods that use the profile"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SeccompProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   v1alpha1.SeccompProfileSpec `json:"spec,omitempty"`
	Status ProfileStatus               `json:"status,omitempty"`
}

// SeccompProfileList is a list of SeccompProfiles.
//
// +kubebuilder:object:root=true
type SeccompProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SeccompProfile `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SeccompProfile{}, &SeccompProfileList{})
}
