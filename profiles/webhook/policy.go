package webhook

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/builtin"
)

// Labels and annotations podlock reads or writes.
const (
	// Prefix starts every podlock label and annotation. containerd passes
	// the pod annotations under it to podlock-runtime.
	Prefix = v1alpha1.Group + "/"
	// ProfileLabel binds a LandlockProfile to a pod; the controller copies
	// it into ProfileAnnotation, which is what the runtime reads.
	ProfileLabel      = v1alpha1.ProfileKey
	ProfileAnnotation = v1alpha1.ProfileKey
	// SeccompAnnotation names the SeccompProfile of every container of the
	// pod, on top of any its LandlockProfile binds: both filters hold.
	// Only the controller sets it, from NamespaceSeccompLabel.
	SeccompAnnotation = v1alpha1.SeccompKey
	// ContainerAnnotation names a container for podlock-runtime outside
	// Kubernetes; a pod may not carry it.
	ContainerAnnotation = v1alpha1.ContainerKey
	// NamespaceSeccompLabel, on a namespace, binds a SeccompProfile (of the
	// namespace, or built-in) to every new pod of the namespace.
	NamespaceSeccompLabel = Prefix + "seccomp-profile"
	// NamespaceProfileAnnotation names the LandlockProfile of every
	// container of the pod, stacked with the one its own label binds: both
	// hold. Only the controller sets it, from NamespaceLandlockLabel.
	NamespaceProfileAnnotation = v1alpha1.NamespaceProfileKey
	// NamespaceLandlockLabel, on a namespace, binds a LandlockProfile of
	// the namespace to every new pod of the namespace.
	NamespaceLandlockLabel = Prefix + "landlock-profile"
	// DefaultSeccompLabel, on a namespace, with the value
	// DefaultSeccompEnabled, gives pods without any seccompProfile the
	// pod-level seccompProfile RuntimeDefault.
	DefaultSeccompLabel   = Prefix + "default-seccomp"
	DefaultSeccompEnabled = "enabled"
	// DefaultSeccompSkipLabel, on a pod, with any value, exempts it from
	// DefaultSeccompLabel.
	DefaultSeccompSkipLabel = Prefix + "default-seccomp-skip"
)

// maxChain bounds the base-profile chains followed, as the runtime does.
const maxChain = 16

// namespacePolicy is what a namespace's labels ask of its new pods.
type namespacePolicy struct {
	name           string
	defaultSeccomp bool
	// seccompProfile is the SeccompProfile bound to every new pod, or "".
	seccompProfile string
	// landlockProfile is the LandlockProfile bound to every new pod, or "".
	landlockProfile string
}

func policyOf(namespace string, labels map[string]string) namespacePolicy {
	return namespacePolicy{
		name:            namespace,
		defaultSeccomp:  labels[DefaultSeccompLabel] == DefaultSeccompEnabled,
		seccompProfile:  labels[NamespaceSeccompLabel],
		landlockProfile: labels[NamespaceLandlockLabel],
	}
}

// policy decides what happens to pods. Its methods return problems (why
// a request is refused, for the user) separately from errors (the
// decision could not be made, for instance the API server is down).
type policy struct {
	cfg   Config
	store Store
	// defaultSeccomp selects the namespaces of the configuration's
	// DefaultSeccompNamespaceSelector.
	defaultSeccomp labels.Selector
}

func (p *policy) namespace(ctx context.Context, name string) (namespacePolicy, error) {
	nsLabels, err := p.store.NamespaceLabels(ctx, name)
	if err != nil {
		return namespacePolicy{}, err
	}
	ns := policyOf(name, nsLabels)
	ns.defaultSeccomp = ns.defaultSeccomp || p.defaultSeccomp.Matches(labels.Set(nsLabels))
	return ns, nil
}

// mutation is what the mutating webhook changes in a new pod.
type mutation struct {
	runtimeClass      string // new spec.runtimeClassName, "" to leave it
	setAnnotations    map[string]string
	removeAnnotations []string
	defaultSeccomp    bool
	warnings          []string
}

func (m *mutation) empty() bool {
	return m.runtimeClass == "" && len(m.setAnnotations) == 0 && len(m.removeAnnotations) == 0 && !m.defaultSeccomp
}

