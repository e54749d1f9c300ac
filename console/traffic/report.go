package traffic

import (
	"context"
	"sort"
	"strings"
	"time"
)

// Row is one per-minute figure as stored for the fleet: Dim is "total" (requests, bytes,
// latency histogram), "dialect" (Label "rest 2xx"), "render" (hit, miss, 304), or a top
// list ("bucket", "route", "object") whose rows are summed over the window.
type Row struct {
	Minute   time.Time
	Gateway  string
	Dim      string
	Label    string
	Requests int64
	BytesIn  int64
	BytesOut int64
	Latency  []int64
}

// Store keeps the fleet's per-minute rows (Postgres, wired by main).
type Store interface {
	// SaveTraffic adds rows to what is stored for their minute, gateway, dim and label.
	SaveTraffic(ctx context.Context, rows []Row) error
	// TrafficSeries returns the total, dialect and render rows since the time, per gateway.
	TrafficSeries(ctx context.Context, since time.Time) ([]Row, error)
	// TrafficTops returns, per top-list dim, the n labels with the most bytes out (then
	// requests) since the time, summed over gateways and minutes.
	TrafficTops(ctx context.Context, since time.Time, n int) ([]Row, error)
	// PruneTraffic deletes rows older than the time.
	PruneTraffic(ctx context.Context, before time.Time) error
}

// rows renders a minute for the Store and for Build.
func (m *minute) rows(gateway string) []Row {
	t := time.Unix(m.at*60, 0).UTC()
	var total int64
	var out []Row
	for d := range m.requests {
		for c, n := range m.requests[d] {
			if n > 0 {
				total += n
				out = append(out, Row{Minute: t, Gateway: gateway, Dim: "dialect", Label: Dialects[d] + " " + Classes[c], Requests: n})
			}
		}
	}
	out = append(out, Row{Minute: t, Gateway: gateway, Dim: "total", Requests: total, BytesIn: m.bytesIn,
		BytesOut: m.bytesOut, Latency: append([]int64(nil), m.latency...)})
	for i, name := range []string{"hit", "miss", "304"} {
		if m.render[i] > 0 {
			out = append(out, Row{Minute: t, Gateway: gateway, Dim: "render", Label: name, Requests: m.render[i]})
		}
	}
	if m.tops != nil {
		out = append(out, m.tops.rows(t, gateway)...)
	}
	return out
}

func (t *tops) rows(at time.Time, gateway string) []Row {
	var out []Row
	for dim, m := range map[string]map[string]*counter{"bucket": t.buckets, "route": t.routes, "object": t.objects} {
		for label, c := range m {
			out = append(out, Row{Minute: at, Gateway: gateway, Dim: dim, Label: label, Requests: c.Requests, BytesIn: c.BytesIn, BytesOut: c.BytesOut})
		}
	}
	return out
}

// Take returns the rows of the finished minutes not yet taken, for the Store.
func (r *Recorder) Take(gateway string) []Row {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeOld(r.now().Unix() / 60)
	var out []Row
	for _, m := range r.pending {
		out = append(out, m.rows(gateway)...)
	}
	r.pending = nil
	return out
}

// Rows returns what the recorder holds for the window ending now: every minute's series
// rows, and the top lists (per minute within the last hour, per hour before).
func (r *Recorder) Rows(window time.Duration) []Row {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now().Unix() / 60
	from := now - int64(window/time.Minute) + 1
	var out []Row
	for _, m := range r.minutes {
		if m != nil && m.at >= from && m.at <= now {
			out = append(out, m.rows("")...)
		}
	}
	for _, h := range r.hours {
		if window > time.Hour && h != nil && h.at*60+59 >= from && h.at*60 <= now {
			out = append(out, h.tops.rows(time.Unix(h.at*3600, 0).UTC(), "")...)
		}
	}
	return out
}

// Report is what /console/report shows: per-step series and the window's totals and top lists.
type Report struct {
	Scope       string  `json:"scope"`
	Window      string  `json:"window"`
	From        int64   `json:"from"` // unix seconds
	To          int64   `json:"to"`
	StepSeconds int     `json:"step_seconds"`
	Gateways    int     `json:"gateways,omitempty"`
	Series      []Point `json:"series"`
	Totals      Point   `json:"totals"`
	Buckets     []Top   `json:"buckets"`
	Routes      []Top   `json:"routes"`
	Objects     []Top   `json:"objects"`
}

