package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubewarden/podlock/landlock/audit"
)

// Events that podlock-node reports denials with.
const (
	denialReason    = "PodlockDenied"
	eventController = "podlock.kubewarden.io/podlock-node"
	// dedupWindow is how long a denial is reported only once: a program
	// that retries in a loop must not flood the API server with Events,
	// while the metrics count every one.
	dedupWindow = 10 * time.Minute
	// otherDaemonRetry is how often podlock-node checks whether another
	// audit daemon has gone.
	otherDaemonRetry = 5 * time.Second
)

// reporter publishes denials as Events on their pods and as counters.
type reporter struct {
	client  kubernetes.Interface
	log     *slog.Logger
	node    string
	limiter *rate.Limiter
	counter *prometheus.CounterVec

	mu   sync.Mutex
	seen map[string]time.Time
}

func newReporter(client kubernetes.Interface, log *slog.Logger, node string, reg prometheus.Registerer) *reporter {
	counter := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podlock_denials_total",
		Help: "Accesses denied to processes confined by podlock, by namespace, profile, container, binary and access right.",
	}, []string{"namespace", "profile", "container", "binary", "access"})
	reg.MustRegister(counter)
	return &reporter{
		client:  client,
		log:     log,
		node:    node,
		limiter: rate.NewLimiter(rate.Limit(5), 20),
		counter: counter,
		seen:    map[string]time.Time{},
	}
}

// watch reports the denials the kernel records until ctx ends. While
// another audit daemon runs, it waits for it to go.
func (r *reporter) watch(ctx context.Context, procRoot string) error {
	conn, err := audit.Listen()
	for errors.Is(err, audit.ErrOtherDaemon) {
		r.log.Warn("denials are not reported while another audit daemon runs", "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(otherDaemonRetry):
		}
		conn, err = audit.Listen()
	}
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		if err := conn.Close(); err != nil {
			r.log.Error("restoring the audit status", "error", err)
		}
	}()
	assembler := audit.NewAssembler(audit.ProcOwner(procRoot))
	for {
		rec, err := conn.Receive()
		if errors.Is(err, audit.ErrClosed) {
			return nil
		}
		if err != nil {
			r.log.Error("reading audit records", "error", err)
			continue
		}
		for _, d := range assembler.Add(rec) {
			r.report(ctx, d)
		}
	}
}

func (r *reporter) report(ctx context.Context, d audit.Denial) {
	o := d.Owner
	r.counter.WithLabelValues(o.Namespace, o.Profile, o.Container, d.Binary, d.Access).Inc()
	if o.Pod == "" {
		return // not a pod: nothing to attach an Event to
	}
	key := strings.Join([]string{o.Namespace, o.Pod, o.PodUID, o.Container, d.Binary, d.Access, d.Target}, "\x00")
	r.mu.Lock()
	last, dup := r.seen[key]
	if !dup || d.Time.Sub(last) > dedupWindow {
		r.seen[key] = d.Time
	}
	for k, t := range r.seen {
		if d.Time.Sub(t) > dedupWindow {
			delete(r.seen, k)
		}
	}
	r.mu.Unlock()
	if dup && d.Time.Sub(last) <= dedupWindow {
		return
	}
	if !r.limiter.Allow() {
		r.log.Warn("too many denials to report as Events", "pod", o.Namespace+"/"+o.Pod, "denial", d.String())
		return
	}
	profile := "profile " + o.Profile
	if o.Profile == "" {
		// Without a LandlockProfile, only the namespace binds a
		// SeccompProfile.
		profile = "SeccompProfile " + o.NamespaceSeccomp
	}
	now := metav1.NewTime(d.Time)
	event := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: o.Pod + ".podlock-", Namespace: o.Namespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "v1",
			Kind:       "Pod",
			Namespace:  o.Namespace,
			Name:       o.Pod,
			UID:        types.UID(o.PodUID),
			FieldPath:  "spec.containers{" + o.Container + "}",
		},
		Reason:              denialReason,
		Message:             fmt.Sprintf("container %s: %s (%s)", o.Container, d.String(), profile),
		Type:                corev1.EventTypeWarning,
		Source:              corev1.EventSource{Component: "podlock-node", Host: r.node},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: eventController,
		ReportingInstance:   r.node,
	}
	if _, err := r.client.CoreV1().Events(o.Namespace).Create(ctx, event, metav1.CreateOptions{}); err != nil {
		r.log.Error("reporting a denial", "pod", o.Namespace+"/"+o.Pod, "denial", d.String(), "error", err)
	}
}
