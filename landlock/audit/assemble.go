package audit

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kubewarden/podlock/landlock"
)

// Denial is one access the kernel refused a confined process.
type Denial struct {
	Time  time.Time
	Owner landlock.Owner
	// Binary is the program that was denied, as the container sees it.
	Binary string
	PID    int
	// Access names the rights that were missing, in the kernel's words
	// ("fs.read_file", "net.connect_tcp", "scope.signal"), or "seccomp"
	// for a system call a seccomp filter logged.
	Access string
	// Target is what the access was to: a path, "127.0.0.1:443", a bound
	// port, a signalled process, an abstract socket, or a system call.
	Target string
}

func (d Denial) String() string {
	return fmt.Sprintf("%s was denied %s on %s", d.Binary, d.Access, d.Target)
}

// OwnerOf finds the owner of the process that had a PID at a time (that of
// a record), or reports that it has none: it is not confined by podlock,
// or it is gone.
type OwnerOf func(pid int, at time.Time) (landlock.Owner, bool)

// Assembler turns records into denials of processes that podlock confines,
// grouping the records of each event.
type Assembler struct {
	ownerOf OwnerOf
	events  map[uint64][]Record
	// domains remembers the owner of each Landlock domain seen, for the
	// denials of processes that exit before their records are read.
	domains map[string]landlock.Owner
}

// maxPending bounds the events waiting for their end: a lost end-of-event
// record must not grow the map forever.
const maxPending = 1024

// maxDomains bounds the owners remembered by domain: a lost deallocation
// record must not grow the map forever either.
const maxDomains = 4096

// NewAssembler returns an assembler that looks owners up with ownerOf.
func NewAssembler(ownerOf OwnerOf) *Assembler {
	return &Assembler{ownerOf: ownerOf, events: map[uint64][]Record{}, domains: map[string]landlock.Owner{}}
}

// Add takes the next record and returns the denials it completes.
func (a *Assembler) Add(r Record) []Denial {
	switch r.Type {
	case typeSeccomp:
		return a.seccomp(r)
	case typeLandlockDom:
		if r.Fields["status"] == "deallocated" {
			delete(a.domains, r.Fields["domain"])
			return nil
		}
	case typeEOE:
		records := a.events[r.Serial]
		delete(a.events, r.Serial)
		return a.landlock(records)
	}
	if r.Type == typeSyscall || r.Type == typeLandlockAccess || r.Type == typeLandlockDom {
		if len(a.events) >= maxPending {
			clear(a.events)
		}
		a.events[r.Serial] = append(a.events[r.Serial], r)
	}
	return nil
}

func (a *Assembler) landlock(records []Record) []Denial {
	var accesses []Record
	var syscall, domain *Record
	for i := range records {
		switch records[i].Type {
		case typeLandlockAccess:
			accesses = append(accesses, records[i])
		case typeSyscall:
			syscall = &records[i]
		case typeLandlockDom:
			domain = &records[i]
		}
	}
	var out []Denial
	for _, acc := range accesses {
		d := Denial{Time: acc.Time, Access: acc.Fields["blockers"], Target: target(acc.Fields)}
		owner, ok := a.owner(acc.Fields["domain"], syscall, domain)
		if !ok {
			continue
		}
		d.Owner = owner
		if syscall != nil {
			d.PID, _ = strconv.Atoi(syscall.Fields["pid"])
			d.Binary = syscall.Fields["exe"]
		}
		out = append(out, d)
	}
	return out
}

// owner finds whose domain denied: the owner found for the domain before
// (a domain is created in one container and stays there, and its ID is
// never reused until reboot), else the denied process's, else the
// domain's creator's.
func (a *Assembler) owner(domainID string, syscall, domain *Record) (landlock.Owner, bool) {
	if o, ok := a.domains[domainID]; ok && domainID != "" {
		return o, true
	}
	for _, r := range []*Record{syscall, domain} {
		if r == nil {
			continue
		}
		if pid, err := strconv.Atoi(r.Fields["pid"]); err == nil {
			if o, ok := a.ownerOf(pid, r.Time); ok {
				if len(a.domains) >= maxDomains {
					clear(a.domains)
				}
				if domainID != "" {
					a.domains[domainID] = o
				}
				return o, true
			}
		}
	}
	return landlock.Owner{}, false
}

func (a *Assembler) seccomp(r Record) []Denial {
	pid, err := strconv.Atoi(r.Fields["pid"])
	if err != nil {
		return nil
	}
	owner, ok := a.ownerOf(pid, r.Time)
	if !ok {
		return nil
	}
	return []Denial{{
		Time:   r.Time,
		Owner:  owner,
		Binary: r.Fields["exe"],
		PID:    pid,
		Access: "seccomp",
		Target: "syscall " + r.Fields["syscall"] + " (arch " + r.Fields["arch"] + ")",
	}}
}

// target renders what a Landlock access record says was accessed.
func target(f map[string]string) string {
	switch {
	case strings.HasPrefix(f["blockers"], "scope.abstract_unix_socket"):
		name, err := hex.DecodeString(f["path"])
		if err == nil && len(name) > 0 && name[0] == 0 {
			return "abstract socket @" + string(name[1:])
		}
		return "abstract socket " + f["path"]
	case f["path"] != "":
		return f["path"]
	case f["dest"] != "":
		return f["daddr"] + ":" + f["dest"]
	case f["src"] != "":
		return "port " + f["src"]
	case f["opid"] != "":
		return "pid " + f["opid"] + " (" + f["ocomm"] + ")"
	}
	return "?"
}
