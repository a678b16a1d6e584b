// Package crd holds the Kubernetes API objects of podlock's profile
// resources, LandlockProfile and SeccompProfile in podlock.kubewarden.io/v1alpha1,
// for the controller and for controller-gen, which generates the
// CustomResourceDefinitions in install/crds from them (`make generate`).
//
// The specs are the plain types of package v1alpha1, which podlock-runtime
// uses without linking any of Kubernetes; this package only wraps them with
// object metadata and a status. The OpenAPI and CEL validation of the specs
// comes from the kubebuilder markers on the types of package v1alpha1.
//
// +kubebuilder:object:generate=true
// +groupName=podlock.kubewarden.io
// +versionName=v1alpha1
package crd

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

var (
	// GroupVersion is the API group and version of the profile resources.
	GroupVersion = schema.GroupVersion{Group: v1alpha1.Group, Version: v1alpha1.Version}

	// SchemeBuilder registers the profile types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the profile types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Resource names of the profile resources, as in their API paths.
const (
	ResourceLandlockProfiles = "landlockprofiles"
	ResourceSeccompProfiles  = "seccompprofiles"
)
