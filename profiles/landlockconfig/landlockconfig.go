// Package landlockconfig converts the Landlock rules of a LandlockProfile,
// one binary's or one container's container-wide rules
// (v1alpha1.AccessRules), to and from landlockconfig, the policy format of
// the Landlock maintainers (github.com/landlock-lsm/landlockconfig: its
// JSON schema, in JSON or TOML).
//
// Both describe one Landlock ruleset: the rights it handles (denied unless
// a rule allows them), rules that allow rights beneath a path or on a TCP
// port, and scopes. The mapping:
//
//   - podlock always handles the 15 filesystem rights of Landlock ABI 3
//     (execute to truncate), whatever the kernel; a document must handle
//     exactly those. One that handles fewer leaves the others allowed
//     everywhere, one that handles ioctl_dev denies what podlock never
//     does: both are refused.
//   - readOnly, readExec, readWrite and readWriteExec are four sets of
//     those rights (package landlock). A path of a document must be
//     allowed exactly one of them, after the rights of every pathBeneath
//     naming it are put together, as the format does. Note that the
//     format's group abi.read_execute includes refer from ABI 2 on, which
//     readExec does not: write [execute, read_file, read_dir] instead.
//   - network present handles bind_tcp and connect_tcp together, and the
//     ports of bindTCP and connectTCP are netPort rules; a document that
//     handles only one of the two is refused.
//   - scope: its true fields are the scoped list.
//   - Several ruleset entries of one document are one ruleset: the format
//     puts their handled rights together (it does not stack them as
//     separate Landlock layers), and so does Import. A right allowed by a
//     pathBeneath or netPort is handled even if no ruleset names it, as in
//     the reference implementation.
//   - Variables are resolved: a parent stands for every combination of the
//     values of the variables it names. A variable named by a parent but
//     given no literal value is refused: its values would come from
//     outside the document.
//   - Paths are absolute and clean in a LandlockProfile, and are looked up
//     inside the container; a relative parent such as "." is refused.
//
// What the conversion does not carry: which binary or container the rules
// are for (landlockconfig has no such mapping: one document holds one
// ruleset), and what podlock adds when it applies the rules (the binary,
// its ELF interpreter and libraries, read from the image). Both are for the
// caller to keep. Export writes rights by name, never by group: the names
// mean the same at every ABI.
package landlockconfig

import "errors"

var (
	// ErrInvalid is the class of errors about documents that do not follow
	// the format.
	ErrInvalid = errors.New("invalid landlockconfig document")
	// ErrNotExact is the class of errors about documents that follow the
	// format but that a LandlockProfile cannot say exactly.
	ErrNotExact = errors.New("not representable exactly as LandlockProfile rules")
)