// Point is the figures of one step (or of the whole window, as Totals).
type Point struct {
	T           int64            `json:"t"`
	Requests    int64            `json:"requests"`
	PerSecond   float64          `json:"per_second"`
	ByClass     map[string]int64 `json:"by_class"` // "rest 2xx" → requests
	P50         float64          `json:"p50_seconds"`
	P95         float64          `json:"p95_seconds"`
	P99         float64          `json:"p99_seconds"`
	BytesIn     int64            `json:"bytes_in"`
	BytesOut    int64            `json:"bytes_out"`
	RenderHit   int64            `json:"render_hits"`
	RenderMiss  int64            `json:"render_misses"`
	NotModified int64            `json:"not_modified"`
	latency     []int64
}

// Top is one entry of a top list.
type Top struct {
	Name     string `json:"name"`
	Requests int64  `json:"requests"`
	BytesIn  int64  `json:"bytes_in"`
	BytesOut int64  `json:"bytes_out"`
}

func (p *Point) add(r Row) {
	switch r.Dim {
	case "total":
		p.Requests += r.Requests
		p.BytesIn += r.BytesIn
		p.BytesOut += r.BytesOut
		if p.latency == nil {
			p.latency = make([]int64, NumLatencyBuckets)
		}
		for i, n := range r.Latency {
			if i < len(p.latency) {
				p.latency[i] += n
			}
		}
	case "dialect":
		if p.ByClass == nil {
			p.ByClass = map[string]int64{}
		}
		p.ByClass[r.Label] += r.Requests
	case "render":
		switch r.Label {
		case "hit":
			p.RenderHit += r.Requests
		case "miss":
			p.RenderMiss += r.Requests
		case "304":
			p.NotModified += r.Requests
		}
	}
}

func (p *Point) finish(seconds float64) {
	p.PerSecond = float64(p.Requests) / seconds
	p.P50, p.P95, p.P99 = percentile(p.latency, 0.50), percentile(p.latency, 0.95), percentile(p.latency, 0.99)
}

// Windows are the report's windows by name, with their chart step.
var Windows = map[string]struct{ Span, Step time.Duration }{
	"hour": {time.Hour, time.Minute},
	"day":  {24 * time.Hour, 10 * time.Minute},
}

// Build turns rows into the report of the window ending at now.
func Build(rows []Row, scope, window string, now time.Time) Report {
	w := Windows[window]
	step := int64(w.Step / time.Second)
	to := now.Unix()/step*step + step
	from := to - int64(w.Span/time.Second)
	rep := Report{Scope: scope, Window: window, From: from, To: to, StepSeconds: int(step)}
	rep.Series = make([]Point, (to-from)/step)
	for i := range rep.Series {
		rep.Series[i].T = from + int64(i)*step
	}
	tops := map[string]map[string]*Top{"bucket": {}, "route": {}, "object": {}}
	gateways := map[string]bool{}
	for _, r := range rows {
		if m, ok := tops[r.Dim]; ok {
			t := m[r.Label]
			if t == nil {
				t = &Top{Name: r.Label}
				m[r.Label] = t
			}
			t.Requests += r.Requests
			t.BytesIn += r.BytesIn
			t.BytesOut += r.BytesOut
			continue
		}
		sec := r.Minute.Unix()
		if sec < from || sec >= to {
			continue
		}
		gateways[r.Gateway] = true
		rep.Series[(sec-from)/step].add(r)
		rep.Totals.add(r)
	}
	for i := range rep.Series {
		rep.Series[i].finish(float64(step))
	}
	rep.Totals.finish(float64(to - from))
	rep.Totals.T = from
	if scope == "fleet" {
		rep.Gateways = len(gateways)
	}
	rep.Buckets = top(tops["bucket"], func(t *Top) int64 { return t.BytesIn + t.BytesOut })
	rep.Routes = top(tops["route"], func(t *Top) int64 { return t.Requests })
	rep.Objects = top(tops["object"], func(t *Top) int64 { return t.BytesOut })
	return rep
}

func top(m map[string]*Top, by func(*Top) int64) []Top {
	out := make([]Top, 0, len(m))
	for _, t := range m {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		if by(&out[i]) != by(&out[j]) {
			return by(&out[i]) > by(&out[j])
		}
		return strings.Compare(out[i].Name, out[j].Name) < 0
	})
	if len(out) > TopN {
		out = out[:TopN]
	}
	return out
}
