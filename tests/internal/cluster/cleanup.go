package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupMounts returns the mount points of every cgroup hierarchy (v1
// controllers, name=systemd, and the unified one of a hybrid setup).
func cgroupMounts() ([]string, error) {
	mounts, err := mountInfo()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range mounts {
		if m.fstype == "cgroup" || m.fstype == "cgroup2" {
			out = append(out, m.point)
		}
	}
	return out, nil
}

// createCgroupRoot creates the kubelet's cgroup root in every hierarchy:
// the kubelet refuses a cgroupRoot that does not exist. cpuset needs its
// parent's cpus and mems before any task can join a child.
func createCgroupRoot(name string) error {
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	for _, mnt := range mounts {
		dir := filepath.Join(mnt, name)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("cgroup root: %w", err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			val, err := os.ReadFile(filepath.Join(mnt, f))
			if err != nil {
				continue // not the cpuset hierarchy
			}
			if err := os.WriteFile(filepath.Join(dir, f), val, 0o644); err != nil {
				return fmt.Errorf("cgroup root %s: %w", f, err)
			}
		}
	}
	return nil
}

// removeCgroupTree kills every process left in the cluster's cgroup tree
// (containers whose shim is gone) and removes the tree, deepest first, in
// every hierarchy.
func removeCgroupTree(name string) error {
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	var dirs []string
	for _, mnt := range mounts {
		root := filepath.Join(mnt, name)
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	// Deepest first.
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	var lastErr error
	for attempt := 0; attempt < 50; attempt++ {
		lastErr = nil
		for _, d := range dirs {
			if _, err := os.Stat(d); err != nil {
				continue
			}
			for _, pid := range cgroupPids(d) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			// A frozen cgroup's processes cannot die.
			os.WriteFile(filepath.Join(d, "freezer.state"), []byte("THAWED"), 0o644)
			if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
				lastErr = fmt.Errorf("removing cgroup %s: %w", d, err)
			}
		}
		if lastErr == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return lastErr
}

func cgroupPids(dir string) []int {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

type mount struct {
	point, fstype string
}

// mountInfo parses /proc/self/mountinfo.
func mountInfo() ([]mount, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []mount
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// ID parent major:minor root mountpoint options [optional...] - fstype source superopts
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		out = append(out, mount{point: unescapeMount(fields[4]), fstype: fields[sep+1]})
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder detaches every mount at or below dir (container rootfs
// overlays, shm and sandbox files the CRI mounted), deepest first.
func unmountUnder(dir string) error {
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		mounts, err := mountInfo()
		if err != nil {
			return err
		}
		var points []string
		for _, m := range mounts {
			if m.point == dir || strings.HasPrefix(m.point, dir+"/") {
				points = append(points, m.point)
			}
		}
		if len(points) == 0 {
			return nil
		}
		sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
		lastErr = nil
		for _, p := range points {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				lastErr = fmt.Errorf("unmounting %s: %w", p, err)
			}
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("mounts left under %s", dir)
	}
	return lastErr
}

// killShims kills the runc shims of the containerd listening on socket:
// shims outlive containerd by design.
func killShims(socket string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var killed []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i, a := range args {
			if a == "-address" && i+1 < len(args) && args[i+1] == socket {
				syscall.Kill(pid, syscall.SIGKILL)
				killed = append(killed, pid)
				break
			}
		}
	}
	return killed
}

// legacyLogLinks is where the kubelet still links container logs for
// cluster logging agents, whatever its podLogsDir: links into a cluster's
// directory are removed at the end, and the directory too when empty and
// no kubelet runs any more.
const legacyLogLinks = "/var/log/containers"

func removeLogLinks(dir string) error {
	entries, err := os.ReadDir(legacyLogLinks)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		p := filepath.Join(legacyLogLinks, e.Name())
		if target, err := os.Readlink(p); err == nil && strings.HasPrefix(target, dir+"/") {
			os.Remove(p)
		}
	}
	if !kubeletRunning() {
		os.Remove(legacyLogLinks) // only if empty
	}
	return nil
}

// devicePluginDir is where every kubelet puts its device-plugin socket,
// whatever its --root-dir (pluginapi.DevicePluginPath is a constant).
const devicePluginDir = "/var/lib/kubelet/device-plugins"

// hostPaths are the paths outside the cluster's directory the kubelet
// creates, deepest first.
var hostPaths = []string{
	devicePluginDir + "/kubelet.sock",
	devicePluginDir,
	"/var/lib/kubelet",
}

// removeHostPaths removes paths in order when no kubelet runs any more:
// sockets, and directories only when empty (a real kubelet's directory
// keeps its content).
func removeHostPaths(paths []string) {
	if kubeletRunning() {
		return
	}
	for _, p := range paths {
		if fi, err := os.Lstat(p); err == nil && (fi.IsDir() || fi.Mode()&fs.ModeSocket != 0) {
			os.Remove(p)
		}
	}
}

// kubeletRunning reports whether any kubelet process runs on the machine.
func kubeletRunning() bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		arg0, _, _ := strings.Cut(string(cmdline), "\x00")
		if filepath.Base(arg0) == "kubelet" {
			return true
		}
	}
	return false
}

// ownerFile, in a cluster's directory, names the test process that owns
// it: "<pid> <start time>", so that a later Start can tell a cluster whose
// test died (a `go test -timeout` panic runs no cleanup) from a live one.
const ownerFile = "owner"

// processStartTime is field 22 of /proc/<pid>/stat (clock ticks since
// boot), which tells a process from a later one with the same PID.
func processStartTime(pid int) (string, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return "", fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state); start time is field 22.
	if len(fields) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	return fields[19], nil
}

func writeOwner(dir string) error {
	pid := os.Getpid()
	start, err := processStartTime(pid)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(fmt.Sprintf("%d %s\n", pid, start)), 0o644)
}

// ownerAlive reports whether the test process that created dir still
// runs; a directory without an owner file counts as alive (not ours to
// judge, or still being set up).
func ownerAlive(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return true
	}
	var pid int
	var start string
	if _, err := fmt.Sscanf(string(data), "%d %s", &pid, &start); err != nil {
		return true
	}
	now, err := processStartTime(pid)
	return err == nil && now == start
}

// sweepStale removes what clusters of dead test processes left: their
// shims and containers keep running and their mounts stay, since only the
// kubelet and containerd die with the test (Pdeathsig).
func sweepStale(logf func(string, ...any)) {
	dirs, _ := filepath.Glob("/tmp/plc-*")
	for _, dir := range dirs {
		if ownerAlive(dir) {
			continue
		}
		id := strings.TrimPrefix(filepath.Base(dir), "plc-")
		logf("removing the cluster a dead test left in %s", dir)
		killShims(filepath.Join(dir, "c.sock"))
		if err := removeCgroupTree("podlock-e2e-" + id); err != nil {
			logf("stale cluster %s: %v", dir, err)
		}
		if err := unmountUnder(dir); err != nil {
			logf("stale cluster %s: %v", dir, err)
			continue
		}
		removeLogLinks(dir)
		os.RemoveAll(dir)
		removeHostPaths(hostPaths)
	}
}
