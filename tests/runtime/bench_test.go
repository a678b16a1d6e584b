package runtime_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// A round runs every variant once, in turn, so that all see the same
// machine load; a variant's ratio in a round is its time over the first
// variant's (plain runc) in the same round. The benchmarks report the
// median of each variant's times and of its ratios, with the 25th and 75th
// percentiles of the ratios as their spread, and log them as a table.
type variantSamples struct {
	name  string
	times []time.Duration
}

func report(b *testing.B, title string, vs []variantSamples) {
	b.Helper()
	var table strings.Builder
	fmt.Fprintf(&table, "%s (%d interleaved rounds; ratio to %s: median [p25-p75])\n", title, len(vs[0].times), vs[0].name)
	for _, v := range vs {
		m := median(v.times)
		b.ReportMetric(ms(m), v.name+"-ms")
		ratios := make([]float64, len(v.times))
		for i := range v.times {
			ratios[i] = float64(v.times[i]) / float64(vs[0].times[i])
		}
		r, lo, hi := quantiles(ratios)
		if v.name != vs[0].name {
			b.ReportMetric(r, v.name+"-x")
		}
		fmt.Fprintf(&table, "  %-32s %8.2f ms  %5.2fx [%.2f-%.2f]\n", v.name, ms(m), r, lo, hi)
	}
	show(b, table.String())
}

// show prints a table once, for the run of b.N rounds asked for (the
// testing package runs a benchmark once with b.N = 1 first, and keeps only
// ten lines of its log).
func show(b *testing.B, table string) {
	if b.N > 1 {
		fmt.Print("\n" + table)
	}
}

// interleave runs b.N rounds of every variant, in turn, and returns each
// one's times; run runs variant v once. Each round starts with another
// variant: the first of a round runs after the last of the one before,
// and in a fixed order one variant would always follow the heaviest.
func interleave(b *testing.B, names []string, run func(v int) testenv.Result) []variantSamples {
	b.Helper()
	vs := make([]variantSamples, len(names))
	for v := range names {
		vs[v].name = names[v]
	}
	b.ResetTimer()
	for round := range b.N {
		for i := range names {
			v := (round + i) % len(names)
			start := time.Now()
			if res := run(v); res.Err != nil {
				b.Fatalf("%s: %v %s", names[v], res.Err, res.Stderr)
			}
			vs[v].times = append(vs[v].times, time.Since(start))
		}
	}
	b.StopTimer()
	return vs
}

// bundleVariant is a runtime and the bundle it runs, under a name.
type bundleVariant struct {
	name string
	rt   *testenv.Runtime
	b    *testenv.Bundle
}

func bundleVariantNames(variants []bundleVariant) []string {
	names := make([]string, len(variants))
	for v := range variants {
		names[v] = variants[v].name
	}
	return names
}

// quantiles returns the median, 25th and 75th percentiles.
func quantiles(f []float64) (med, p25, p75 float64) {
	s := append([]float64(nil), f...)
	sort.Float64s(s)
	return s[len(s)/2], s[len(s)/4], s[len(s)*3/4]
}

// BenchmarkPassthrough runs `list`, a command podlock has no business in,
// through plain runc, through floor (the smallest Go program that
// executes runc: the floor for any Go wrapper) and through
// podlock-runtime.
func BenchmarkPassthrough(b *testing.B) {
	e := newEnv(b)
	runc := testenv.NewRuntime(b, "runc")
	runcPath, err := exec.LookPath("runc")
	if err != nil {
		b.Fatal(err)
	}
	floor := testenv.NewRuntime(b, testenv.TestProgram(b, "floor"), "FLOOR_RUNTIME="+runcPath)
	floor.Root, e.rt.Root = runc.Root, runc.Root
	rts := []*testenv.Runtime{runc, floor, e.rt}
	vs := interleave(b, []string{"runc", "floor", "podlock-runtime"}, func(v int) testenv.Result { return rts[v].Command("list") })
	report(b, "pass-through: list", vs)
	pl, fl := median(vs[2].times), median(vs[1].times)
	b.ReportMetric(float64(pl)/float64(fl), "podlock-vs-floor-x")
	show(b, fmt.Sprintf("  podlock-runtime / floor: %.2fx (medians)\n", float64(pl)/float64(fl)))
}

