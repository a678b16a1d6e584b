package v1alpha1

// LandlockProfileSpec says what the binaries of a pod's containers may do.
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode != 'Record' || (!has(self.profilesByContainer) && !has(self.containerWide) && !has(self.seccompByContainer))",message="a profile in mode Record confines nothing: remove its rules, or set mode Enforce"
type LandlockProfileSpec struct {
	// Mode is Enforce (the default): the rules confine the pod's
	// containers; or Record: every container of the pod runs unconfined
	// but observed, and podlock-runtime writes the LandlockProfile and
	// SeccompProfiles that would let it do what it did, on the node, under
	// the runtime's recordDir. A profile in mode Record lists no rules.
	// +optional
	Mode Mode `json:"mode,omitempty"`

	// ProfilesByContainer maps a container name to the binaries that are
	// restricted in it, each by the absolute path it is started as. Only
	// the listed binaries are restricted; a process they start inherits
	// their restrictions.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(c, c.size() <= 63 && c.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))",message="container names must be DNS-1123 labels: at most 63 lower-case alphanumerics or hyphens, starting and ending with an alphanumeric",messageExpression="'container names must be DNS-1123 labels: at most 63 lower-case alphanumerics or hyphens, starting and ending with an alphanumeric, not: ' + self.filter(c, !(c.size() <= 63 && c.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')))[0]"
	ProfilesByContainer map[string]BinaryRules `json:"profilesByContainer,omitempty"`

	// ContainerWide maps a container name to rules that confine the whole
	// container: its entrypoint, everything the entrypoint starts and every
	// process started later with `kubectl exec`. The entrypoint binary, its
	// ELF interpreter and its shared libraries are added automatically.
	// The key "*" (AllContainers) gives the rules of every container that
	// the profile names neither here nor in ProfilesByContainer.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(c, c == '*' || (c.size() <= 63 && c.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')))",message="container names must be DNS-1123 labels (at most 63 lower-case alphanumerics or hyphens, starting and ending with an alphanumeric), or * for every other container",messageExpression="'container names must be DNS-1123 labels (at most 63 lower-case alphanumerics or hyphens, starting and ending with an alphanumeric), or * for every other container, not: ' + self.filter(c, !(c == '*' || (c.size() <= 63 && c.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))))[0]"
	ContainerWide map[string]AccessRules `json:"containerWide,omitempty"`

	// SeccompByContainer maps a container name to the SeccompProfile (in
	// the pod's namespace) or built-in profile that filters its system
	// calls. The filter is container-wide, and adds to the SeccompProfile
	// that the namespace binds to every pod, if any: both hold.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(c, c.size() <= 63 && c.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))",message="container names must be DNS-1123 labels: at most 63 lower-case alphanumerics or hyphens, starting and ending with an alphanumeric",messageExpression="'container names must be DNS-1123 labels: at most 63 lower-case alphanumerics or hyphens, starting and ending with an alphanumeric, not: ' + self.filter(c, !(c.size() <= 63 && c.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')))[0]"
	SeccompByContainer map[string]ProfileName `json:"seccompByContainer,omitempty"`

	// BestEffort lets containers start on kernels whose Landlock ABI is
	// older than the rules need, enforcing what the kernel supports. By
	// default such a container is not started.
	// +optional
	BestEffort bool `json:"bestEffort,omitempty"`
}

// Mode is what a LandlockProfile does to the containers it names.
// +kubebuilder:validation:Enum=Enforce;Record
type Mode string

// Modes of a LandlockProfile.
const (
	ModeEnforce Mode = "Enforce"
	ModeRecord  Mode = "Record"
)

// BinaryRules maps the absolute, clean path a binary is started as to what
// it may access.
// +kubebuilder:validation:MinProperties=1
// +kubebuilder:validation:MaxProperties=64
// +kubebuilder:validation:XValidation:rule="self.all(b, b.matches('^(/|(/([^/.][^/]*|[.][^/.][^/]*|[.][.][^/]+))+)$'))",message="binaries must be absolute, clean paths (no '.', '..' or '//' components, no trailing '/')"
// +kubebuilder:validation:XValidation:rule="self.all(b, !b.endsWith(' (deleted)'))",message="binary names must not end in ' (deleted)', which the kernel appends to the path of a replaced executable"
type BinaryRules map[string]AccessRules

// ProfileName names a profile: a DNS-1123 subdomain.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
type ProfileName string

