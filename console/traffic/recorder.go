// Package traffic is the storage report's bookkeeping: a small, bounded, in-memory
// aggregator of the requests one gateway served (per minute for the last day), and the
// per-minute rows that several gateways sharing a database write and read back for the
// fleet-wide report. It uses the standard library only; the database behind Store is wired
// in by main.
package traffic

import (
	"math"
	"sort"
	"sync"
	"time"
)

// Dialects are the bounded values of Event.Dialect, in report order; anything else counts
// as "rest".
var Dialects = []string{"rest", "s3", "tus", "render", "console", "ops"}

// Classes are the status classes of the report.
var Classes = []string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// Event is one finished request as the server middleware saw it.
type Event struct {
	Dialect     string
	Method      string
	Route       string // route template, never a raw path (bounded)
	Status      int
	Duration    time.Duration
	BytesIn     int64
	BytesOut    int64
	Bucket      string // "" when the request names none
	Key         string
	RenderCache string // "hit", "miss" or ""
}

// Bounds of what one minute remembers: the report's top lists are approximate past them
// (the smallest entry makes room), which keeps memory fixed whatever the traffic.
const (
	maxBuckets = 64
	maxRoutes  = 64
	maxObjects = 64
	// TopN is how many entries each top list of a report shows.
	TopN = 10
	// dayMinutes is the in-memory history.
	dayMinutes  = 24 * 60
	hourMinutes = 60
	maxLabelLen = 1200
)

// latencyBounds are the upper bounds (seconds) of the latency histogram buckets; the last
// bucket is unbounded. Factor ~1.5 from 0.5 ms to 10 min keeps percentiles within ~25%.
var latencyBounds = func() []float64 {
	var b []float64
	for v := 0.0005; v < 600; v *= 1.5 {
		b = append(b, v)
	}
	return b
}()

// NumLatencyBuckets is the length of every latency histogram (the bounds plus +Inf).
var NumLatencyBuckets = len(latencyBounds) + 1

// counter is what the top lists keep per entry.
type counter struct {
	Requests, BytesIn, BytesOut int64
}

// minute is one minute's figures. Top lists are dropped once the minute is older than an
// hour (the hour slots keep them for the day view).
type minute struct {
	at       int64 // unix minute
	requests [6][5]int64
	latency  []int64
	bytesIn  int64
	bytesOut int64
	render   [3]int64 // hit, miss, 304
	tops     *tops
	queued   bool // handed to the Store queue
}

type tops struct {
	buckets map[string]*counter
	routes  map[string]*counter
	objects map[string]*counter
}

func newTops() *tops {
	return &tops{buckets: map[string]*counter{}, routes: map[string]*counter{}, objects: map[string]*counter{}}
}

// add counts c under name in m, making room by dropping the entry with the fewest bytes
// out (then requests) when m is full.
func add(m map[string]*counter, limit int, name string, c counter) {
	if len(name) > maxLabelLen {
		name = name[:maxLabelLen]
	}
	if e, ok := m[name]; ok {
		e.Requests += c.Requests
		e.BytesIn += c.BytesIn
		e.BytesOut += c.BytesOut
		return
	}
	if len(m) >= limit {
		var minName string
		var minC *counter
		for n, e := range m {
			if minC == nil || less(*e, *minC) {
				minName, minC = n, e
			}
		}
		if !less(*minC, c) {
			return
		}
		delete(m, minName)
	}
	cc := c
	m[name] = &cc
}

func less(a, b counter) bool {
	if a.BytesOut != b.BytesOut {
		return a.BytesOut < b.BytesOut
	}
	return a.Requests+a.BytesIn < b.Requests+b.BytesIn
}

func (t *tops) merge(o *tops) {
	for n, c := range o.buckets {
		add(t.buckets, maxBuckets, n, *c)
	}
	for n, c := range o.routes {
		add(t.routes, maxRoutes, n, *c)
	}
	for n, c := range o.objects {
		add(t.objects, maxObjects, n, *c)
	}
}