// BenchmarkLifecycle runs the same busybox container's whole lifecycle
// (run: create, start, wait; then delete) through plain runc, through
// floor, and through podlock-runtime without a profile, with the
// quickstart profile, with a large profile (200 binaries of 50 paths
// each, 1,000 paths container-wide) and in learning mode. The recording
// agent's own work after the container is gone is not part of the
// lifecycle.
func BenchmarkLifecycle(b *testing.B) {
	e := newEnv(b, "PODLOCK_RECORD_DIR="+b.TempDir())
	e.profile("demo", testenv.QuickstartProfile)
	e.profile("learned", recordProfile)
	runc := testenv.NewRuntime(b, "runc")
	runcPath, err := exec.LookPath("runc")
	if err != nil {
		b.Fatal(err)
	}
	floor := testenv.NewRuntime(b, testenv.TestProgram(b, "floor"), "FLOOR_RUNTIME="+runcPath)

	plain := testenv.NewBundle(b, "sh", "-c", ":")
	plain.Write(b)
	confined := testenv.NewBundle(b, "sh", "-c", ":").Annotate("default", "app", "demo")
	confined.Write(b)
	// In a profiles directory of its own: the directory source parses
	// every manifest of its directory, and the large one would slow the
	// quickstart's lookup. In JSON, as the API server serves it.
	largeEnv := newEnv(b)
	large := testenv.NewBundle(b, "sh", "-c", ":").Annotate("default", "app", "large")
	large.Write(b)
	largeEnv.profileJSON("large", testenv.LargeProfile(b, "large", filepath.Join(large.Dir, "rootfs"), 200, 50, 1000))
	recorded := testenv.NewBundle(b, "sh", "-c", ":").Annotate("default", "app", "learned")
	recorded.Write(b)

	variants := []bundleVariant{
		{"runc", runc, plain},
		{"floor", floor, plain},
		{"podlock-no-profile", e.rt, plain},
		{"podlock-quickstart", e.rt, confined},
		{"podlock-large", largeEnv.rt, large},
		{"podlock-record", e.rt, recorded},
	}
	vs := interleave(b, bundleVariantNames(variants), func(v int) testenv.Result { return variants[v].rt.Run(variants[v].b, "bench") })
	report(b, "lifecycle: run + delete", vs)
}

// BenchmarkExec runs `exec <id> true` into a running container: plain
// runc into an unconfined one, podlock-runtime into one without a
// profile, and into ones confined as a whole, whose process starts through
// the helper: by a small profile and by testenv.LargeProfile (1,000 paths
// container-wide, and 200 listed binaries in its policy), which shows how
// the helper's start grows with the profile; and the exec as containerd
// issues it, with a --process file, which podlock-runtime rewrites.
func BenchmarkExec(b *testing.B) {
	e := newEnv(b)
	e.profile("wide", wideProfile)
	runc := testenv.NewRuntime(b, "runc")
	start := func(rt *testenv.Runtime, id, profile string) {
		bundle := testenv.NewBundle(b, "sleep", "3600")
		switch profile {
		case "large":
			e.profileJSON("large", testenv.LargeProfile(b, "large", filepath.Join(bundle.Dir, "rootfs"), 200, 50, 1000))
			fallthrough
		case "wide":
			bundle.Annotate("default", "app", profile)
		}
		bundle.Write(b)
		if res := rt.Command("run", "--detach", "--bundle", bundle.Dir, id); res.Err != nil {
			b.Fatalf("run %s: %v %s %q", id, res.Err, res.Stderr, rt.LogErrors(b))
		}
		b.Cleanup(func() { rt.Command("delete", "--force", id) })
	}
	start(runc, "plain", "")
	start(e.rt, "unconfined", "")
	start(e.rt, "wide", "wide")
	start(e.rt, "large", "large")
	// containerd passes an exec's process as a --process file, which
	// podlock-runtime rewrites in place: each such exec gets a new one.
	processFile := filepath.Join(b.TempDir(), "process.json")
	const process = `{"args":["true"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0}}`
	variants := []struct {
		name, id string
		rt       *testenv.Runtime
		file     bool
	}{
		{"runc", "plain", runc, false},
		{"podlock-unconfined", "unconfined", e.rt, false},
		{"podlock-container-wide", "wide", e.rt, false},
		{"podlock-large", "large", e.rt, false},
		{"runc-process", "plain", runc, true},
		{"podlock-container-wide-process", "wide", e.rt, true},
	}
	names := make([]string, len(variants))
	for v := range variants {
		names[v] = variants[v].name
	}
	vs := interleave(b, names, func(v int) testenv.Result {
		if !variants[v].file {
			return variants[v].rt.Command("exec", variants[v].id, "true")
		}
		if err := os.WriteFile(processFile, []byte(process), 0o644); err != nil {
			b.Fatal(err)
		}
		return variants[v].rt.Command("exec", "--process", processFile, variants[v].id)
	})
	report(b, "exec <id> true", vs)
}

