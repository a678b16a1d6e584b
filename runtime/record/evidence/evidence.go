// Package evidence is the evidence of learning mode's recorded rules: how
// often, in which pods and when each was needed. The recorder keeps it on
// the node next to the recorded profiles; podlock-node publishes it. It
// links nothing of the recorder, so that podlock-node stays a static
// binary without cgo.
package evidence

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

// IncompleteAnnotation marks a recorded LandlockProfile some of whose
// recordings were full: a line per container says how much its last full
// recording left out.
const IncompleteAnnotation = v1alpha1.Group + "/recording-incomplete"

// Kinds of recorded rules, as RuleEvidence.Kind of the CRDs names them.
const (
	KindPath       = "path"
	KindBindTCP    = "bindTCP"
	KindConnectTCP = "connectTCP"
	KindSyscall    = "syscall"
)

// Rule is what the recordings on this node saw of one rule of the
// recorded profiles. Count is the number of container runs (a container
// of a pod, from its start to its end; a restart is a new run) whose
// processes needed the rule: a rule every run needed has the count of
// runs, one that a single run needed has 1.
type Rule struct {
	Container string `json:"container"`
	Binary    string `json:"binary,omitempty"`
	Kind      string `json:"kind"`
	Value     string `json:"value"`
	Access    string `json:"access,omitempty"`
	Count     int64  `json:"count"`
	// Pods are at most MaxPods pod names, the first seen.
	Pods      []string  `json:"pods,omitempty"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
}

// File is the content of <profile>.evidence.json, next to the
// recorded <profile>.yaml: the evidence of every rule of its profiles.
type File struct {
	Rules []Rule `json:"rules"`
}

// MaxPods bounds the pods kept per rule: the CRD's status keeps
// as many.
const MaxPods = 8

// MaxSize bounds what ReadEvidence reads: the rules of a
// recording are bounded by MaxSize, their evidence by a few hundred bytes
// each, and anything beyond this is not a file the recorder wrote.
const MaxSize = 64 << 20

// Key names the rule an evidence is for.
func (e Rule) Key() string {
	return strings.Join([]string{e.Container, e.Binary, e.Kind, e.Value, e.Access}, "\x00")
}

// FileOf returns the evidence file of a recorded profile's file.
func FileOf(recording string) string {
	return strings.TrimSuffix(recording, ".yaml") + ".evidence.json"
}

// Read reads an evidence file; a missing one holds no evidence.
func Read(file string) (*File, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return &File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the evidence: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the evidence %s: %w", file, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("reading the evidence %s: larger than %d MiB", file, MaxSize>>20)
	}
	var ev File
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("reading the evidence %s: %w", file, err)
	}
	return &ev, nil
}

// Write writes the evidence file atomically, its rules sorted.
func (ev *File) Write(file string) error {
	slices.SortFunc(ev.Rules, func(a, b Rule) int { return strings.Compare(a.Key(), b.Key()) })
	data, err := json.MarshalIndent(ev, "", " ")
	if err != nil {
		return fmt.Errorf("encoding the evidence: %w", err)
	}
	return atomicfile.Write(file, data, 0o600)
}

// AccessRuleEntries lists the rules of a container's binaries one by one,
// as evidence without counts.
func AccessRuleEntries(container string, rules v1alpha1.BinaryRules) []Rule {
	var out []Rule
	for exe, r := range rules {
		for _, list := range []struct {
			access string
			paths  []string
		}{
			{"readOnly", r.ReadOnly}, {"readWrite", r.ReadWrite}, {"readExec", r.ReadExec}, {"readWriteExec", r.ReadWriteExec},
		} {
			for _, p := range list.paths {
				out = append(out, Rule{Container: container, Binary: exe, Kind: KindPath, Value: p, Access: list.access})
			}
		}
		if r.Network != nil {
			for _, p := range r.Network.BindTCP {
				out = append(out, Rule{Container: container, Binary: exe, Kind: KindBindTCP, Value: strconv.Itoa(int(p))})
			}
			for _, p := range r.Network.ConnectTCP {
				out = append(out, Rule{Container: container, Binary: exe, Kind: KindConnectTCP, Value: strconv.Itoa(int(p))})
			}
		}
	}
	return out
}

// accessBits orders the accesses of path rules: read 1, write 2, exec 4.
var accessBits = map[string]uint8{"readOnly": 1, "readWrite": 1 | 2, "readExec": 1 | 4, "readWriteExec": 1 | 2 | 4}

// Covers reports whether rule grants what seen needs: the same binary and
// kind, and for paths, the same path or one below it with no more access.
func (rule Rule) Covers(seen Rule) bool {
	if rule.Container != seen.Container || rule.Binary != seen.Binary || rule.Kind != seen.Kind {
		return false
	}
	if rule.Kind != KindPath {
		return rule.Value == seen.Value
	}
	under := seen.Value == rule.Value || rule.Value == "/" || strings.HasPrefix(seen.Value, rule.Value+"/")
	return under && accessBits[seen.Access]&^accessBits[rule.Access] == 0
}

// Merge adds what other saw to e, keeping the larger count: the runs
// behind two rules may be the same runs.
func (e *Rule) Merge(other Rule) {
	e.Count = max(e.Count, other.Count)
	for _, p := range other.Pods {
		e.AddPod(p)
	}
	if e.FirstSeen.IsZero() || other.FirstSeen.Before(e.FirstSeen) {
		e.FirstSeen = other.FirstSeen
	}
	if other.LastSeen.After(e.LastSeen) {
		e.LastSeen = other.LastSeen
	}
}

// Seen records that pod needed the rule at now.
func (e *Rule) Seen(pod string, now time.Time) {
	e.AddPod(pod)
	if e.FirstSeen.IsZero() {
		e.FirstSeen = now
	}
	e.LastSeen = now
}

// AddPod adds a pod, unless MaxPods are kept already.
func (e *Rule) AddPod(pod string) {
	if pod != "" && !slices.Contains(e.Pods, pod) && len(e.Pods) < MaxPods {
		e.Pods = append(e.Pods, pod)
		slices.Sort(e.Pods)
	}
}
