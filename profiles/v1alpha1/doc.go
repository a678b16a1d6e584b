// Package v1alpha1 holds the specs of podlock's profile resources, API group
// podlock.kubewarden.io/v1alpha1, as plain Go types.
//
// The package deliberately imports nothing from Kubernetes: podlock-runtime is
// executed by the container runtime for every runc verb, and the package
// initialisation of the apimachinery packages would be paid on each of them.
// The Kubernetes object wrappers that controller-gen and the controller need
// live in a separate package that embeds these specs.
//
// +kubebuilder:object:generate=true
package v1alpha1

// Group and Version name the API these specs belong to.
const (
	Group      = "podlock.kubewarden.io"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
)

// Kinds of the resources in this group.
const (
	KindLandlockProfile = "LandlockProfile"
	KindSeccompProfile  = "SeccompProfile"
)

// ProfileKey is both the pod label that binds a LandlockProfile to a pod and
// the pod annotation that the runtime reads (the CRI passes annotations to the
// runtime, never labels).
const ProfileKey = Group + "/profile"

// SeccompKey is the pod annotation, set by podlock-controller from a
// namespace's policy, that names the SeccompProfile of every container of
// the pod. A SeccompProfile that the pod's LandlockProfile binds to a
// container stacks on it: both filters hold.
const SeccompKey = Group + "/seccomp"

// ContainerKey is the annotation that names a container started outside
// Kubernetes (by podman, ctr or runc), where no container manager names
// it. podlock-runtime reads it only when none of the annotations by which
// containerd or CRI-O identify a container is present, and
// podlock-controller refuses pods that carry it.
const ContainerKey = Group + "/container"

// NamespaceProfileKey is the pod annotation, set by podlock-controller from
// a namespace's policy, that names the LandlockProfile the namespace binds
// to every pod. Its rules stack with those of the pod's own
// LandlockProfile (ProfileKey): both Landlock domains hold, so the pod's
// profile can only add restrictions.
const NamespaceProfileKey = Group + "/namespace-profile"
