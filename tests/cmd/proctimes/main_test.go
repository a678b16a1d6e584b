package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	// Two confined creates: the front executes podlock-runtime-confine,
	// which executes runc; a thread of runc (4/5) exits last. Lines
	// perf adds about other events, or cannot be read, are skipped.
	const input = `
 podlock-runtime   100/100 10.000000: sched:sched_process_exec: filename=/usr/local/bin/podlock-runtime pid=100 old_pid=100
 podlock-runtime   100/100 10.002000: sched:sched_process_exec: filename=/usr/local/bin/podlock-runtime-confine pid=100 old_pid=100
 podlock-runtime   100/101 10.004000: sched:sched_process_exit: comm=podlock-runtime pid=101 prio=120 group_dead=false
 runc              100/100 10.005000: sched:sched_process_exec: filename=/usr/sbin/runc pid=100 old_pid=100
 runc              100/102 10.030000: sched:sched_process_exit: comm=runc pid=102 prio=120 group_dead=true
 runc:[2:INIT]     100/100 10.030000: sched:sched_process_fork: comm=runc pid=100 child_comm=runc child_pid=103
 podlock-runtime   200/200 20.000000: sched:sched_process_exec: filename=/usr/local/bin/podlock-runtime pid=200 old_pid=200
 podlock-runtime   200/200 20.004000: sched:sched_process_exec: filename=/usr/local/bin/podlock-runtime-confine pid=200 old_pid=200
 runc              200/200 20.010000: sched:sched_process_exec: filename=/usr/sbin/runc pid=200 old_pid=200
 runc              200/200 20.050000: sched:sched_process_exit: comm=runc pid=200 prio=120 group_dead=true
not a perf line
`
	rows, err := summarize(strings.NewReader(input), 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []row{
		{transition: "podlock-runtime -> podlock-runtime-confine", n: 2, median: 4, p25: 2, p75: 4},
		{transition: "podlock-runtime-confine -> runc", n: 2, median: 6, p25: 3, p75: 6},
		{transition: "runc -> exit", n: 2, median: 40, p25: 25, p75: 40},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %+v, want %+v", rows, want)
	}
	for i := range rows {
		got := rows[i]
		// Milliseconds from seconds: compare to the microsecond.
		for _, v := range []*float64{&got.median, &got.p25, &got.p75} {
			*v = float64(int(*v*1000+0.5)) / 1000
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("row %d = %+v, want %+v", i, got, want[i])
		}
	}
	if rows, _ := summarize(strings.NewReader(input), 3); len(rows) != 0 {
		t.Errorf("with min 3: %+v, want none", rows)
	}
}
