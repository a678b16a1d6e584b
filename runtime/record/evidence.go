package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kubewarden/podlock/internal/atomicfile"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// Kinds of recorded rules, as RuleEvidence.Kind of the CRDs names them.
const (
	KindPath       = "path"
	KindBindTCP    = "bindTCP"
	KindConnectTCP = "connectTCP"
	KindSyscall    = "syscall"
)

// Evidence is what the recordings on this node saw of one rule of the
// recorded profiles. Count is the number of container runs (a container
// of a pod, from its start to its end; a restart is a new run) whose
// processes needed the rule: a rule every run needed has the count of
// runs, one that a single run needed has 1.
type Evidence struct {
	Container string `json:"container"`
	Binary    string `json:"binary,omitempty"`
	Kind      string `json:"kind"`
	Value     string `json:"value"`
	Access    string `json:"access,omitempty"`
	Count     int64  `json:"count"`
	// Pods are at most MaxEvidencePods pod names, the first seen.
	Pods      []string  `json:"pods,omitempty"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
}

// EvidenceFile is the content of <profile>.evidence.json, next to the
// recorded <profile>.yaml: the evidence of every rule of its profiles.
type EvidenceFile struct {
	Rules []Evidence `json:"rules"`
}

// MaxEvidencePods bounds the pods kept per rule: the CRD's status keeps
// as many.
const MaxEvidencePods = 8

// MaxEvidenceSize bounds what ReadEvidence reads: the rules of a
// recording are bounded by MaxSize, their evidence by a few hundred bytes
// each, and anything beyond this is not a file the recorder wrote.
const MaxEvidenceSize = 64 << 20

// Key names the rule an evidence is for.
func (e Evidence) Key() string {
	return strings.Join([]string{e.Container, e.Binary, e.Kind, e.Value, e.Access}, "\x00")
}

// EvidenceFileOf returns the evidence file of a recorded profile's file.
func EvidenceFileOf(recording string) string {
	return strings.TrimSuffix(recording, ".yaml") + ".evidence.json"
}

// ReadEvidence reads an evidence file; a missing one holds no evidence.
func ReadEvidence(file string) (*EvidenceFile, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return &EvidenceFile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the evidence: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxEvidenceSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the evidence %s: %w", file, err)
	}
	if len(data) > MaxEvidenceSize {
		return nil, fmt.Errorf("reading the evidence %s: larger than %d MiB", file, MaxEvidenceSize>>20)
	}
	var ev EvidenceFile
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("reading the evidence %s: %w", file, err)
	}
	return &ev, nil
}

func (ev *EvidenceFile) write(file string) error {
	slices.SortFunc(ev.Rules, func(a, b Evidence) int { return strings.Compare(a.Key(), b.Key()) })
	data, err := json.MarshalIndent(ev, "", " ")
	if err != nil {
		return fmt.Errorf("encoding the evidence: %w", err)
	}
	return atomicfile.Write(file, data, 0o600)
}

// AccessRuleEntries lists the rules of a container's binaries one by one,
// as evidence without counts.
func AccessRuleEntries(container string, rules v1alpha1.BinaryRules) []Evidence {
	var out []Evidence
	for exe, r := range rules {
		for _, list := range []struct {
			access string
			paths  []string
		}{
			{"readOnly", r.ReadOnly}, {"readWrite", r.ReadWrite}, {"readExec", r.ReadExec}, {"readWriteExec", r.ReadWriteExec},
		} {
			for _, p := range list.paths {
				out = append(out, Evidence{Container: container, Binary: exe, Kind: KindPath, Value: p, Access: list.access})
			}
		}
		if r.Network != nil {
			for _, p := range r.Network.BindTCP {
				out = append(out, Evidence{Container: container, Binary: exe, Kind: KindBindTCP, Value: strconv.Itoa(int(p))})
			}
			for _, p := range r.Network.ConnectTCP {
				out = append(out, Evidence{Container: container, Binary: exe, Kind: KindConnectTCP, Value: strconv.Itoa(int(p))})
			}
		}
	}
	return out
}

var accessBits = map[string]Access{"readOnly": Read, "readWrite": Read | Write, "readExec": Read | Exec, "readWriteExec": Read | Write | Exec}

// Covers reports whether rule grants what seen needs: the same binary and
// kind, and for paths, the same path or one below it with no more access.
func (rule Evidence) Covers(seen Evidence) bool {
	if rule.Container != seen.Container || rule.Binary != seen.Binary || rule.Kind != seen.Kind {
		return false
	}
	if rule.Kind != KindPath {
		return rule.Value == seen.Value
	}
	under := seen.Value == rule.Value || rule.Value == "/" || strings.HasPrefix(seen.Value, rule.Value+"/")
	return under && accessBits[seen.Access]&^accessBits[rule.Access] == 0
}

// updateEvidence brings the evidence of one container up to date with its
// rules in the recorded profiles (spec) after a save of rec, the recording
// of one run of the container in pod, at now: the rules that this run
// needed count the run once, however often it is saved; a rule new in the
// spec that covers rules of earlier saves (a directory that replaced its
// files) starts from their evidence; rules no longer in the spec lose
// theirs.
func updateEvidence(ev *EvidenceFile, container, pod string, spec []Evidence, rec *Recording, now time.Time) {
	own := AccessRuleEntries(container, rec.BinaryRules(nil))
	for _, name := range rec.syscallNames() {
		own = append(own, Evidence{Container: container, Kind: KindSyscall, Value: name})
	}
	old := map[string]Evidence{}
	var kept []Evidence
	for _, e := range ev.Rules {
		if e.Container == container {
			old[e.Key()] = e
		} else {
			kept = append(kept, e)
		}
	}
	for _, rule := range spec {
		e, ok := old[rule.Key()]
		if !ok {
			e = rule
			for _, prior := range old {
				if rule.Covers(prior) {
					e.merge(prior)
				}
			}
		}
		if slices.ContainsFunc(own, rule.Covers) {
			if rec.countOnce(rule.Key()) {
				e.Count++
			}
			e.seen(pod, now)
		}
		if e.Count > 0 {
			kept = append(kept, e)
		}
	}
	ev.Rules = kept
}

// merge adds what other saw to e, keeping the larger count: the runs
// behind two rules may be the same runs.
func (e *Evidence) merge(other Evidence) {
	e.Count = max(e.Count, other.Count)
	for _, p := range other.Pods {
		e.addPod(p)
	}
	if e.FirstSeen.IsZero() || other.FirstSeen.Before(e.FirstSeen) {
		e.FirstSeen = other.FirstSeen
	}
	if other.LastSeen.After(e.LastSeen) {
		e.LastSeen = other.LastSeen
	}
}

func (e *Evidence) seen(pod string, now time.Time) {
	e.addPod(pod)
	if e.FirstSeen.IsZero() {
		e.FirstSeen = now
	}
	e.LastSeen = now
}

func (e *Evidence) addPod(pod string) {
	if pod != "" && !slices.Contains(e.Pods, pod) && len(e.Pods) < MaxEvidencePods {
		e.Pods = append(e.Pods, pod)
		slices.Sort(e.Pods)
	}
}
