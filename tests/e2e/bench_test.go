package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubewarden/podlock/tests/internal/cluster"
	"github.com/kubewarden/podlock/tests/internal/podlockctl"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// benchPods is how many pods one batch creates.
const benchPods = 20

// BenchmarkPodStartup measures how long pods take from creation to
// running with podlock (runtime class podlock and the quickstart profile:
// podlock-runtime reads the profile from the apiserver and compiles it for
// every container) and without (the plain runc handler), in one cluster,
// as ratios: absolute times depend on how busy the machine is, the ratio
// much less. Each round creates a batch of benchPods pods per variant,
// back to back, variants alternating which goes first.
//
// Three figures per variant: per pod, the time from the create request to
// the container's start as the CRI records it (nanoseconds; the API's
// timestamps have seconds only), median over the pods; per batch, the time
// until the apiserver shows every pod Running (includes the kubelet's
// one-second PLEG relist); and per container, the CRI's created -> started
// (containerd 2.x runs the OCI create in StartContainer, so this is where
// podlock-runtime's work is), median. Run with -benchtime 1x: one round is
// 2 x benchPods pods, and each call starts a cluster.
func BenchmarkPodStartup(b *testing.B) {
	c := cluster.Start(b, cluster.Options{})
	podlockctl.Start(b, c.API, controllerConfig)
	c.API.Apply(b, []byte(testenv.QuickstartProfile))
	variants := []struct {
		name string
		opts []func(*corev1.Pod)
	}{
		{"podlock", []func(*corev1.Pod){withProfile("demo")}},
		{"runc", []func(*corev1.Pod){withRuntimeClass(cluster.RuntimeClassRunc)}},
	}
	// Warm up both paths (page cache of the binaries, the first shims).
	for _, v := range variants {
		batch(b, c, "warmup-"+v.name, 2, v.opts)
	}
	perPod := map[string][]time.Duration{}
	wall := map[string][]time.Duration{}
	createStart := map[string][]time.Duration{}
	cpu := map[string]cpuUse{}
	b.ResetTimer()
	for round := 0; round < b.N; round++ {
		order := []int{0, 1}
		if round%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			v := variants[i]
			res := batch(b, c, fmt.Sprintf("%s-%d", v.name, round), benchPods, v.opts)
			perPod[v.name] = append(perPod[v.name], res.toStart...)
			createStart[v.name] = append(createStart[v.name], res.createToStart...)
			wall[v.name] = append(wall[v.name], res.wall)
			if cpu[v.name] == nil {
				cpu[v.name] = cpuUse{}
			}
			for k, sec := range res.cpu {
				cpu[v.name][k] += sec
			}
		}
	}
	b.StopTimer()
	pl, rc := median(perPod["podlock"]), median(perPod["runc"])
	wpl, wrc := median(wall["podlock"]), median(wall["runc"])
	cpl, crc := median(createStart["podlock"]), median(createStart["runc"])
	b.ReportMetric(ms(pl), "podlock-ms/pod")
	b.ReportMetric(ms(rc), "runc-ms/pod")
	b.ReportMetric(ms(pl)/ms(rc), "ratio/pod")
	b.ReportMetric(ms(wpl), "podlock-ms/batch")
	b.ReportMetric(ms(wrc), "runc-ms/batch")
	b.ReportMetric(ms(wpl)/ms(wrc), "ratio/batch")
	b.ReportMetric(ms(cpl), "podlock-ms/start")
	b.ReportMetric(ms(crc), "runc-ms/start")
	b.ReportMetric(ms(cpl)/ms(crc), "ratio/start")
	var table strings.Builder
	fmt.Fprintf(&table, "%d pods per batch, %d round(s), medians:\n"+
		"  pod creation -> container started (CRI):  podlock %7v  runc %7v  ratio %.2f\n"+
		"  batch creation -> all pods Running (API): podlock %7v  runc %7v  ratio %.2f\n"+
		"  container created -> started (CRI):       podlock %7v  runc %7v  ratio %.2f\n",
		benchPods, b.N,
		pl.Round(time.Millisecond), rc.Round(time.Millisecond), ms(pl)/ms(rc),
		wpl.Round(time.Millisecond), wrc.Round(time.Millisecond), ms(wpl)/ms(wrc),
		cpl.Round(time.Millisecond), crc.Round(time.Millisecond), ms(cpl)/ms(crc))
	// Where the CPU went, per pod: on two cores that 20 starting pods
	// saturate, every CPU millisecond a pod costs delays the others.
	table.WriteString("CPU ms per pod, batch creation to all Running (other: runtimes, shims, containers, this test)\n")
	fmt.Fprintf(&table, "  %-16s %9s %9s %9s\n", "", "podlock", "runc", "podlock-runc")
	perPodCPU := func(v, k string) float64 { return cpu[v][k] * 1000 / float64(b.N*benchPods) }
	var totals [2]float64
	for _, k := range append(append([]string{}, cpuDaemons...), "other") {
		p, r := perPodCPU("podlock", k), perPodCPU("runc", k)
		totals[0], totals[1] = totals[0]+p, totals[1]+r
		fmt.Fprintf(&table, "  %-16s %9.1f %9.1f %+9.1f\n", k, p, r, p-r)
		b.ReportMetric(p, "podlock-cpu-ms/pod-"+k)
		b.ReportMetric(r, "runc-cpu-ms/pod-"+k)
	}
	fmt.Fprintf(&table, "  %-16s %9.1f %9.1f %+9.1f", "total", totals[0], totals[1], totals[0]-totals[1])
	if b.N > 1 {
		// The testing package keeps ten lines of a benchmark's log.
		fmt.Println(table.String())
	} else {
		b.Log(table.String())
	}
}

