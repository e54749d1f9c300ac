package traffic

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// clock is an injected clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 2, 10, 0, 30, 0, time.UTC)} }

func TestReportCountsWhatWasRecorded(t *testing.T) {
	t.Parallel()
	c := newClock()
	r := New(c.now)
	r.Record(Event{Dialect: "rest", Method: "GET", Route: "/object/:bucket/*", Status: 200, Duration: 3 * time.Millisecond,
		BytesOut: 1000, Bucket: "photos", Key: "cat.jpg"})
	r.Record(Event{Dialect: "rest", Method: "GET", Route: "/object/:bucket/*", Status: 200, Duration: 4 * time.Millisecond,
		BytesOut: 5000, Bucket: "photos", Key: "dog.jpg"})
	r.Record(Event{Dialect: "s3", Method: "PUT", Route: "/s3/*", Status: 200, Duration: 40 * time.Millisecond, BytesIn: 7000, Bucket: "photos", Key: "new.jpg"})
	r.Record(Event{Dialect: "render", Method: "GET", Route: "/render/image/authenticated/:bucket/*", Status: 200, BytesOut: 10, RenderCache: "hit", Bucket: "photos", Key: "cat.jpg"})
	r.Record(Event{Dialect: "render", Method: "GET", Route: "/render/image/authenticated/:bucket/*", Status: 200, BytesOut: 10, RenderCache: "miss", Bucket: "photos", Key: "cat.jpg"})
	r.Record(Event{Dialect: "rest", Method: "GET", Route: "/object/:bucket/*", Status: 304, Bucket: "photos", Key: "cat.jpg"})
	r.Record(Event{Dialect: "rest", Method: "GET", Route: "/bucket/:bucket", Status: 400, Bucket: "nope"})
	r.Record(Event{Dialect: "weird", Status: 999})

	rep := r.Local("hour")
	tot := rep.Totals
	checks := []struct {
		name      string
		got, want int64
	}{
		{"requests", tot.Requests, 8},
		{"rest 2xx", tot.ByClass["rest 2xx"], 2},
		{"rest 3xx", tot.ByClass["rest 3xx"], 1},
		{"rest 4xx", tot.ByClass["rest 4xx"], 1},
		{"unknown dialect and status count as rest 5xx", tot.ByClass["rest 5xx"], 1},
		{"s3 2xx", tot.ByClass["s3 2xx"], 1},
		{"bytes in", tot.BytesIn, 7000},
		{"bytes out", tot.BytesOut, 6020},
		{"render hits", tot.RenderHit, 1},
		{"render misses", tot.RenderMiss, 1},
		{"304s", tot.NotModified, 1},
		{"series points of the hour", int64(len(rep.Series)), 60},
		{"top object by egress", rep.Objects[0].BytesOut, 5000},
		{"top bucket requests", rep.Buckets[0].Requests, 6},
		{"top route requests", rep.Routes[0].Requests, 3},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	if rep.Objects[0].Name != "photos/dog.jpg" || rep.Buckets[0].Name != "photos" || rep.Routes[0].Name != "GET /object/:bucket/*" {
		t.Errorf("tops = %+v / %+v / %+v", rep.Objects[0], rep.Buckets[0], rep.Routes[0])
	}
	if last := rep.Series[len(rep.Series)-1]; last.Requests != 8 {
		t.Errorf("the current minute is the last point: got %+v", last)
	}
	if !(tot.P50 > 0 && tot.P50 <= tot.P95 && tot.P95 <= tot.P99) {
		t.Errorf("percentiles %v %v %v not ordered", tot.P50, tot.P95, tot.P99)
	}
}

// One minute of a million distinct keys keeps at most maxObjects entries, and the object
// with the most egress is still on top.
func TestTopListsStayBounded(t *testing.T) {
	t.Parallel()
	r := New(newClock().now)
	for i := 0; i < 20000; i++ {
		r.Record(Event{Dialect: "rest", Status: 200, Route: fmt.Sprintf("/r%d", i%500), Bucket: fmt.Sprintf("b%d", i%300), Key: fmt.Sprintf("k%d", i), BytesOut: int64(i % 1000)})
	}
	r.Record(Event{Dialect: "rest", Status: 200, Bucket: "b1", Key: "huge", BytesOut: 1 << 40})
	m := r.minutes[int(r.now().Unix()/60%dayMinutes)]
	if len(m.tops.objects) > maxObjects || len(m.tops.buckets) > maxBuckets || len(m.tops.routes) > maxRoutes {
		t.Fatalf("top lists grew to %d/%d/%d entries", len(m.tops.objects), len(m.tops.buckets), len(m.tops.routes))
	}
	rep := r.Local("hour")
	if rep.Objects[0].Name != "b1/huge" || len(rep.Objects) != TopN {
		t.Fatalf("top objects = %+v", rep.Objects)
	}
}

// Finished minutes go to the Store once; after an hour a minute's top lists move to its
// hour slot: the day report still shows them, the hour report no longer does.
func TestMinutesCloseAndAge(t *testing.T) {
	t.Parallel()
	c := newClock()
	r := New(c.now)
	r.Record(Event{Dialect: "rest", Status: 200, Bucket: "old", Key: "x", BytesOut: 99, Duration: time.Millisecond})
	if rows := r.Take("g1"); len(rows) != 0 {
		t.Fatalf("the running minute was taken: %+v", rows)
	}
	c.add(time.Minute)
	rows := r.Take("g1")
	var total, object bool
	for _, row := range rows {
		total = total || (row.Dim == "total" && row.Requests == 1 && row.BytesOut == 99 && row.Gateway == "g1" && len(row.Latency) == NumLatencyBuckets)
		object = object || (row.Dim == "object" && row.Label == "old/x")
	}
	if !total || !object {
		t.Fatalf("rows of the finished minute: %+v", rows)
	}
	if again := r.Take("g1"); len(again) != 0 {
		t.Fatalf("a minute was taken twice: %+v", again)
	}
	c.add(2 * time.Hour)
	r.Record(Event{Dialect: "rest", Status: 200, Bucket: "new", Key: "y", BytesOut: 1})
	if hour := r.Local("hour"); hour.Totals.Requests != 1 || len(hour.Objects) != 1 || hour.Objects[0].Name != "new/y" {
		t.Fatalf("hour report = %+v", hour.Objects)
	}
	day := r.Local("day")
	if day.Totals.Requests != 2 || len(day.Objects) != 2 || day.Objects[0].Name != "old/x" {
		t.Fatalf("day report: %d requests, objects %+v", day.Totals.Requests, day.Objects)
	}
	c.add(25 * time.Hour)
	if day := r.Local("day"); day.Totals.Requests != 0 || len(day.Objects) != 0 {
		t.Fatalf("a day later the report still shows %d requests, %+v", day.Totals.Requests, day.Objects)
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	h := make([]int64, NumLatencyBuckets)
	for _, tc := range []struct {
		name string
		fill map[time.Duration]int64
		q    float64
		lo   float64
		hi   float64
	}{
		{"empty", nil, 0.5, 0, 0},
		{"all at 10 ms", map[time.Duration]int64{10 * time.Millisecond: 100}, 0.99, 0.007, 0.015},
		{"one slow outlier sets p99 only", map[time.Duration]int64{time.Millisecond: 99, 2 * time.Second: 1}, 0.5, 0.0006, 0.0012},
		{"a very slow request lands in the last bucket", map[time.Duration]int64{time.Hour: 1}, 0.5, 600, 1e9},
	} {
		clear(h)
		for d, n := range tc.fill {
			h[latencyBucket(d)] += n
		}
		if got := percentile(h, tc.q); got < tc.lo || got > tc.hi {
			t.Errorf("%s: p%v = %v, want in [%v, %v]", tc.name, tc.q*100, got, tc.lo, tc.hi)
		}
	}
}

// A full day of traffic with more distinct buckets, routes and keys every minute than the
// top lists keep: the recorder's memory stays within a few MB (the idle RSS budget).
// Not parallel: it reads the heap.
func TestMemoryStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("records a day of minutes")
	}
	c := newClock()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := New(c.now)
	for m := 0; m < dayMinutes+30; m++ {
		for i := 0; i < 120; i++ {
			r.Record(Event{Dialect: Dialects[i%len(Dialects)], Status: 200 + i%4*100, Method: "GET", Route: fmt.Sprintf("/route/%d", i),
				Bucket: fmt.Sprintf("bucket-%d-%d", m, i%100), Key: fmt.Sprintf("some/longer/key/name/%d/%d.jpg", m, i), BytesOut: int64(i), Duration: time.Duration(i) * time.Millisecond})
		}
		c.add(time.Minute)
		if m%60 == 0 {
			r.Take("g") // the flusher empties the queue once a minute
		}
	}
	r.Take("g")
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("a full day in memory: %.2f MiB of heap", float64(grown)/(1<<20))
	if grown > 8<<20 {
		t.Fatalf("the recorder holds %d MiB after a day", grown>>20)
	}
	runtime.KeepAlive(r)
}