// BenchmarkCreateSteps measures where the milliseconds of a confined
// create go: podlock-runtime-confine logs the time of each of its steps
// with --debug (bundle: configuration, config.json and identity; lookup:
// the profiles; compile: Landlock rules against the rootfs; seccomp;
// rewrite: policy files, index entry, config.json), and the rest of the
// create's wall time is the two podlock processes' start and runc's own
// create, which runs the interposition hook. start is runc start, the
// helper's time included.
func BenchmarkCreateSteps(b *testing.B) {
	e := newEnv(b)
	e.rt.Globals = []string{"--debug"}
	e.profile("demo", testenv.QuickstartProfile)
	quick := testenv.NewBundle(b, "sh", "-c", ":").Annotate("default", "app", "demo")
	quick.Write(b)
	// The large profile as the API server serves it (JSON), and as YAML
	// in a profiles directory, whose parsing is the cost of that source.
	large := testenv.NewBundle(b, "sh", "-c", ":").Annotate("default", "app", "large")
	large.Write(b)
	manifest := testenv.LargeProfile(b, "large", filepath.Join(large.Dir, "rootfs"), 200, 50, 1000)
	largeEnv, yamlEnv := newEnv(b), newEnv(b)
	largeEnv.rt.Globals, yamlEnv.rt.Globals = []string{"--debug"}, []string{"--debug"}
	largeEnv.profileJSON("large", manifest)
	yamlEnv.profile("large", manifest)
	runc := testenv.NewRuntime(b, "runc")
	plain := testenv.NewBundle(b, "sh", "-c", ":")
	plain.Write(b)

	names := []string{"bundleMs", "lookupMs", "compileMs", "seccompMs", "rewriteMs"}
	variants := []bundleVariant{{"runc", runc, plain}, {"quickstart", e.rt, quick}, {"large", largeEnv.rt, large}, {"large-yaml", yamlEnv.rt, large}}
	samples := make([][]map[string]float64, len(variants))
	b.ResetTimer()
	for round := range b.N {
		for i := range variants {
			v := (round + i) % len(variants) // as interleave does
			variant := variants[v]
			os.Remove(variant.rt.Log)
			t0 := time.Now()
			if res := variant.rt.Command("create", "--bundle", variant.b.Dir, "steps"); res.Err != nil {
				b.Fatalf("%s create: %v %s %q", variant.name, res.Err, res.Stderr, variant.rt.LogErrors(b))
			}
			created := time.Since(t0)
			t1 := time.Now()
			if res := variant.rt.Command("start", "steps"); res.Err != nil {
				b.Fatalf("%s start: %v %s", variant.name, res.Err, res.Stderr)
			}
			started := time.Since(t1)
			variant.rt.Command("delete", "--force", "steps")
			m := map[string]float64{"createMs": ms(created), "startMs": ms(started)}
			if variant.rt != runc {
				steps := createSteps(b, variant.rt.Log)
				podlock := 0.0
				for _, n := range names {
					m[n] = steps[n]
					podlock += steps[n]
				}
				m["restMs"] = m["createMs"] - podlock
			}
			samples[v] = append(samples[v], m)
		}
	}
	b.StopTimer()
	var table strings.Builder
	fmt.Fprintf(&table, "confined create, ms (median of %d rounds)\n  %-12s", b.N, "")
	cols := append(append([]string{}, names...), "restMs", "createMs", "startMs")
	for _, c := range cols {
		fmt.Fprintf(&table, "%10s", strings.TrimSuffix(c, "Ms"))
	}
	table.WriteString("\n")
	for v, variant := range variants {
		fmt.Fprintf(&table, "  %-12s", variant.name)
		for _, c := range cols {
			vals := make([]float64, 0, len(samples[v]))
			for _, m := range samples[v] {
				if x, ok := m[c]; ok {
					vals = append(vals, x)
				}
			}
			if len(vals) == 0 {
				fmt.Fprintf(&table, "%10s", "-")
				continue
			}
			med, _, _ := quantiles(vals)
			b.ReportMetric(med, variant.name+"-"+c)
			fmt.Fprintf(&table, "%10.2f", med)
		}
		table.WriteString("\n")
	}
	show(b, table.String())
}