// bindingReason says why a pod needs podlock's runtime class, or "".
func bindingReason(pod *pod, ns namespacePolicy) string {
	if profile, ok := pod.Labels[ProfileLabel]; ok {
		return fmt.Sprintf("pod has label %s=%s, which needs", ProfileLabel, profile)
	}
	if ns.landlockProfile != "" {
		return fmt.Sprintf("namespace %q binds LandlockProfile %q to its pods (label %s), which needs",
			ns.name, ns.landlockProfile, NamespaceLandlockLabel)
	}
	if ns.seccompProfile != "" {
		return fmt.Sprintf("namespace %q binds SeccompProfile %q to its pods (label %s), which needs",
			ns.name, ns.seccompProfile, NamespaceSeccompLabel)
	}
	return ""
}

// mutate decides what to change in a pod being created. It fixes what it
// can and leaves the rest for validateCreate to refuse: the validating
// webhook sees the pod after every mutating webhook, so the checks must be
// there anyway, and a template is checked by running both in memory.
func (p *policy) mutate(ctx context.Context, pod *pod, ns namespacePolicy) (mutation, error) {
	var m mutation
	profile, labelled := pod.Labels[ProfileLabel]
	set := func(k, v string) {
		if cur, ok := pod.Annotations[k]; !ok || cur != v {
			if m.setAnnotations == nil {
				m.setAnnotations = map[string]string{}
			}
			m.setAnnotations[k] = v
		}
	}
	remove := func(k, why string) {
		if _, ok := pod.Annotations[k]; ok {
			m.removeAnnotations = append(m.removeAnnotations, k)
			m.warnings = append(m.warnings, fmt.Sprintf("podlock removed annotation %s: %s", k, why))
		}
	}
	if labelled {
		set(ProfileAnnotation, profile)
	} else {
		remove(ProfileAnnotation, "it is set only from the pod label of that name")
	}
	if ns.seccompProfile != "" {
		set(SeccompAnnotation, ns.seccompProfile)
	} else {
		remove(SeccompAnnotation, "it is set only from the namespace label "+NamespaceSeccompLabel)
	}
	if ns.landlockProfile != "" {
		set(NamespaceProfileAnnotation, ns.landlockProfile)
	} else {
		remove(NamespaceProfileAnnotation, "it is set only from the namespace label "+NamespaceLandlockLabel)
	}

	rc := runtimeClass(pod)
	switch {
	case bindingReason(pod, ns) != "":
		// An explicit other class is refused by validateCreate, not
		// overwritten: the author asked for it.
		if rc == "" {
			m.runtimeClass = p.cfg.RuntimeClassName
		}
	case p.cfg.FallbackRuntime != "":
		reserved, _, err := p.reserved(ctx, rc)
		if err != nil {
			return m, err
		}
		if reserved {
			m.runtimeClass = p.cfg.FallbackRuntime
		}
	}

	// A pod that sets a seccompProfile anywhere made a choice, which
	// defaulting must not override; the API server refuses any
	// seccompProfile on a Windows pod.
	if ns.defaultSeccomp && !hasLabel(pod, DefaultSeccompSkipLabel) && !pod.HasSeccompProfile && !pod.Windows {
		m.defaultSeccomp = true
	}
	return m, nil
}

// apply changes pod as the patch of m would.
func (m *mutation) apply(pod *pod) {
	if m.runtimeClass != "" {
		rc := m.runtimeClass
		pod.RuntimeClassName = &rc
	}
	for _, k := range m.removeAnnotations {
		delete(pod.Annotations, k)
	}
	if len(m.setAnnotations) > 0 && pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	maps.Copy(pod.Annotations, m.setAnnotations)
	if m.defaultSeccomp {
		pod.HasSecurityContext, pod.HasSeccompProfile = true, true
	}
}

// managerAnnotationPrefixes are the keys containerd and CRI-O set in a
// container's spec to say which pod and container it is.
var managerAnnotationPrefixes = []string{"io.kubernetes.cri.", "io.kubernetes.cri-o.", "io.kubernetes.pod.", "io.kubernetes.container."}

