package profile

import (
	"fmt"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// Rule is one rule of a profile for one system call, as Rules returns it.
type Rule struct {
	Syscall string
	Action  v1alpha1.Action
	// ErrnoRet is the errno of SCMP_ACT_ERRNO, EPERM when nil, or the
	// message of SCMP_ACT_TRACE.
	ErrnoRet *uint
	// Args must all match (logical AND); no index appears twice.
	Args []v1alpha1.ArgCondition
	// Field names the rule of the spec this one comes from.
	Field string
}

// verdict is an action with its data, normalised so that two spellings of
// the same outcome compare equal.
type verdict struct {
	action v1alpha1.Action
	data   uint
}

func makeVerdict(a v1alpha1.Action, errnoRet *uint) verdict {
	switch a {
	case "", v1alpha1.ActionErrno:
		v := verdict{action: v1alpha1.ActionErrno, data: defaultErrno}
		if errnoRet != nil {
			v.data = *errnoRet
		}
		return v
	case v1alpha1.ActionTrace:
		v := verdict{action: a}
		if errnoRet != nil {
			v.data = *errnoRet
		}
		return v
	case v1alpha1.ActionKill:
		return verdict{action: v1alpha1.ActionKillThread}
	}
	return verdict{action: a}
}

func (r Rule) verdict() verdict { return makeVerdict(r.Action, r.ErrnoRet) }

func defaultVerdict(s *v1alpha1.SeccompProfileSpec) verdict {
	return makeVerdict(s.DefaultAction, s.DefaultErrnoRet)
}

// Rules flattens the profile's rules to one Rule per system call and
// condition set, in the order of the spec, with these semantics:
//
//   - Conditions on distinct arguments of one rule must all match. When a
//     rule has several conditions on the same argument, each condition
//     becomes a rule of its own, so any of them matches: this is what runc
//     does for OCI profiles, and what libseccomp can express.
//   - A later rule without conditions overrides every earlier rule for the
//     same system call. Resolve puts the rules of a base profile first, so
//     an extending profile can deny what its base allows, and the reverse.
//     (libseccomp alone would keep the first rule.)
//   - A rule with conditions cannot refine an earlier rule without
//     conditions for the same system call and a different action: the
//     filter would ignore it, so it is an error rather than a surprise.
//   - Rules whose outcome is the default action are dropped: libseccomp
//     refuses them, and they change nothing.
func Rules(s *v1alpha1.SeccompProfileSpec) ([]Rule, error) {
	type entry struct {
		rules         []Rule
		unconditional bool
	}
	var order []string
	bySyscall := map[string]*entry{}
	for i, sr := range s.Syscalls {
		field := fmt.Sprintf("spec.syscalls[%d]", i)
		for _, name := range sr.Names {
			e := bySyscall[name]
			if e == nil {
				e = &entry{}
				bySyscall[name] = e
				order = append(order, name)
			}
			r := Rule{Syscall: name, Action: sr.Action, ErrnoRet: cloneUint(sr.ErrnoRet), Field: field}
			if len(sr.Args) == 0 {
				e.rules, e.unconditional = []Rule{r}, true
				continue
			}
			if e.unconditional {
				prev := e.rules[0]
				if prev.verdict() == r.verdict() {
					continue // already covered without conditions
				}
				return nil, fmt.Errorf("%s: the rule for %s with argument conditions (action %s) cannot refine the earlier rule %s for %s without conditions (action %s); give %s one rule without conditions, or only rules with conditions: %w",
					field, name, r.Action, prev.Field, name, prev.Action, name, ErrInvalid)
			}
			for _, args := range splitArgs(sr.Args) {
				r.Args = args
				e.rules = append(e.rules, r)
			}
		}
	}
	def := defaultVerdict(s)
	var rules []Rule
	for _, name := range order {
		for _, r := range bySyscall[name].rules {
			if r.verdict() != def {
				rules = append(rules, r)
			}
		}
	}
	return rules, nil
}

// splitArgs returns the condition sets of one rule: all conditions together
// when each argument is compared once, one set per condition otherwise.
func splitArgs(args []v1alpha1.ArgCondition) [][]v1alpha1.ArgCondition {
	seen := map[uint]bool{}
	repeated := false
	for _, a := range args {
		repeated = repeated || seen[a.Index]
		seen[a.Index] = true
	}
	if !repeated {
		return [][]v1alpha1.ArgCondition{append([]v1alpha1.ArgCondition(nil), args...)}
	}
	sets := make([][]v1alpha1.ArgCondition, len(args))
	for i, a := range args {
		sets[i] = []v1alpha1.ArgCondition{a}
	}
	return sets
}