// AccessRules lists filesystem paths by the access granted beneath them. A
// directory grants access to everything below it. Paths are absolute and
// clean: they start with '/' and have no '.' or '..' component, no '//' and
// no trailing '/' (except "/" itself). A list, when present, is not empty;
// rules with no list at all grant nothing (beyond what the binary needs to
// be loaded).
type AccessRules struct {
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=4096
	// +kubebuilder:validation:items:Pattern=`^(/|/?([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+)(/([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+))*)$`
	// +kubebuilder:validation:items:XValidation:rule="self.startsWith('/')",message="must be an absolute path"
	ReadOnly []string `json:"readOnly,omitempty"`
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=4096
	// +kubebuilder:validation:items:Pattern=`^(/|/?([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+)(/([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+))*)$`
	// +kubebuilder:validation:items:XValidation:rule="self.startsWith('/')",message="must be an absolute path"
	ReadWrite []string `json:"readWrite,omitempty"`
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=4096
	// +kubebuilder:validation:items:Pattern=`^(/|/?([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+)(/([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+))*)$`
	// +kubebuilder:validation:items:XValidation:rule="self.startsWith('/')",message="must be an absolute path"
	ReadExec []string `json:"readExec,omitempty"`
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=4096
	// +kubebuilder:validation:items:Pattern=`^(/|/?([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+)(/([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+))*)$`
	// +kubebuilder:validation:items:XValidation:rule="self.startsWith('/')",message="must be an absolute path"
	ReadWriteExec []string `json:"readWriteExec,omitempty"`

	// Network, when present, confines TCP: the process may bind and
	// connect only to the listed ports. Needs Landlock ABI 4 (Linux 6.7).
	// +optional
	Network *NetworkRules `json:"network,omitempty"`

	// Scope, when present, keeps the process from reaching out of its own
	// Landlock domain through the IPC it names. Needs Landlock ABI 6
	// (Linux 6.12).
	// +optional
	Scope *ScopeRules `json:"scope,omitempty"`
}

// NetworkRules lists the TCP ports a process may use; any other bind(2)
// or connect(2) on a TCP socket is denied.
type NetworkRules struct {
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:Minimum=0
	// +kubebuilder:validation:items:Maximum=65535
	BindTCP []int32 `json:"bindTCP,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:Minimum=0
	// +kubebuilder:validation:items:Maximum=65535
	ConnectTCP []int32 `json:"connectTCP,omitempty"`
}

// ScopeRules names the IPC that may not cross the boundary of the
// process's Landlock domain: to processes outside it, which includes every
// process of the container that the rules do not confine.
type ScopeRules struct {
	// AbstractUnixSocket denies connecting to abstract unix sockets
	// created outside the domain.
	// +optional
	AbstractUnixSocket bool `json:"abstractUnixSocket,omitempty"`
	// Signal denies sending signals to processes outside the domain.
	// +optional
	Signal bool `json:"signal,omitempty"`
}

// Empty reports whether the rules grant nothing and restrict nothing
// beyond the filesystem.
func (r AccessRules) Empty() bool {
	return len(r.ReadOnly)+len(r.ReadWrite)+len(r.ReadExec)+len(r.ReadWriteExec) == 0 && r.Network == nil && r.Scope == nil
}

// Records reports whether the profile asks for its containers to be
// recorded rather than confined.
func (s *LandlockProfileSpec) Records() bool { return s.Mode == ModeRecord }

// AllContainers, as a key of ContainerWide, stands for every container
// that the profile names neither in ContainerWide nor in
// ProfilesByContainer. It is how a profile that a namespace binds to all
// its pods confines containers it cannot know the names of, debug
// containers included.
const AllContainers = "*"

// ContainerWideRules returns the container-wide rules of a container: its
// own entry of ContainerWide or, when the profile gives it no Landlock
// rules of its own (neither there nor in ProfilesByContainer), the
// AllContainers entry.
func (s *LandlockProfileSpec) ContainerWideRules(container string) (AccessRules, bool) {
	if rules, ok := s.ContainerWide[container]; ok {
		return rules, true
	}
	if _, binaries := s.ProfilesByContainer[container]; binaries {
		return AccessRules{}, false
	}
	rules, ok := s.ContainerWide[AllContainers]
	return rules, ok
}

// Confines reports whether the profile restricts the named container in any
// way; containers it does not mention (by name or through AllContainers)
// run as if there were no profile.
func (s *LandlockProfileSpec) Confines(container string) bool {
	_, binaries := s.ProfilesByContainer[container]
	_, wide := s.ContainerWideRules(container)
	_, seccomp := s.SeccompByContainer[container]
	return binaries || wide || seccomp
}
