package landlock

import (
	"fmt"
	"strconv"
	"strings"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
)

// Access is a set of Landlock filesystem access rights.
type Access uint64

// The access levels of a LandlockProfile. Write includes "refer", which lets
// a process rename and link files between directories it may write to.
const (
	Read  Access = ll.AccessFSReadFile | ll.AccessFSReadDir
	Write Access = ll.AccessFSWriteFile | ll.AccessFSTruncate | ll.AccessFSRemoveDir |
		ll.AccessFSRemoveFile | ll.AccessFSMakeChar | ll.AccessFSMakeDir | ll.AccessFSMakeReg |
		ll.AccessFSMakeSock | ll.AccessFSMakeFifo | ll.AccessFSMakeBlock | ll.AccessFSMakeSym |
		ll.AccessFSRefer
	Exec Access = ll.AccessFSExecute

	ReadOnly      = Read
	ReadWrite     = Read | Write
	ReadExec      = Read | Exec
	ReadWriteExec = Read | Write | Exec
)

// fileAccess are the rights that apply to a file that is not a directory;
// the kernel rejects a rule that grants a directory right on a file.
const fileAccess Access = ll.AccessFSExecute | ll.AccessFSWriteFile | ll.AccessFSTruncate | ll.AccessFSReadFile

// MinABI is the oldest Landlock ABI podlock enforces filesystem rules with:
// ABI 3 (Linux 6.2) is the first that controls truncation, without which a
// read-only file could still be emptied.
const MinABI = 3

// MaxABI is the newest Landlock ABI podlock knows; rulesets need at most
// 6, for IPC scopes.
const MaxABI = 7

var accessNames = []struct {
	access Access
	name   string
}{
	{ReadWriteExec, "readWriteExec"},
	{ReadWrite, "readWrite"},
	{ReadExec, "readExec"},
	{ReadOnly, "readOnly"},
}

func (a Access) String() string {
	for _, n := range accessNames {
		if a == n.access {
			return n.name
		}
	}
	return fmt.Sprintf("%#x", uint64(a))
}

// MarshalText writes the profile's name of a, or its bits.
func (a Access) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (a *Access) UnmarshalText(text []byte) error {
	s := string(text)
	for _, n := range accessNames {
		if s == n.name {
			*a = n.access
			return nil
		}
	}
	hex, ok := strings.CutPrefix(s, "0x")
	v, err := strconv.ParseUint(hex, 16, 64)
	if !ok || err != nil {
		return fmt.Errorf("unknown access %q", s)
	}
	*a = Access(v)
	return nil
}
