package runtime

import (
	"errors"
	"fmt"

	"github.com/kubewarden/podlock/profiles/dir"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// Annotations the container runtime managers set on every container. Pod
// annotations only reach the runtime through an allow-list (containerd's
// pod_annotations, CRI-O's allowed_annotations) that lets through
// podlock.kubewarden.io/* and nothing else, so a pod author cannot forge
// these.
const (
	criContainerType = "io.kubernetes.cri.container-type"
	criContainerName = "io.kubernetes.cri.container-name"
	criNamespace     = "io.kubernetes.cri.sandbox-namespace"
	criPodName       = "io.kubernetes.cri.sandbox-name"
	criPodUID        = "io.kubernetes.cri.sandbox-uid"

	crioContainerType = "io.kubernetes.cri-o.ContainerType"
	crioContainerName = "io.kubernetes.container.name"
	crioNamespace     = "io.kubernetes.pod.namespace"
	crioPodName       = "io.kubernetes.pod.name"
	crioPodUID        = "io.kubernetes.pod.uid"

	sandboxType = "sandbox"
)

// identity says which pod and container a bundle belongs to, and which
// profile it asks for.
type identity struct {
	Namespace string
	Pod       string
	PodUID    string
	Container string
	// Profile is the LandlockProfile asked for, Seccomp the SeccompProfile
	// of every container of the pod, on top of any its LandlockProfile
	// binds, and NamespaceProfile the LandlockProfile of every container
	// of the pod, stacked with Profile (both set by the controller from a
	// namespace's policy). Any may be empty.
	Profile          string
	Seccomp          string
	NamespaceProfile string
}

var errNotConfined = errors.New("container asks for no profile")

// identify reads the identity from the annotations. It returns
// errNotConfined for sandbox containers and containers without the profile
// annotation, which podlock leaves alone.
func identify(annotations map[string]string) (identity, error) {
	// Each container manager's own keys only: CRI-O copies pod
	// annotations into the spec, so under CRI-O a pod could carry
	// containerd's keys, and the other way round were containerd's filter
	// ever widened.
	keys := containerdKeys
	if _, crio := annotations[crioContainerType]; crio {
		keys = crioKeys
	}
	if annotations[keys.containerType] == sandboxType {
		return identity{}, errNotConfined
	}
	profile, hasProfile := annotations[v1alpha1.ProfileKey]
	seccomp, hasSeccomp := annotations[v1alpha1.SeccompKey]
	nsProfile, hasNSProfile := annotations[v1alpha1.NamespaceProfileKey]
	if !hasProfile && !hasSeccomp && !hasNSProfile {
		return identity{}, errNotConfined
	}
	id := identity{
		Namespace:        annotations[keys.namespace],
		Pod:              annotations[keys.pod],
		PodUID:           annotations[keys.podUID],
		Container:        annotations[keys.container],
		Profile:          profile,
		Seccomp:          seccomp,
		NamespaceProfile: nsProfile,
	}
	if id.Namespace == "" {
		id.Namespace = dir.DefaultNamespace // not started by Kubernetes
	}
	if id.Container == "" {
		var err error
		if id.Container, err = standaloneContainer(annotations); err != nil {
			return identity{}, err
		}
	}
	for key, name := range map[string]string{v1alpha1.ProfileKey: profile, v1alpha1.SeccompKey: seccomp, v1alpha1.NamespaceProfileKey: nsProfile} {
		if _, ok := annotations[key]; ok {
			if err := v1alpha1.ValidateName(name); err != nil {
				return identity{}, fmt.Errorf("annotation %s: %w", key, err)
			}
		}
	}
	if id.Container == "" {
		return identity{}, fmt.Errorf("the container asks for a podlock profile, but has no name: annotation %s (containerd) or %s (CRI-O) is missing; outside Kubernetes, name it with annotation %s",
			criContainerName, crioContainerName, v1alpha1.ContainerKey)
	}
	// The names end up in file names (recordings, their logs) and in what
	// podlock-node reports: whatever sets them, they must be what
	// Kubernetes allows.
	if err := v1alpha1.ValidateLabel("namespace", id.Namespace); err != nil {
		return identity{}, fmt.Errorf("annotation %s: %w", keys.namespace, err)
	}
	if err := v1alpha1.ValidateLabel("container name", id.Container); err != nil {
		return identity{}, fmt.Errorf("annotation %s: %w", keys.container, err)
	}
	if id.Pod != "" {
		if err := v1alpha1.ValidateName(id.Pod); err != nil {
			return identity{}, fmt.Errorf("annotation %s: pod %w", keys.pod, err)
		}
	}
	return id, nil
}

// standaloneContainer is the name that podlock's own annotation gives a
// container started outside Kubernetes (podman, ctr, runc), or "". It
// counts only where none of the annotations by which a container manager
// identifies a container is present: a pod's podlock.kubewarden.io/*
// annotations reach the runtime, and a pod must never choose whose rules
// its containers get. (podman sets a few of CRI-O's other keys, such as
// io.kubernetes.cri-o.Created, on every container; inside a podman pod it
// sets CRI-O's container type too, and io.kubernetes.container.name names
// the container there.)
func standaloneContainer(annotations map[string]string) (string, error) {
	for _, keys := range []managerKeys{containerdKeys, crioKeys} {
		for _, k := range []string{keys.containerType, keys.namespace, keys.pod, keys.podUID, keys.container} {
			if _, ok := annotations[k]; ok {
				return "", nil
			}
		}
	}
	name, ok := annotations[v1alpha1.ContainerKey]
	if !ok {
		return "", nil
	}
	if err := v1alpha1.ValidateLabel("annotation "+v1alpha1.ContainerKey, name); err != nil {
		return "", err
	}
	return name, nil
}

// managerKeys are the annotations one container manager sets.
type managerKeys struct {
	containerType, namespace, pod, podUID, container string
}

var (
	containerdKeys = managerKeys{criContainerType, criNamespace, criPodName, criPodUID, criContainerName}
	crioKeys       = managerKeys{crioContainerType, crioNamespace, crioPodName, crioPodUID, crioContainerName}
)

func (id identity) String() string {
	if id.Pod == "" {
		return fmt.Sprintf("container %q (namespace %s)", id.Container, id.Namespace)
	}
	return fmt.Sprintf("container %q of pod %s/%s", id.Container, id.Namespace, id.Pod)
}
