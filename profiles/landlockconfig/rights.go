package landlockconfig

import (
	"fmt"
	"slices"
	"strings"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"

	"github.com/kubewarden/podlock/landlock"
)

// right is one access right or scope of the format, by its name.
type right struct {
	name string
	bit  uint64
}

// The rights of each kind in the kernel's bit order, which is the order
// documents are written in.
var (
	fsRights = []right{
		{"execute", ll.AccessFSExecute},
		{"write_file", ll.AccessFSWriteFile},
		{"read_file", ll.AccessFSReadFile},
		{"read_dir", ll.AccessFSReadDir},
		{"remove_dir", ll.AccessFSRemoveDir},
		{"remove_file", ll.AccessFSRemoveFile},
		{"make_char", ll.AccessFSMakeChar},
		{"make_dir", ll.AccessFSMakeDir},
		{"make_reg", ll.AccessFSMakeReg},
		{"make_sock", ll.AccessFSMakeSock},
		{"make_fifo", ll.AccessFSMakeFifo},
		{"make_block", ll.AccessFSMakeBlock},
		{"make_sym", ll.AccessFSMakeSym},
		{"refer", ll.AccessFSRefer},
		{"truncate", ll.AccessFSTruncate},
		{"ioctl_dev", ll.AccessFSIoctlDev},
	}
	netRights = []right{
		{"bind_tcp", ll.AccessNetBindTCP},
		{"connect_tcp", ll.AccessNetConnectTCP},
	}
	scopes = []right{
		{"abstract_unix_socket", ll.ScopeAbstractUnixSocket},
		{"signal", ll.ScopeSignal},
	}
)

// handledFS is what podlock's rulesets always handle: every filesystem
// right of Landlock ABI 3, whatever the kernel.
const handledFS = uint64(landlock.ReadWriteExec)

// The rights of network rules, which podlock handles together or not at
// all, and the scopes it knows.
const (
	handledNet = uint64(ll.AccessNetBindTCP | ll.AccessNetConnectTCP)
	knownScope = uint64(ll.ScopeAbstractUnixSocket | ll.ScopeSignal)
)

// maxGroupABI is the newest ABI whose groups ("abi.all", ...) podlock
// knows the rights of; a newer one may stand for rights it has never heard
// of.
const maxGroupABI = landlock.MaxABI

// The groups of the format: sets of rights that depend on the document's
// "abi", as the reference implementation defines them (its Rust crate's
// from_all and from_read): read_execute includes refer from ABI 2 on, and
// read_write is everything but execute.
const (
	groupAll         = "abi.all"
	groupReadExecute = "abi.read_execute"
	groupReadWrite   = "abi.read_write"
)

func fsAll(abi int) uint64 {
	all := uint64(ll.AccessFSExecute | ll.AccessFSWriteFile | ll.AccessFSReadFile | ll.AccessFSReadDir |
		ll.AccessFSRemoveDir | ll.AccessFSRemoveFile | ll.AccessFSMakeChar | ll.AccessFSMakeDir |
		ll.AccessFSMakeReg | ll.AccessFSMakeSock | ll.AccessFSMakeFifo | ll.AccessFSMakeBlock | ll.AccessFSMakeSym)
	if abi >= 2 {
		all |= ll.AccessFSRefer
	}
	if abi >= 3 {
		all |= ll.AccessFSTruncate
	}
	if abi >= 5 {
		all |= ll.AccessFSIoctlDev
	}
	return all
}

func fsGroup(name string, abi int) uint64 {
	switch name {
	case groupReadExecute:
		return (ll.AccessFSExecute | ll.AccessFSReadFile | ll.AccessFSReadDir | ll.AccessFSRefer) & fsAll(abi)
	case groupReadWrite:
		return fsAll(abi) &^ ll.AccessFSExecute
	}
	return fsAll(abi)
}

// netGroup and scopeGroup have abi.all only.
func netGroup(_ string, abi int) uint64 {
	if abi >= 4 {
		return handledNet
	}
	return 0
}

func scopeGroup(_ string, abi int) uint64 {
	if abi >= 6 {
		return knownScope
	}
	return 0
}

// kind is one of the three vocabularies of the format.
type kind struct {
	what   string
	rights []right
	groups []string
	group  func(name string, abi int) uint64
}

var (
	fsKind    = kind{"filesystem access right", fsRights, []string{groupAll, groupReadExecute, groupReadWrite}, fsGroup}
	netKind   = kind{"network access right", netRights, []string{groupAll}, netGroup}
	scopeKind = kind{"scope", scopes, []string{groupAll}, scopeGroup}
)

// bits reads a list of names of k. Groups need the document's abi.
func (k kind) bits(names []string, abi *int) (uint64, error) {
	var set uint64
	for _, name := range names {
		if b, ok := k.bit(name); ok {
			set |= b
			continue
		}
		if !slices.Contains(k.groups, name) {
			return 0, fmt.Errorf("unknown %s %q (known: %s, %s): %w", k.what, name, k.names(^uint64(0)), strings.Join(k.groups, ", "), ErrInvalid)
		}
		if abi == nil {
			return 0, fmt.Errorf("%s depends on the document's abi, which it does not set: %w", name, ErrInvalid)
		}
		if *abi > maxGroupABI {
			return 0, fmt.Errorf("%s at abi %d: podlock knows the rights of Landlock ABIs up to %d only, so it cannot tell what the group grants; list the rights by name: %w",
				name, *abi, maxGroupABI, ErrNotExact)
		}
		set |= k.group(name, *abi)
	}
	return set, nil
}

func (k kind) bit(name string) (uint64, bool) {
	for _, r := range k.rights {
		if r.name == name {
			return r.bit, true
		}
	}
	return 0, false
}

// list names the rights of set, in the kernel's order.
func (k kind) list(set uint64) []string {
	var names []string
	for _, r := range k.rights {
		if set&r.bit != 0 {
			names = append(names, r.name)
		}
	}
	return names
}

func (k kind) names(set uint64) string { return strings.Join(k.list(set), ", ") }