// validateCreate returns why a pod, as it will be stored, must not be
// created.
func (p *policy) validateCreate(ctx context.Context, pod *pod, ns namespacePolicy) ([]string, error) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	for _, k := range slices.Sorted(maps.Keys(pod.Annotations)) {
		switch {
		case k == ContainerAnnotation:
			add("annotation %s names a container for podlock-runtime outside Kubernetes (podman, ctr); in a pod, the container runtime names every container: remove it", k)
		case strings.HasPrefix(k, Prefix) && k != ProfileAnnotation && k != SeccompAnnotation && k != NamespaceProfileAnnotation:
			add("annotation %s is not one podlock sets: podlock reads only %s, set from the pod label of that name, %s, set from the namespace label %s, and %s, set from the namespace label %s",
				k, ProfileAnnotation, SeccompAnnotation, NamespaceSeccompLabel, NamespaceProfileAnnotation, NamespaceLandlockLabel)
		}
		// CRI-O copies pod annotations into the container's OCI spec,
		// where the container managers' own keys tell podlock-runtime the
		// pod's namespace and container: a pod may not set them.
		for _, managed := range managerAnnotationPrefixes {
			if strings.HasPrefix(k, managed) {
				add("annotation %s is reserved to the container runtime (%s*): podlock-runtime reads the pod's identity from it", k, managed)
			}
		}
	}

	rc := runtimeClass(pod)
	if why := bindingReason(pod, ns); why != "" {
		if rc != p.cfg.RuntimeClassName {
			asked := strconv.Quote(rc)
			if rc == "" {
				asked = "the default one"
			}
			add("%s runtimeClassName %q, but the pod asks for runtimeClassName %s: remove spec.runtimeClassName or set it to %q",
				why, p.cfg.RuntimeClassName, asked, p.cfg.RuntimeClassName)
		}
	} else {
		reserved, why, err := p.reserved(ctx, rc)
		if err != nil {
			return nil, err
		}
		if reserved {
			add("%s: use a runtime class that is not reserved", why)
		}
	}

	profile, labelled := pod.Labels[ProfileLabel]
	ann, annotated := pod.Annotations[ProfileAnnotation]
	switch {
	case labelled && ann != profile:
		add("annotation %s must equal the pod label of that name (%q), not %s", ProfileAnnotation, profile, quoteOrNone(ann, annotated))
	case !labelled && annotated:
		add("annotation %s is set only from the pod label of that name, which the pod does not have", ProfileAnnotation)
	}
	// The same profile bound twice is checked once, as the namespace's.
	if labelled && profile != ns.landlockProfile {
		more, err := p.checkLandlock(ctx, ns, profile, false)
		if err != nil {
			return nil, err
		}
		problems = append(problems, more...)
	}

	nsProfile, nsAnnotated := pod.Annotations[NamespaceProfileAnnotation]
	switch {
	case ns.landlockProfile != "" && nsProfile != ns.landlockProfile:
		add("annotation %s must equal the label %s of namespace %q (%q), not %s",
			NamespaceProfileAnnotation, NamespaceLandlockLabel, ns.name, ns.landlockProfile, quoteOrNone(nsProfile, nsAnnotated))
	case ns.landlockProfile == "" && nsAnnotated:
		add("annotation %s is set only from the namespace label %s, which namespace %q does not have",
			NamespaceProfileAnnotation, NamespaceLandlockLabel, ns.name)
	}
	if ns.landlockProfile != "" {
		more, err := p.checkLandlock(ctx, ns, ns.landlockProfile, true)
		if err != nil {
			return nil, err
		}
		problems = append(problems, more...)
	}

	sec, secAnnotated := pod.Annotations[SeccompAnnotation]
	switch {
	case ns.seccompProfile != "" && sec != ns.seccompProfile:
		add("annotation %s must equal the label %s of namespace %q (%q), not %s",
			SeccompAnnotation, NamespaceSeccompLabel, ns.name, ns.seccompProfile, quoteOrNone(sec, secAnnotated))
	case ns.seccompProfile == "" && secAnnotated:
		add("annotation %s is set only from the namespace label %s, which namespace %q does not have",
			SeccompAnnotation, NamespaceSeccompLabel, ns.name)
	}
	if ns.seccompProfile != "" {
		more, err := p.checkSeccomp(ctx, ns.name, ns.seccompProfile,
			"bound to every pod by the namespace label "+NamespaceSeccompLabel)
		if err != nil {
			return nil, err
		}
		problems = append(problems, more...)
	}
	return problems, nil
}

