// Command proctimes tells how long each program of a process chain ran
// before it executed the next one or exited, from the scheduler's
// tracepoints: the output of
//
//	perf record -e sched:sched_process_exec,sched:sched_process_exit -a -- CMD
//	perf script -F trace:comm,pid,tid,time,event,trace
//
// on its standard input. A row "podlock-runtime -> podlock-runtime-confine"
// is the time from podlock-runtime's execve to its execve of
// podlock-runtime-confine, "podlock-helper -> exit" the time from the
// helper's execve to the exit of its last thread: where the milliseconds
// of a confined container's start go, per process, which a wall-clock
// benchmark of the whole cannot tell. make bench-processes runs it over
// the runtime benchmarks.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	least := flag.Int("min", 3, "leave out transitions seen fewer `times`")
	flag.Parse()
	rows, err := summarize(os.Stdin, *least)
	if err != nil {
		fmt.Fprintf(os.Stderr, "proctimes: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%-50s %5s %9s %9s %9s\n", "program -> what it did next", "n", "median", "p25", "p75")
	for _, r := range rows {
		fmt.Printf("%-50s %5d %7.2fms %7.2fms %7.2fms\n", r.transition, r.n, r.median, r.p25, r.p75)
	}
}

// row is one transition's durations, in milliseconds.
type row struct {
	transition       string
	n                int
	median, p25, p75 float64
}

// event is a line of perf script: comm pid/tid seconds: sched:name: fields.
var event = regexp.MustCompile(`^\s*.*?\s+(\d+)/(\d+)\s+([0-9.]+):\s+sched:(\w+):\s+(.*)$`)

// step is a program a process executed, and when.
type step struct {
	program string
	at      float64 // milliseconds
}

func summarize(r io.Reader, least int) ([]row, error) {
	steps := map[int][]step{}
	exits := map[int]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := event.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		seconds, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, fmt.Errorf("time in %q: %w", sc.Text(), err)
		}
		at := seconds * 1000
		switch m[4] {
		case "sched_process_exec":
			file, ok := field(m[5], "filename")
			if !ok {
				return nil, fmt.Errorf("exec without a filename: %q", sc.Text())
			}
			steps[pid] = append(steps[pid], step{program: path.Base(file), at: at})
		case "sched_process_exit":
			// The last thread's exit ends the process.
			if dead, _ := field(m[5], "group_dead"); dead == "true" {
				exits[pid] = at
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	durations := map[string][]float64{}
	for pid, s := range steps {
		for i, st := range s {
			switch {
			case i+1 < len(s):
				durations[st.program+" -> "+s[i+1].program] = append(durations[st.program+" -> "+s[i+1].program], s[i+1].at-st.at)
			case exits[pid] >= st.at && exits[pid] > 0:
				durations[st.program+" -> exit"] = append(durations[st.program+" -> exit"], exits[pid]-st.at)
			}
		}
	}
	var rows []row
	for t, d := range durations {
		if len(d) < least {
			continue
		}
		slices.Sort(d)
		rows = append(rows, row{transition: t, n: len(d), median: quantile(d, 0.5), p25: quantile(d, 0.25), p75: quantile(d, 0.75)})
	}
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.transition, b.transition) })
	return rows, nil
}

// field returns the value of name=value among space-separated fields.
func field(fields, name string) (string, bool) {
	for _, f := range strings.Fields(fields) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// quantile of sorted values, by the nearest rank.
func quantile(sorted []float64, q float64) float64 {
	i := int(q * float64(len(sorted)))
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}