// Recorder aggregates events in memory. The zero value is not usable; call New.
type Recorder struct {
	mu      sync.Mutex
	now     func() time.Time
	minutes [dayMinutes]*minute
	hours   [24]*hourTops
	// pending are closed minutes not yet written to the Store (bounded: the oldest go).
	pending []*minute
}

type hourTops struct {
	at   int64 // unix hour
	tops *tops
}

// New returns an empty recorder; now is the clock (time.Now in production).
func New(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return 0
}

func classOf(status int) int {
	if status < 100 || status > 599 {
		return 4
	}
	return status/100 - 1
}

func latencyBucket(d time.Duration) int {
	s := d.Seconds()
	return sort.SearchFloat64s(latencyBounds, s)
}

// Record counts one request.
func (r *Recorder) Record(e Event) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.slot(now.Unix() / 60)
	m.requests[indexOf(Dialects, e.Dialect)][classOf(e.Status)]++
	m.latency[latencyBucket(e.Duration)]++
	m.bytesIn += e.BytesIn
	m.bytesOut += e.BytesOut
	switch {
	case e.Status == 304:
		m.render[2]++
	case e.RenderCache == "hit":
		m.render[0]++
	case e.RenderCache == "miss":
		m.render[1]++
	}
	c := counter{Requests: 1, BytesIn: e.BytesIn, BytesOut: e.BytesOut}
	if e.Route != "" {
		add(m.tops.routes, maxRoutes, e.Method+" "+e.Route, c)
	}
	if e.Bucket != "" {
		add(m.tops.buckets, maxBuckets, e.Bucket, c)
		if e.Key != "" && e.BytesOut > 0 {
			add(m.tops.objects, maxObjects, e.Bucket+"/"+e.Key, counter{Requests: 1, BytesOut: e.BytesOut})
		}
	}
}

// slot returns the minute's record, closing the one it replaces. Callers hold mu.
func (r *Recorder) slot(at int64) *minute {
	i := int(at % dayMinutes)
	m := r.minutes[i]
	if m != nil && m.at == at {
		return m
	}
	if m == nil {
		m = &minute{latency: make([]int64, NumLatencyBuckets)}
		r.minutes[i] = m
	} else {
		clear(m.latency)
		*m = minute{latency: m.latency}
	}
	m.at = at
	m.tops = newTops()
	r.closeOld(at)
	return m
}

// closeOld queues every finished minute for the Store once, and moves the top lists of
// minutes older than an hour into their hour slot. Callers hold mu.
func (r *Recorder) closeOld(now int64) {
	for _, m := range r.minutes {
		if m == nil || m.at >= now {
			continue
		}
		if !m.queued {
			r.queue(m)
			m.queued = true
		}
		if m.tops != nil && m.at <= now-hourMinutes {
			r.hourSlot(m.at / 60).merge(m.tops)
			m.tops = nil
		}
	}
}

const maxPending = 60

func (r *Recorder) queue(m *minute) {
	cp := *m
	cp.latency = append([]int64(nil), m.latency...)
	if m.tops != nil {
		cp.tops = newTops()
		cp.tops.merge(m.tops)
	}
	if len(r.pending) >= maxPending {
		r.pending = r.pending[1:]
	}
	r.pending = append(r.pending, &cp)
}

func (r *Recorder) hourSlot(h int64) *tops {
	i := int(h % 24)
	if r.hours[i] == nil || r.hours[i].at != h {
		r.hours[i] = &hourTops{at: h, tops: newTops()}
	}
	return r.hours[i].tops
}

// percentile reads the q-quantile (0..1) of a histogram as seconds, interpolating inside
// the bucket; 0 for an empty one.
func percentile(h []int64, q float64) float64 {
	var total int64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, n := range h {
		if n == 0 {
			continue
		}
		if seen+float64(n) >= rank {
			lo := 0.0
			if i > 0 {
				lo = latencyBounds[i-1]
			}
			hi := lo * 1.5
			if i < len(latencyBounds) {
				hi = latencyBounds[i]
			}
			frac := (rank - seen) / float64(n)
			return lo + (hi-lo)*math.Max(0, math.Min(1, frac))
		}
		seen += float64(n)
	}
	return latencyBounds[len(latencyBounds)-1]
}
