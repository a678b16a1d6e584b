package record

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	seccomp "github.com/seccomp/libseccomp-golang"
)

// maxSyscall bounds the system call numbers looked up by name; every
// architecture's table ends below it.
const maxSyscall = 1024

// NotifyFilter turns the container's seccomp filter, nil for none, into
// one that has runc hand every call it allows to the agent at
// listenerPath: the calls the container's own filter denies stay denied,
// so that the recording sees what the container can do, not more.
//
// write(2) stays allowed unobserved: runc refuses to notify it, as it
// writes to its parent after loading the filter.
func NotifyFilter(current *specs.LinuxSeccomp, listenerPath string) *specs.LinuxSeccomp {
	var filter specs.LinuxSeccomp
	var rules []specs.LinuxSyscall
	if current != nil {
		filter, rules = *current, current.Syscalls
		filter.Syscalls = nil
	} else {
		filter.DefaultAction = specs.ActAllow
	}
	filter.ListenerPath = listenerPath
	filter.ListenerMetadata = ""
	named := map[string]bool{}
	for _, rule := range rules {
		for _, name := range rule.Names {
			named[name] = true
		}
		if rule.Action != specs.ActAllow {
			filter.Syscalls = append(filter.Syscalls, rule)
			continue
		}
		filter.Syscalls = append(filter.Syscalls, notified(rule.Names, rule.Args)...)
	}
	if filter.DefaultAction == specs.ActAllow {
		var rest []string
		for _, name := range nativeSyscalls() {
			if !named[name] {
				rest = append(rest, name)
			}
		}
		filter.Syscalls = append(filter.Syscalls, notified(rest, nil)...)
	}
	return &filter
}

// notified returns the rules that notify names, but allow write.
func notified(names []string, args []specs.LinuxSeccompArg) []specs.LinuxSyscall {
	var rules []specs.LinuxSyscall
	if i := slices.Index(names, "write"); i >= 0 {
		rules = append(rules, specs.LinuxSyscall{Names: []string{"write"}, Action: specs.ActAllow, Args: args})
		names = slices.Delete(slices.Clone(names), i, i+1)
	}
	if len(names) > 0 {
		rules = append(rules, specs.LinuxSyscall{Names: names, Action: specs.ActNotify, Args: args})
	}
	return rules
}

// nativeSyscalls lists the names of the native architecture's calls.
func nativeSyscalls() []string {
	var names []string
	for nr := 0; nr < maxSyscall; nr++ {
		if name, err := seccomp.ScmpSyscall(nr).GetName(); err == nil {
			names = append(names, name)
		}
	}
	return names
}