// createSteps reads the step times of the last create from a --log file.
func createSteps(b *testing.B, log string) map[string]float64 {
	b.Helper()
	data, err := os.ReadFile(log)
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range slices.Backward(strings.Split(strings.TrimSpace(string(data)), "\n")) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "create steps" {
			continue
		}
		out := map[string]float64{}
		for k, v := range m {
			if f, ok := v.(float64); ok {
				out[k] = f
			}
		}
		return out
	}
	b.Fatalf("no create steps in %s:\n%s", log, data)
	return nil
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

// BenchmarkProcessStart measures what one start of each podlock program
// costs, the floor under every figure above: a confined create starts
// podlock-runtime and podlock-runtime-confine, and its container the hook
// and the helper. podlock-runtime and podlock-runtime-confine hand `state`
// to /bin/true, floor executes /bin/true, the helper and the hook exit at
// once for want of a policy or a plan.
func BenchmarkProcessStart(b *testing.B) {
	bin := testenv.Binaries(b)
	handOver := []string{"PODLOCK_RUNTIME=/bin/true", "PODLOCK_CONFIG=/dev/null", "FLOOR_RUNTIME=/bin/true"}
	variants := []struct {
		name string
		argv []string
		code int
	}{
		{"/bin/true", []string{"/bin/true"}, 0},
		{"floor", []string{testenv.TestProgram(b, "floor"), "state", "x"}, 0},
		{"podlock-runtime", []string{filepath.Join(bin, "podlock-runtime"), "state", "x"}, 0},
		{"podlock-runtime-confine", []string{filepath.Join(bin, "podlock-runtime-confine"), "state", "x"}, 0},
		{"podlock-helper", []string{filepath.Join(bin, "podlock-helper")}, 126},
		{"podlock-interpose", []string{filepath.Join(bin, "podlock-interpose")}, 1},
	}
	names := make([]string, len(variants))
	for v := range variants {
		names[v] = variants[v].name
	}
	vs := interleave(b, names, func(v int) testenv.Result {
		cmd := exec.Command(variants[v].argv[0], variants[v].argv[1:]...)
		cmd.Env = append(os.Environ(), handOver...)
		err := cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code == variants[v].code {
			err = nil
		}
		return testenv.Result{Err: err}
	})
	report(b, "one process start", vs)
}

// BenchmarkCreateParts splits a confined create's cost over runc's by who
// pays it: runc-podlock-config is runc on the config.json podlock wrote
// (runc's share: podlock's mounts and the createContainer hook),
// podlock-runtime-confine called directly adds its start and work, and
// podlock-runtime the front's start on top of that. Creates only, quickstart profile, each deleted
// outside the timing.
func BenchmarkCreateParts(b *testing.B) {
	e := newEnv(b)
	e.profile("demo", testenv.QuickstartProfile)
	runc := testenv.NewRuntime(b, "runc")
	plain := testenv.NewBundle(b, "sh", "-c", ":")
	plain.Write(b)
	confined := testenv.NewBundle(b, "sh", "-c", ":").Annotate("default", "app", "demo")
	confined.Write(b)
	// A bundle with the config.json podlock writes for this container,
	// run by plain runc: the state directories it names stay in
	// confined's bundle.
	if res := e.rt.Command("create", "--bundle", confined.Dir, "parts"); res.Err != nil {
		b.Fatalf("create: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(b))
	}
	e.rt.Command("delete", "--force", "parts")
	rewritten := testenv.NewBundle(b, "sh", "-c", ":")
	rewritten.Write(b)
	config, err := os.ReadFile(filepath.Join(confined.Dir, "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rewritten.Dir, "config.json"), config, 0o644); err != nil {
		b.Fatal(err)
	}
	confine := *e.rt
	confine.Binary = filepath.Join(filepath.Dir(e.rt.Binary), "podlock-runtime-confine")
	variants := []bundleVariant{
		{"runc", runc, plain},
		{"runc-podlock-config", runc, rewritten},
		{"podlock-runtime-confine", &confine, confined},
		{"podlock-runtime", e.rt, confined},
	}
	vs := make([]variantSamples, len(variants))
	for v := range variants {
		vs[v].name = variants[v].name
	}
	b.ResetTimer()
	for round := range b.N {
		for i := range variants {
			v := (round + i) % len(variants) // as interleave does
			variant := variants[v]
			start := time.Now()
			res := variant.rt.Command("create", "--bundle", variant.b.Dir, "parts")
			vs[v].times = append(vs[v].times, time.Since(start))
			if res.Err != nil {
				b.Fatalf("%s: %v %s %q", variant.name, res.Err, res.Stderr, variant.rt.LogErrors(b))
			}
			variant.rt.Command("delete", "--force", "parts")
		}
	}
	b.StopTimer()
	report(b, "create only, quickstart profile", vs)
}
