package record

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"sigs.k8s.io/yaml"

	"github.com/kubewarden/podlock/internal/atomicfile"
	"github.com/kubewarden/podlock/profiles/dir"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/runtime/record/evidence"
)

// Output is where the recording of one container goes: a manifest file per
// profile in mode Record that holds the LandlockProfile of the same name,
// so that applying the file replaces the profile, and a SeccompProfile per
// container name. Every pod bound to the profile adds what its containers
// did to the file: restarts and replicas make the recording more
// complete, never smaller.
type Output struct {
	File      string
	Namespace string
	Profile   string
	Container string
	// Pod is the pod whose container is recorded, for the evidence.
	Pod string
	// Now is the clock of the evidence; nil: time.Now.
	Now func() time.Time
	// Network keeps the recorded TCP ports as network rules. Without it,
	// the rules leave TCP alone: on a kernel older than Landlock ABI 4,
	// network rules would keep the pods from starting.
	Network bool
}

const header = `# Recorded by podlock: what the containers of the pods bound to this profile
# did on this node, as profiles that let them do it again and nothing else.
# The first rule of a SeccompProfile lists the system calls the container
# made; the rules after it, those that podlock-helper makes, with their
# arguments, to start the binaries listed in profilesByContainer.
# Review, then apply:
#   kubectl apply -f %s
`

// SeccompName is the name of the SeccompProfile recorded for the
// container: the LandlockProfile's name and the container's, or a digest
// of them when that is longer than a Kubernetes name may be.
func (o Output) SeccompName() string {
	name := o.Profile + "-" + o.Container
	if len(name) <= 253 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return strings.TrimRight(name[:253-1-16], "-.") + "-" + hex.EncodeToString(sum[:8])
}

// Save writes the recording into the pod's file, and the evidence of its
// rules into the evidence file next to it (evidence.FileOf), under the same
// lock: the two files always describe the same rules.
func (o Output) Save(rec *Recording) error {
	unlock, err := lockFile(o.File + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	landlock, seccomps, err := o.read()
	if err != nil {
		return err
	}
	if rules := rec.BinaryRules(landlock.Spec.ProfilesByContainer[o.Container]); rules != nil {
		if !o.Network {
			for exe, r := range rules {
				r.Network = nil
				rules[exe] = r
			}
		}
		if landlock.Spec.ProfilesByContainer == nil {
			landlock.Spec.ProfilesByContainer = map[string]v1alpha1.BinaryRules{}
		}
		landlock.Spec.ProfilesByContainer[o.Container] = rules
	}
	seccompName := o.SeccompName()
	i := slices.IndexFunc(seccomps, func(s v1alpha1.SeccompProfile) bool { return s.Metadata.Name == seccompName })
	var earlier *v1alpha1.SeccompProfileSpec
	if i >= 0 {
		earlier = &seccomps[i].Spec
	}
	// Listed binaries start through podlock-helper, under this profile.
	listed := len(landlock.Spec.ProfilesByContainer[o.Container]) > 0
	seccomp := v1alpha1.SeccompProfile{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindSeccompProfile},
		Metadata: v1alpha1.ObjectMeta{Name: seccompName, Namespace: o.Namespace},
		Spec:     rec.SeccompSpec(earlier, listed),
	}
	if i >= 0 {
		seccomps[i] = seccomp
	} else {
		seccomps = append(seccomps, seccomp)
	}
	if n := rec.Dropped(); n > 0 {
		noteIncomplete(&landlock.Metadata, o.Container, n)
	}
	if landlock.Spec.SeccompByContainer == nil {
		landlock.Spec.SeccompByContainer = map[string]v1alpha1.ProfileName{}
	}
	landlock.Spec.SeccompByContainer[o.Container] = v1alpha1.ProfileName(seccompName)

	ev, err := evidence.Read(evidence.FileOf(o.File))
	if err != nil {
		return err
	}
	spec := evidence.AccessRuleEntries(o.Container, landlock.Spec.ProfilesByContainer[o.Container])
	for _, rule := range seccomp.Spec.Syscalls[:1] {
		for _, name := range rule.Names {
			spec = append(spec, evidence.Rule{Container: o.Container, Kind: evidence.KindSyscall, Value: name})
		}
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	updateEvidence(ev, o.Container, o.Pod, spec, rec, now().UTC())

	var out bytes.Buffer
	fmt.Fprintf(&out, header, o.File)
	docs := []any{landlock}
	for _, s := range seccomps {
		docs = append(docs, s)
	}
	for _, doc := range docs {
		data, err := yaml.Marshal(doc)
		if err != nil {
			return fmt.Errorf("encoding the recording: %w", err)
		}
		out.WriteString("---\n")
		out.Write(data)
	}
	// The evidence goes first: a crash between the two leaves evidence
	// for rules the file does not hold yet, which the next save drops,
	// rather than rules without evidence.
	if err := ev.Write(evidence.FileOf(o.File)); err != nil {
		return err
	}
	return atomicfile.Write(o.File, out.Bytes(), 0o600)
}

// IncompleteAnnotation marks a recorded LandlockProfile some of whose
// recordings were full (see MaxSize): a line per container says how much
// its last full recording left out.
const IncompleteAnnotation = evidence.IncompleteAnnotation

func noteIncomplete(meta *v1alpha1.ObjectMeta, container string, dropped int) {
	prefix := "container " + container + ": "
	var lines []string
	for _, line := range strings.Split(meta.Annotations[IncompleteAnnotation], "\n") {
		if line != "" && !strings.HasPrefix(line, prefix) {
			lines = append(lines, line)
		}
	}
	lines = append(lines, fmt.Sprintf("%s%d new paths, ports or system calls were left out when the recording reached its limit of %d MiB; the rules miss them",
		prefix, dropped, MaxSize>>20))
	slices.Sort(lines)
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[IncompleteAnnotation] = strings.Join(lines, "\n")
}

// read loads what the file holds, or a fresh LandlockProfile.
func (o Output) read() (*v1alpha1.LandlockProfile, []v1alpha1.SeccompProfile, error) {
	landlock := &v1alpha1.LandlockProfile{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindLandlockProfile},
		Metadata: v1alpha1.ObjectMeta{Name: o.Profile, Namespace: o.Namespace},
	}
	data, err := os.ReadFile(o.File)
	if errors.Is(err, os.ErrNotExist) {
		return landlock, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the recording: %w", err)
	}
	docs, err := dir.Documents(data)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the recording %s: %w", o.File, err)
	}
	var seccomps []v1alpha1.SeccompProfile
	for _, doc := range docs {
		var meta v1alpha1.TypeMeta
		if err := json.Unmarshal(doc, &meta); err != nil {
			return nil, nil, fmt.Errorf("reading the recording %s: %w", o.File, err)
		}
		switch meta.Kind {
		case v1alpha1.KindLandlockProfile:
			err = json.Unmarshal(doc, landlock)
		case v1alpha1.KindSeccompProfile:
			var s v1alpha1.SeccompProfile
			err = json.Unmarshal(doc, &s)
			seccomps = append(seccomps, s)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading the recording %s: %w", o.File, err)
		}
	}
	return landlock, seccomps, nil
}

// lockFile takes an exclusive lock on file, creating it, and returns the
// function that releases it.
func lockFile(file string) (func(), error) {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking the recording: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the recording: %w", err)
	}
	return func() { f.Close() }, nil
}
