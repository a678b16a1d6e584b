package runtime_test

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// BenchmarkLifecycle runs the same busybox container's whole lifecycle
// (create, start, wait, delete) through plain runc, through podlock-runtime
// without a profile, through podlock-runtime with the quickstart profile,
// and in learning mode, interleaved so that all see the same machine load.
// It reports the median of each and their ratios to runc. The recording
// agent's own work after the container is gone is not part of the
// lifecycle.
func BenchmarkLifecycle(b *testing.B) {
	e := newEnv(b, "PODLOCK_RECORD_DIR="+b.TempDir())
	e.profile("demo", testenv.QuickstartProfile)
	e.profile("learned", recordProfile)
	runc := testenv.NewRuntime(b, "runc")

	plain := testenv.NewBundle(b, "sh", "-c", ":")
	plain.Write(b)
	confined := testenv.NewBundle(b, "sh", "-c", ":").Annotate("default", "app", "demo")
	confined.Write(b)
	recorded := testenv.NewBundle(b, "sh", "-c", ":").Annotate("default", "app", "learned")
	recorded.Write(b)

	variants := []struct {
		name string
		rt   *testenv.Runtime
		b    *testenv.Bundle
	}{
		{"runc", runc, plain},
		{"podlock-no-profile", e.rt, plain},
		{"podlock-profile", e.rt, confined},
		{"podlock-record", e.rt, recorded},
	}
	samples := make([][]time.Duration, len(variants))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for v, variant := range variants {
			start := time.Now()
			if res := variant.rt.Run(variant.b, "bench"); res.Err != nil {
				b.Fatalf("%s: %v %s", variant.name, res.Err, res.Stderr)
			}
			samples[v] = append(samples[v], time.Since(start))
		}
	}
	b.StopTimer()
	base := median(samples[0])
	for v, variant := range variants {
		m := median(samples[v])
		b.ReportMetric(float64(m.Microseconds())/1000, variant.name+"-ms")
		if v > 0 {
			b.ReportMetric(float64(m)/float64(base), variant.name+"-x")
		}
	}
}

// BenchmarkSeccompFilter measures one getppid(2) inside a container with no
// filter, with runtime-default applied by runc (linux.seccomp), with
// runtime-default applied by podlock's helper, and in learning mode, where
// each call waits for the recording agent; it reports ratios to runc's
// filter.
func BenchmarkSeccompFilter(b *testing.B) {
	e := newEnv(b, "PODLOCK_RECORD_DIR="+b.TempDir())
	e.profile("bind", bindSeccomp("runtime-default"))
	e.profile("learned", recordProfile)
	loop := testenv.TestProgram(b, "syscall-loop")

	none := testenv.NewBundle(b, "/opt/bin/syscall-loop")
	native := testenv.NewBundle(b, "/opt/bin/syscall-loop")
	native.Spec.Linux.Seccomp = runtimeDefaultForRunc(b)
	podlock := testenv.NewBundle(b, "/opt/bin/syscall-loop").Annotate("default", "app", "demo")
	// Fewer calls: each one is a round trip to the agent.
	recorded := testenv.NewBundle(b, "/opt/bin/syscall-loop", "20000").Annotate("default", "app", "learned")
	variants := []struct {
		name string
		b    *testenv.Bundle
	}{{"no-filter", none}, {"runc-runtime-default", native}, {"podlock-runtime-default", podlock}, {"podlock-record", recorded}}
	for _, v := range variants {
		install(b, loop, filepath.Join(v.b.Dir, "rootfs", "opt", "bin", "syscall-loop"))
		v.b.Write(b)
	}
	samples := make([][]float64, len(variants))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for n, v := range variants {
			res := e.rt.Run(v.b, "seccomp-bench")
			if res.Err != nil {
				b.Fatalf("%s: %v %s %q", v.name, res.Err, res.Stderr, e.rt.LogErrors(b))
			}
			ns, err := strconv.ParseFloat(strings.TrimSpace(res.Stdout), 64)
			if err != nil {
				b.Fatalf("%s: %q", v.name, res.Stdout)
			}
			samples[n] = append(samples[n], ns)
		}
	}
	b.StopTimer()
	base := medianFloat(samples[1])
	for n, v := range variants {
		m := medianFloat(samples[n])
		b.ReportMetric(m, v.name+"-ns/syscall")
		switch v.name {
		case "podlock-runtime-default":
			b.ReportMetric(m/base, "podlock-vs-runc-filter-x")
		case "podlock-record":
			b.ReportMetric(m/base, "record-vs-runc-filter-x")
		}
	}
}

func install(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func medianFloat(f []float64) float64 {
	s := append([]float64(nil), f...)
	sort.Float64s(s)
	return s[len(s)/2]
}
