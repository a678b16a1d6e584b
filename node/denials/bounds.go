package denials

import (
	"hash/maphash"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/landlock/audit"
)

// What one container's denials may cost podlock-node, the API server and
// the metrics: a confined program chooses its binaries' paths, the paths
// it is denied and how often, so every bound below holds whatever it does.
const (
	// dedupWindow is how long a denial is reported only once: a program
	// that retries in a loop must not flood the API server with Events,
	// while the metrics count every one.
	dedupWindow = 10 * time.Minute
	// maxDedupPerContainer bounds the reported denials remembered per
	// container (the rate limit keeps it far lower in practice); past it,
	// new ones are not remembered and only the rate limits hold.
	maxDedupPerContainer = 256
	// maxTrackedContainers bounds the containers whose Events are limited
	// separately; the one seen least recently is forgotten first.
	maxTrackedContainers = 1024
	// containerEventBurst Events per container at once, then one per
	// containerEventEvery; all containers together: globalEventRate per
	// second, bursts of globalEventBurst.
	containerEventBurst = 10
	containerEventEvery = 5 * time.Second
	globalEventRate     = 5
	globalEventBurst    = 20
	// maxFieldLength bounds the binary and the target in an Event
	// message, maxMessageLength the message.
	maxFieldLength   = 256
	maxMessageLength = 1024
	// maxSeriesPerContainer bounds the binary and access label pairs of
	// one namespace, profile and container; past it, denials are counted
	// with binary and access "other". maxContainerLabelSets bounds the
	// namespace, profile and container sets; past it, all five labels
	// are "other".
	maxSeriesPerContainer = 32
	maxContainerLabelSets = 256
	otherLabel            = "other"
)

// eventGate decides which denials become Events: each distinct denial of
// a container once per dedupWindow, within the container's and the
// node's rates.
type eventGate struct {
	log    *slog.Logger
	seed   maphash.Seed
	global *rate.Limiter

	mu              sync.Mutex
	containers      map[containerKey]*containerEvents
	globalThrottled bool
}

type containerKey struct {
	namespace, pod, podUID, container string
}

type containerEvents struct {
	limiter   *rate.Limiter
	seen      map[uint64]time.Time // by hash of binary, access and target
	last      time.Time
	throttled bool
}

func newEventGate(log *slog.Logger) *eventGate {
	return &eventGate{
		log:        log,
		seed:       maphash.MakeSeed(),
		global:     rate.NewLimiter(globalEventRate, globalEventBurst),
		containers: map[containerKey]*containerEvents{},
	}
}

// admit reports whether the denial is to be an Event, and remembers it if
// so. A denial refused for the rates is not remembered: it may be
// reported when it happens again. Limits count in the records' time, so a
// backlog read late is limited as it happened.
func (g *eventGate) admit(d audit.Denial) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	o := d.Owner
	c := g.container(containerKey{o.Namespace, o.Pod, o.PodUID, o.Container}, d.Time)
	key := maphash.String(g.seed, d.Binary+"\x00"+d.Access+"\x00"+d.Target)
	if last, ok := c.seen[key]; ok && d.Time.Sub(last) <= dedupWindow {
		return false
	}
	pod := o.Namespace + "/" + o.Pod
	// The container's own limit first: a noisy container must not use
	// up the node's.
	if !c.limiter.AllowN(d.Time, 1) {
		if !c.throttled {
			g.log.Warn("too many denials in one container to report each as an Event; they are counted in the metrics",
				"pod", pod, "container", o.Container, "burst", containerEventBurst, "every", containerEventEvery)
		}
		c.throttled = true
		return false
	}
	c.throttled = false
	if !g.global.AllowN(d.Time, 1) {
		if !g.globalThrottled {
			g.log.Warn("too many denials on this node to report each as an Event; they are counted in the metrics",
				"pod", pod, "container", o.Container, "perSecond", globalEventRate)
		}
		g.globalThrottled = true
		return false
	}
	g.globalThrottled = false
	if len(c.seen) >= maxDedupPerContainer {
		for k, t := range c.seen {
			if d.Time.Sub(t) > dedupWindow {
				delete(c.seen, k)
			}
		}
	}
	if len(c.seen) < maxDedupPerContainer {
		c.seen[key] = d.Time
	}
	return true
}

// container returns the state of a container, making room for it.
func (g *eventGate) container(k containerKey, now time.Time) *containerEvents {
	c, ok := g.containers[k]
	if !ok {
		if len(g.containers) >= maxTrackedContainers {
			g.forgetOldest()
		}
		c = &containerEvents{
			limiter: rate.NewLimiter(rate.Every(containerEventEvery), containerEventBurst),
			seen:    map[uint64]time.Time{},
		}
		g.containers[k] = c
	}
	c.last = now
	return c
}

func (g *eventGate) forgetOldest() {
	var oldest containerKey
	var at time.Time
	for k, c := range g.containers {
		if at.IsZero() || c.last.Before(at) {
			oldest, at = k, c.last
		}
	}
	delete(g.containers, oldest)
}

// labelBudget bounds the label values of the denial counter that come
// from containers.
type labelBudget struct {
	mu     sync.Mutex
	series map[[3]string]map[[2]string]bool // namespace, profile, container -> binary, access
}

func newLabelBudget() *labelBudget {
	return &labelBudget{series: map[[3]string]map[[2]string]bool{}}
}

// values returns the counter's labels for a denial: namespace, profile,
// container, binary, access, or "other" where a bound is reached.
func (b *labelBudget) values(o landlock.Owner, binary, access string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	set := [3]string{o.Namespace, o.Profile, o.Container}
	pairs, ok := b.series[set]
	if !ok {
		if len(b.series) >= maxContainerLabelSets {
			return []string{otherLabel, otherLabel, otherLabel, otherLabel, otherLabel}
		}
		pairs = map[[2]string]bool{}
		b.series[set] = pairs
	}
	pair := [2]string{binary, access}
	if !pairs[pair] {
		if len(pairs) >= maxSeriesPerContainer {
			return []string{o.Namespace, o.Profile, o.Container, otherLabel, otherLabel}
		}
		pairs[pair] = true
	}
	return []string{o.Namespace, o.Profile, o.Container, binary, access}
}

// truncate cuts s to at most n bytes, on a character boundary, marking
// the cut.
func truncate(s string, n int) string {
	const mark = "…"
	if len(s) <= n {
		return s
	}
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
