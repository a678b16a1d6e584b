// Package denials reports the Landlock denials of confined processes,
// read from the kernel's audit records and attributed to their containers
// through podlock-runtime's index, as Events on their pods and as
// Prometheus counters, within bounds that hold whatever a container does.
package denials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/landlock/audit"
	"github.com/kubewarden/podlock/runtime/index"
)

// Events that podlock-node reports denials with.
const (
	denialReason    = "PodlockDenied"
	eventController = "podlock.kubewarden.io/podlock-node"
	// otherDaemonRetry is how often podlock-node checks whether another
	// audit daemon has gone.
	otherDaemonRetry = 5 * time.Second
	// collectEvery is how often the index entries of stopped containers
	// are removed, collectGrace how old they must be.
	collectEvery = time.Minute
	collectGrace = time.Minute
)

// Reporter publishes denials as Events on their pods and as counters.
type Reporter struct {
	client  kubernetes.Interface
	log     *slog.Logger
	node    string
	counter *prometheus.CounterVec
	labels  *labelBudget
	events  *eventGate
}

// NewReporter returns a reporter for node that registers its counter with reg.
func NewReporter(client kubernetes.Interface, log *slog.Logger, node string, reg prometheus.Registerer) *Reporter {
	counter := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podlock_denials_total",
		Help: "Accesses denied to processes confined by podlock, by namespace, profile, container, binary and access right.",
	}, []string{"namespace", "profile", "container", "binary", "access"})
	reg.MustRegister(counter)
	return &Reporter{
		client:  client,
		log:     log,
		node:    node,
		counter: counter,
		labels:  newLabelBudget(),
		events:  newEventGate(log),
	}
}

// Watch reports the denials the kernel records until ctx ends, attributing
// each to the container that the index names for the process's cgroups.
// While another audit daemon runs, it waits for it to go.
func (r *Reporter) Watch(ctx context.Context, procRoot string, containers *index.Reader) error {
	ownerOf, err := audit.CgroupOwner(procRoot, func(cgroups []string) (landlock.Owner, bool) {
		e, ok := containers.Container(cgroups)
		return e.Owner, ok
	})
	if err != nil {
		return err
	}
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
	assembler := audit.NewAssembler(ownerOf)
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

// Collect removes, now and then until ctx ends, the index entries of
// containers that have no process left.
func Collect(ctx context.Context, log *slog.Logger, containers *index.Reader, procRoot string) {
	for {
		processes, err := allCgroups(procRoot)
		if err == nil {
			var removed []index.Entry
			removed, err = containers.Collect(processes, collectGrace)
			if len(removed) > 0 {
				log.Debug("removed the container index entries of stopped containers", "count", len(removed))
			}
		}
		if err != nil {
			log.Error("removing the container index entries of stopped containers", "dir", containers.Dir(), "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(collectEvery):
		}
	}
}

// allCgroups returns the cgroup paths of every process.
func allCgroups(procRoot string) ([][]string, error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return nil, err
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return nil, err
	}
	out := make([][]string, 0, len(procs))
	for _, p := range procs {
		cgroups, err := p.Cgroups()
		if err != nil {
			continue // gone
		}
		paths := make([]string, 0, len(cgroups))
		for _, c := range cgroups {
			paths = append(paths, c.Path)
		}
		out = append(out, paths)
	}
	return out, nil
}

func (r *Reporter) report(ctx context.Context, d audit.Denial) {
	o := d.Owner
	r.counter.WithLabelValues(r.labels.values(o, d.Binary, d.Access)...).Inc()
	if o.Pod == "" {
		return // not a pod: nothing to attach an Event to
	}
	if !r.events.admit(d) {
		return
	}
	profile := o.Profiles()
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
		Message:             eventMessage(o.Container, d, profile),
		Type:                corev1.EventTypeWarning,
		Source:              corev1.EventSource{Component: "podlock-node", Host: r.node},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: eventController,
		ReportingInstance:   r.node,
	}
	if _, err := r.client.CoreV1().Events(o.Namespace).Create(ctx, event, metav1.CreateOptions{}); err != nil {
		r.log.Error("reporting a denial", "pod", o.Namespace+"/"+o.Pod, "denial", truncate(d.String(), maxMessageLength), "error", err)
	}
}

// eventMessage says what was denied, with the parts the container chose
// (the binary's path and the target) cut to a length.
func eventMessage(container string, d audit.Denial, profile string) string {
	d.Binary, d.Target = truncate(d.Binary, maxFieldLength), truncate(d.Target, maxFieldLength)
	return truncate(fmt.Sprintf("container %s: %s (%s)", container, d.String(), profile), maxMessageLength)
}
