package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kubewarden/podlock/profiles"
	"github.com/kubewarden/podlock/profiles/kube"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// BenchmarkProfileFetch measures what podlock-runtime pays to read a
// profile from a real API server on loopback: a new client per fetch, as
// each container creation is a new process, resuming the TLS session the
// previous one kept on disk. It reports the p50 and p99 latency, and beside
// them the API server's own for the same requests, from its audit log
// (request received -> response complete, in microseconds).
func BenchmarkProfileFetch(b *testing.B) {
	auditDir := b.TempDir()
	policy := filepath.Join(auditDir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		b.Fatal(err)
	}
	auditLog := filepath.Join(auditDir, "audit.log")
	a := newAPIEnv(b, "--audit-policy-file", policy, "--audit-log-path", auditLog, "--audit-log-mode", "blocking")
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
	p50, p99 := samples[len(samples)/2], samples[len(samples)*99/100]
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	server := auditLatencies(b, auditLog, nodeUser)
	if len(server) < len(samples) {
		data, _ := os.ReadFile(auditLog)
		b.Fatalf("the audit log has %d profile reads of %s, want %d:\n%.3000s", len(server), nodeUser, len(samples), data)
	}
	server = server[len(server)-len(samples):]
	sort.Slice(server, func(i, j int) bool { return server[i] < server[j] })
	s50, s99 := server[len(server)/2], server[len(server)*99/100]
	b.ReportMetric(ms(s50), "apiserver-p50-ms")
	b.ReportMetric(ms(s99), "apiserver-p99-ms")
	show(b, fmt.Sprintf("profile fetch (%d fetches, new client each): p50 %.2f ms, p99 %.2f ms; the API server's own: p50 %.2f ms, p99 %.2f ms\n",
		len(samples), ms(p50), ms(p99), ms(s50), ms(s99)))
}

// auditPolicy records reads of LandlockProfiles, and nothing else.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  resources:
  - group: podlock.kubewarden.io
    resources: [landlockprofiles]
  verbs: [get]
- level: None
`

// auditLatencies returns, in order, the API server's time for each get of
// a LandlockProfile by user: from the request's receipt to its response.
func auditLatencies(b *testing.B, file, user string) []time.Duration {
	b.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	var out []time.Duration
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e auditEvent
		if json.Unmarshal([]byte(line), &e) != nil || e.Stage != "ResponseComplete" || e.Verb != "get" || e.User.Username != user {
			continue
		}
		out = append(out, e.StageTimestamp.Sub(e.RequestReceivedTimestamp))
	}
	return out
}

type auditEvent struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string `json:"username"`
	} `json:"user"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
	StageTimestamp           time.Time `json:"stageTimestamp"`
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
