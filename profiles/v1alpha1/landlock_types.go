package v1alpha1

// LandlockProfileSpec says what the binaries of a pod's containers may do.
type LandlockProfileSpec struct {
	// ProfilesByContainer maps a container name to the binaries that are
	// restricted in it, each by the absolute path it is started as. Only
	// the listed binaries are restricted; a process they start inherits
	// their restrictions.
	// +optional
	ProfilesByContainer map[string]map[string]AccessRules `json:"profilesByContainer,omitempty"`

	// ContainerWide maps a container name to rules that confine the whole
	// container: its entrypoint, everything the entrypoint starts and every
	// process started later with `kubectl exec`. The entrypoint binary, its
	// ELF interpreter and its shared libraries are added automatically.
	// +optional
	ContainerWide map[string]AccessRules `json:"containerWide,omitempty"`

	// SeccompByContainer maps a container name to the SeccompProfile (in
	// the pod's namespace) or built-in profile that filters its system
	// calls. The filter is container-wide.
	// +optional
	SeccompByContainer map[string]string `json:"seccompByContainer,omitempty"`

	// BestEffort lets containers start on kernels whose Landlock ABI is
	// older than the rules need, enforcing what the kernel supports. By
	// default such a container is not started.
	// +optional
	BestEffort bool `json:"bestEffort,omitempty"`
}

// AccessRules lists filesystem paths by the access granted beneath them. A
// directory grants access to everything below it.
type AccessRules struct {
	// +optional
	ReadOnly []string `json:"readOnly,omitempty"`
	// +optional
	ReadWrite []string `json:"readWrite,omitempty"`
	// +optional
	ReadExec []string `json:"readExec,omitempty"`
	// +optional
	ReadWriteExec []string `json:"readWriteExec,omitempty"`
}

// Empty reports whether the rules grant nothing.
func (r AccessRules) Empty() bool {
	return len(r.ReadOnly)+len(r.ReadWrite)+len(r.ReadExec)+len(r.ReadWriteExec) == 0
}

// Confines reports whether the profile restricts the named container in any
// way; containers it does not mention run as if there were no profile.
func (s *LandlockProfileSpec) Confines(container string) bool {
	_, binaries := s.ProfilesByContainer[container]
	_, wide := s.ContainerWide[container]
	_, seccomp := s.SeccompByContainer[container]
	return binaries || wide || seccomp
}
