package audit

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/procfs"

	"github.com/kubewarden/podlock/landlock"
)

// Container finds the confined container whose cgroups these are (the
// paths of /proc/PID/cgroup) and returns its owner.
type Container func(cgroups []string) (landlock.Owner, bool)

// userHZ is the unit of the start times in /proc/PID/stat, fixed by the
// kernel's ABI.
const userHZ = 100

// bootTimeRefresh is how often the boot time is read again: it is the
// wall clock's, and moves when the clock is set.
const bootTimeRefresh = time.Minute

// startSlack absorbs the rounding of the boot time to whole seconds and
// small clock adjustments.
const startSlack = 2 * time.Second

// CgroupOwner finds the owner of a process from what the kernel says of
// it on the host: its cgroups, in procRoot/PID/cgroup, name its
// container. Nothing is read from the process's own files or its root. A
// process that started after the record is not the one the record is
// about (its PID was reused), and has no owner. procRoot is /proc, or the
// host's /proc as mounted in a container with the host's PID namespace.
func CgroupOwner(procRoot string, container Container) (OwnerOf, error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return nil, fmt.Errorf("reading processes in %s: %w", procRoot, err)
	}
	b := &bootTime{fs: fs}
	if _, err := b.get(); err != nil {
		return nil, err
	}
	return func(pid int, at time.Time) (landlock.Owner, bool) {
		p, err := fs.Proc(pid)
		if err != nil {
			return landlock.Owner{}, false
		}
		// Cgroups first, start time after: a PID reused in between
		// shows a later start.
		cgroups, err := p.Cgroups()
		if err != nil {
			return landlock.Owner{}, false
		}
		stat, err := p.Stat()
		if err != nil {
			return landlock.Owner{}, false
		}
		boot, err := b.get()
		if err != nil {
			return landlock.Owner{}, false
		}
		started := boot.Add(time.Duration(stat.Starttime) * time.Second / userHZ)
		if started.After(at.Add(startSlack)) {
			return landlock.Owner{}, false
		}
		paths := make([]string, 0, len(cgroups))
		for _, c := range cgroups {
			paths = append(paths, c.Path)
		}
		return container(paths)
	}, nil
}

// bootTime is the wall-clock time of the boot, read again now and then.
type bootTime struct {
	fs procfs.FS

	mu   sync.Mutex
	boot time.Time
	read time.Time
}

func (b *bootTime) get() (time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.read.IsZero() && time.Since(b.read) < bootTimeRefresh {
		return b.boot, nil
	}
	stat, err := b.fs.Stat()
	if err != nil && !b.read.IsZero() {
		return b.boot, nil // the last one read is close enough
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the boot time: %w", err)
	}
	b.boot, b.read = time.Unix(int64(stat.BootTime), 0), time.Now()
	return b.boot, nil
}
