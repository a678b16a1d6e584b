package runtime_test

import (
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/kubewarden/podlock/profiles"
	"github.com/kubewarden/podlock/profiles/kube"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// BenchmarkProfileFetch measures what podlock-runtime pays to read a
// profile from a real API server on loopback: a new client per fetch, as
// each container creation is a new process, resuming the TLS session the
// previous one kept on disk. It reports the p50 and p99 latency.
func BenchmarkProfileFetch(b *testing.B) {
	a := newAPIEnv(b)
	a.cp.Apply(b, []byte(testenv.QuickstartProfile))
	kubeconfig := filepath.Join(b.TempDir(), "kubeconfig")
	if err := a.cp.WriteKubeconfig(kubeconfig, "podlock-node", a.cp.Token(nodeUser)); err != nil {
		b.Fatal(err)
	}
	ref := profiles.Ref{Namespace: "default", Name: "demo"}
	sessions := b.TempDir()
	var samples []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		src, err := kube.New(kubeconfig, kube.Options{SessionDir: sessions})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := src.LandlockProfile(context.Background(), ref); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(ms(samples[len(samples)/2]), "p50-ms")
	b.ReportMetric(ms(samples[len(samples)*99/100]), "p99-ms")
}

// BenchmarkCreateWithAPISource runs the quickstart container's lifecycle
// with its profile read from the API server and from the local directory,
// interleaved, and reports the ratio.
func BenchmarkCreateWithAPISource(b *testing.B) {
	a := newAPIEnv(b)
	a.cp.Apply(b, []byte(testenv.QuickstartProfile))
	local := newEnv(b)
	local.profile("demo", testenv.QuickstartProfile)
	bundle := testenv.NewBundle(b, "sh", "-c", ":").Annotate("default", "app", "demo")
	bundle.Write(b)
	var api, dir []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, v := range []struct {
			rt  *testenv.Runtime
			out *[]time.Duration
		}{{a.rt, &api}, {local.rt, &dir}} {
			start := time.Now()
			if res := v.rt.Run(bundle, "bench-api"); res.Err != nil {
				b.Fatalf("%v %s", res.Err, res.Stderr)
			}
			*v.out = append(*v.out, time.Since(start))
		}
	}
	b.StopTimer()
	b.ReportMetric(ms(median(api)), "api-ms")
	b.ReportMetric(ms(median(dir)), "dir-ms")
	b.ReportMetric(float64(median(api))/float64(median(dir)), "api-vs-dir-x")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
