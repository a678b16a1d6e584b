package e2e_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every
// Linux architecture podlock builds for.
const clockTicks = 100

// cpuDaemons are the long-running processes of the test cluster whose CPU
// a pod start costs, by their comm (truncated to 15 bytes by the kernel).
var cpuDaemons = []string{"etcd", "kube-apiserver", "kubelet", "containerd", "podlock-control", "podlock-node"}

// cpuSample is CPU seconds used so far: by the whole machine, and by each
// process of cpuDaemons (their own, not their children's).
type cpuSample struct {
	total   float64
	daemons map[string]float64
}

func sampleCPU() cpuSample {
	s := cpuSample{daemons: map[string]float64{}}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := bytes.Cut(data, []byte("\n"))
		fields := strings.Fields(string(line))
		// user nice system idle iowait irq softirq steal: all but idle
		// and iowait are work.
		for i, f := range fields[1:] {
			if i == 3 || i == 4 || i > 7 {
				continue
			}
			v, _ := strconv.ParseFloat(f, 64)
			s.total += v / clockTicks
		}
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, file := range stats {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		open, close := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
		if open < 0 || close < open {
			continue
		}
		comm := string(data[open+1 : close])
		rest := strings.Fields(string(data[close+1:]))
		if len(rest) < 13 {
			continue
		}
		for _, d := range cpuDaemons {
			if comm == d {
				utime, _ := strconv.ParseFloat(rest[11], 64)
				stime, _ := strconv.ParseFloat(rest[12], 64)
				s.daemons[d] += (utime + stime) / clockTicks
			}
		}
	}
	return s
}

// cpuUse is what a batch cost: CPU seconds by daemon, and the rest of the
// machine (runtimes, shims, containers, the test itself) as "other".
type cpuUse map[string]float64

func cpuBetween(before, after cpuSample) cpuUse {
	use := cpuUse{}
	rest := after.total - before.total
	for _, d := range cpuDaemons {
		use[d] = after.daemons[d] - before.daemons[d]
		rest -= use[d]
	}
	use["other"] = rest
	return use
}