// validateUpdate returns why an update of a pod must be refused: the
// binding cannot change (validateBinding), nor can the runtime class.
func (p *policy) validateUpdate(ctx context.Context, old, pod *pod) ([]string, error) {
	problems := validateBinding(old, pod)
	// A pod being deleted must stay updatable, or its finalizers could
	// never be removed.
	if !pod.Deleting {
		reserved, why, err := p.reserved(ctx, runtimeClass(pod))
		if err != nil {
			return nil, err
		}
		if reserved {
			problems = append(problems, why+"; spec.runtimeClassName cannot change on an existing pod: delete the pod and create it again")
		}
	}
	return problems, nil
}

// validateBinding returns why an update of a pod, through the pod itself
// or a subresource that can change its metadata (status), must be
// refused: the binding to profiles is fixed at creation, since the runtime
// reads it whenever a container starts, restarts included.
func validateBinding(old, pod *pod) []string {
	var problems []string
	changed := func(what, key string, oldMap, newMap map[string]string) {
		ov, oldOK := oldMap[key]
		nv, newOK := newMap[key]
		if oldOK != newOK || ov != nv {
			problems = append(problems, fmt.Sprintf("%s %s cannot be added, changed or removed on an existing pod (was %s, now %s): delete the pod and create it again",
				what, key, quoteOrNone(ov, oldOK), quoteOrNone(nv, newOK)))
		}
	}
	changed("label", ProfileLabel, old.Labels, pod.Labels)
	keys := map[string]bool{}
	for _, m := range []map[string]string{old.Annotations, pod.Annotations} {
		for k := range m {
			if strings.HasPrefix(k, Prefix) {
				keys[k] = true
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		changed("annotation", k, old.Annotations, pod.Annotations)
	}
	return problems
}

// validateEphemeralContainers returns why an update of the
// ephemeralcontainers subresource (kubectl debug) must be refused. An
// ephemeral container that no LandlockProfile of the pod names (its own,
// or the one its namespace binds) would run unconfined in the pod of the
// containers the profiles confine, where it can reach them through /proc
// (with a shared process namespace or kubectl debug --target), shared
// volumes and the network namespace. So it is refused, rather than
// confined by some rules podlock would have to invent: the profiles'
// authors decide how a debug container is confined by naming it, or by
// a "*" entry of spec.containerWide, which names every container. A
// profile in mode Record confines no container, and its pod may be
// debugged.
func (p *policy) validateEphemeralContainers(ctx context.Context, namespace string, old, pod *pod) ([]string, error) {
	problems := validateBinding(old, pod)
	added := slices.DeleteFunc(slices.Clone(pod.EphemeralContainers), func(c string) bool {
		return slices.Contains(old.EphemeralContainers, c)
	})
	if len(added) == 0 {
		return problems, nil
	}
	type bound struct {
		what string // for messages
		spec *v1alpha1.LandlockProfileSpec
	}
	var confining []bound
	// The annotations, not the labels: they are what podlock-runtime
	// reads when it creates the ephemeral container.
	for _, key := range []string{NamespaceProfileAnnotation, ProfileAnnotation} {
		name, ok := pod.Annotations[key]
		if !ok {
			continue
		}
		what := fmt.Sprintf("LandlockProfile %q", name)
		if key == NamespaceProfileAnnotation {
			what += " (bound by the namespace)"
		}
		if err := v1alpha1.ValidateName(name); err != nil {
			return append(problems, fmt.Sprintf("annotation %s=%s is not a LandlockProfile name: ephemeral containers cannot be added to this pod", key, name)), nil
		}
		llp, err := p.store.LandlockProfile(ctx, namespace, name)
		switch {
		case err != nil:
			return nil, fmt.Errorf("LandlockProfile %s/%s: %w", namespace, name, err)
		case llp == nil:
			return append(problems, fmt.Sprintf("the pod is bound to %s, which does not exist in namespace %q: ephemeral containers cannot be added to it",
				what, namespace)), nil
		case !llp.Spec.Records():
			confining = append(confining, bound{what, &llp.Spec})
		}
	}
	if len(confining) == 0 {
		return problems, nil
	}
	for _, c := range added {
		if slices.ContainsFunc(confining, func(b bound) bool { return b.spec.Confines(c) }) {
			continue
		}
		if len(confining) == 1 {
			problems = append(problems, fmt.Sprintf("ephemeral container %q is not named by %s, which confines this pod: it would run unconfined next to the confined containers and could reach them through /proc; "+
				"to allow debugging, add %q to the profile's spec.containerWide (or spec.profilesByContainer or spec.seccompByContainer) and start the debug container under that name (kubectl debug --container %s)",
				c, confining[0].what, c, c))
			continue
		}
		problems = append(problems, fmt.Sprintf("ephemeral container %q is named by neither %s nor %s, which confine this pod: it would run unconfined next to the confined containers and could reach them through /proc; "+
			"to allow debugging, add %q to the spec.containerWide of either (or their spec.profilesByContainer or spec.seccompByContainer) and start the debug container under that name (kubectl debug --container %s)",
			c, confining[0].what, confining[1].what, c, c))
	}
	return problems, nil
}

// reserved reports whether a runtime class ("" for the default one) is
// reserved, and why.
func (p *policy) reserved(ctx context.Context, rc string) (bool, string, error) {
	list := strings.Join(p.cfg.ReservedRuntimes, ", ")
	match := func(s string) bool {
		return slices.ContainsFunc(p.cfg.ReservedRuntimes, func(r string) bool { return strings.EqualFold(r, s) })
	}
	switch {
	case rc == "":
		if p.cfg.DefaultRuntimeReserved {
			return true, "the default runtime class is reserved (defaultRuntimeReserved)", nil
		}
		return false, "", nil
	case rc == p.cfg.RuntimeClassName || len(p.cfg.ReservedRuntimes) == 0:
		return false, "", nil
	case match(rc):
		return true, fmt.Sprintf("runtime class %q is reserved (reservedRuntimes: %s)", rc, list), nil
	}
	handler, found, err := p.store.RuntimeClassHandler(ctx, rc)
	if err != nil {
		return false, "", fmt.Errorf("runtime class %s: %w", rc, err)
	}
	if found && match(handler) {
		return true, fmt.Sprintf("runtime class %q (handler %q) is reserved (reservedRuntimes: %s)", rc, handler, list), nil
	}
	return false, "", nil
}

// checkLandlock checks that a pod may use a LandlockProfile, bound by the
// pod's label or (byNamespace) by its namespace's: it exists, is not being
// deleted, and so does every SeccompProfile it binds; and that a profile
// in mode Record, which runs the pod without podlock's rules and filters,
// lifts nothing the namespace binds.
func (p *policy) checkLandlock(ctx context.Context, ns namespacePolicy, name string, byNamespace bool) ([]string, error) {
	namespace := ns.name
	if err := v1alpha1.ValidateName(name); err != nil {
		label := "pod label " + ProfileLabel
		if byNamespace {
			label = fmt.Sprintf("label %s of namespace %q", NamespaceLandlockLabel, namespace)
		}
		return []string{fmt.Sprintf("%s=%s is not a LandlockProfile name: names are DNS-1123 subdomains (lower-case alphanumerics, '-' and '.')",
			label, name)}, nil
	}
	llp, err := p.store.LandlockProfile(ctx, namespace, name)
	switch {
	case err != nil:
		return nil, fmt.Errorf("LandlockProfile %s/%s: %w", namespace, name, err)
	case llp == nil && byNamespace:
		return []string{fmt.Sprintf("LandlockProfile %q, bound to every pod by the namespace label %s, does not exist in namespace %q",
			name, NamespaceLandlockLabel, namespace)}, nil
	case llp == nil:
		return []string{fmt.Sprintf("pod label %s names LandlockProfile %q, which does not exist in namespace %q",
			ProfileLabel, name, namespace)}, nil
	case llp.DeletionTimestamp != nil:
		return []string{fmt.Sprintf("LandlockProfile %q of namespace %q is being deleted: new pods cannot use it", name, namespace)}, nil
	}
	switch {
	case llp.Spec.Records() && byNamespace:
		return []string{fmt.Sprintf("LandlockProfile %q, bound to every pod by the namespace label %s, is in mode Record, which would run every pod of namespace %q unconfined: set its mode to Enforce, or record with the pod label %s in a namespace without the label %s",
			name, NamespaceLandlockLabel, namespace, ProfileLabel, NamespaceLandlockLabel)}, nil
	case llp.Spec.Records() && ns.landlockProfile != "":
		return []string{fmt.Sprintf("LandlockProfile %q is in mode Record, which would run the pod without LandlockProfile %q that namespace %q binds to every pod (label %s): record in a namespace without that label",
			name, ns.landlockProfile, namespace, NamespaceLandlockLabel)}, nil
	case llp.Spec.Records() && ns.seccompProfile != "":
		return []string{fmt.Sprintf("LandlockProfile %q is in mode Record, which would run the pod without SeccompProfile %q that namespace %q binds to every pod (label %s): record in a namespace without that label",
			name, ns.seccompProfile, namespace, NamespaceSeccompLabel)}, nil
	}
	// Group containers by profile, for one message per profile.
	byProfile := map[string][]string{}
	for c, sp := range llp.Spec.SeccompByContainer {
		byProfile[string(sp)] = append(byProfile[string(sp)], strconv.Quote(c))
	}
	var problems []string
	for _, sp := range slices.Sorted(maps.Keys(byProfile)) {
		containers := byProfile[sp]
		slices.Sort(containers)
		noun := "container"
		if len(containers) > 1 {
			noun = "containers"
		}
		more, err := p.checkSeccomp(ctx, namespace, sp,
			fmt.Sprintf("bound to %s %s by LandlockProfile %q", noun, strings.Join(containers, ", "), name))
		if err != nil {
			return nil, err
		}
		problems = append(problems, more...)
	}
	return problems, nil
}

// checkSeccomp checks a SeccompProfile and its chain of base profiles.
// why says where the name comes from.
func (p *policy) checkSeccomp(ctx context.Context, namespace, name, why string) ([]string, error) {
	var seen []string
	via := why
	for n := name; n != ""; {
		if _, ok := builtin.Get(n); ok {
			return nil, nil
		}
		if slices.Contains(seen, n) {
			return []string{fmt.Sprintf("SeccompProfile %q (%s): base profiles form a cycle: %s -> %s",
				name, why, strings.Join(seen, " -> "), n)}, nil
		}
		seen = append(seen, n)
		if len(seen) > maxChain {
			return []string{fmt.Sprintf("SeccompProfile %q (%s): more than %d base profiles", name, why, maxChain)}, nil
		}
		if err := v1alpha1.ValidateName(n); err != nil {
			return []string{fmt.Sprintf("SeccompProfile name %q (%s) is not a DNS-1123 subdomain", n, via)}, nil
		}
		sp, err := p.store.SeccompProfile(ctx, namespace, n)
		switch {
		case err != nil:
			return nil, fmt.Errorf("SeccompProfile %s/%s: %w", namespace, n, err)
		case sp == nil:
			return []string{fmt.Sprintf("SeccompProfile %q, %s, does not exist in namespace %q", n, via, namespace)}, nil
		case sp.DeletionTimestamp != nil:
			return []string{fmt.Sprintf("SeccompProfile %q of namespace %q is being deleted: new pods cannot use it", n, namespace)}, nil
		}
		via = fmt.Sprintf("base profile of SeccompProfile %q", n)
		n = sp.Spec.BaseProfileName
	}
	return nil, nil
}

func runtimeClass(pod *pod) string {
	if pod.RuntimeClassName == nil {
		return ""
	}
	return *pod.RuntimeClassName
}

func hasLabel(pod *pod, key string) bool {
	_, ok := pod.Labels[key]
	return ok
}

func quoteOrNone(v string, ok bool) string {
	if !ok {
		return "none"
	}
	return strconv.Quote(v)
}
