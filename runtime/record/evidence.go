package record

import (
	"slices"
	"time"

	"github.com/kubewarden/podlock/runtime/record/evidence"
)

// updateEvidence brings the evidence of one container up to date with its
// rules in the recorded profiles (spec) after a save of rec, the recording
// of one run of the container in pod, at now: the rules that this run
// needed count the run once, however often it is saved; a rule new in the
// spec that covers rules of earlier saves (a directory that replaced its
// files) starts from their evidence; rules no longer in the spec lose
// theirs.
func updateEvidence(ev *evidence.File, container, pod string, spec []evidence.Rule, rec *Recording, now time.Time) {
	own := evidence.AccessRuleEntries(container, rec.BinaryRules(nil))
	for _, name := range rec.syscallNames() {
		own = append(own, evidence.Rule{Container: container, Kind: evidence.KindSyscall, Value: name})
	}
	old := map[string]evidence.Rule{}
	var kept []evidence.Rule
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
					e.Merge(prior)
				}
			}
		}
		if slices.ContainsFunc(own, rule.Covers) {
			if rec.countOnce(rule.Key()) {
				e.Count++
			}
			e.Seen(pod, now)
		}
		if e.Count > 0 {
			kept = append(kept, e)
		}
	}
	ev.Rules = kept
}