// batchResult is what one batch measured.
type batchResult struct {
	// toStart is, per pod, its create request -> its container started.
	toStart []time.Duration
	// createToStart is, per pod, its container created -> started (CRI).
	createToStart []time.Duration
	// wall is the first create request -> the API shows all Running.
	wall time.Duration
	// cpu is what the machine's processes spent meanwhile.
	cpu cpuUse
}

// batch creates n pods labelled batch=name back to back, waits until all
// run, and measures. It then deletes them and waits until they are gone,
// so that batches do not overlap.
func batch(b *testing.B, c *cluster.Cluster, name string, n int, opts []func(*corev1.Pod)) batchResult {
	b.Helper()
	created := map[string]time.Time{}
	cpuBefore := sampleCPU()
	first := time.Now()
	for i := range n {
		p := pod(fmt.Sprintf("%s-%d", name, i), longRunning, opts...)
		p.Labels["batch"] = name
		created[p.Name] = time.Now()
		c.CreatePod(b, p)
	}
	selector := url.Values{"labelSelector": {"batch=" + name}}.Encode()
	running := map[string]*corev1.Pod{}
	var last time.Time
	deadline := time.Now().Add(3 * time.Minute)
	for len(running) < n {
		if time.Now().After(deadline) {
			b.Fatalf("batch %s: %d of %d pods running after 3 minutes", name, len(running), n)
		}
		for _, p := range listPods(b, c, selector) {
			if p.Status.Phase == corev1.PodRunning && running[p.Name] == nil {
				running[p.Name] = &p
				last = time.Now()
			}
			if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
				b.Fatalf("batch %s: pod %s ended:\n%s", name, p.Name, cluster.DescribePod(&p))
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	res := batchResult{wall: last.Sub(first), cpu: cpuBetween(cpuBefore, sampleCPU())}
	for podName, p := range running {
		st, err := c.ContainerStatus(cluster.ContainerID(p, "app"))
		if err != nil {
			b.Fatal(err)
		}
		res.toStart = append(res.toStart, time.Unix(0, st.StartedAt).Sub(created[podName]))
		res.createToStart = append(res.createToStart, time.Duration(st.StartedAt-st.CreatedAt))
	}

	status, body, err := c.API.Do(http.MethodDelete, "/api/v1/namespaces/default/pods?gracePeriodSeconds=1&"+selector, nil)
	if err != nil || status != http.StatusOK {
		b.Fatalf("deleting batch %s: %d %v %s", name, status, err, body)
	}
	for deadline := time.Now().Add(2 * time.Minute); len(listPods(b, c, selector)) > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("batch %s: pods not gone 2 minutes after deletion", name)
		}
	}
	return res
}

func listPods(b *testing.B, c *cluster.Cluster, selector string) []corev1.Pod {
	status, body, err := c.API.Do(http.MethodGet, "/api/v1/namespaces/default/pods?"+selector, nil)
	if err != nil || status != http.StatusOK {
		b.Fatalf("listing pods: %d %v %s", status, err, body)
	}
	var list corev1.PodList
	if err := json.Unmarshal(body, &list); err != nil {
		b.Fatal(err)
	}
	return list.Items
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
