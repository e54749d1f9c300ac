package main

import (
	"context"
	"testing"
	"time"

	"github.com/stowage/stowage/console/traffic"
	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
)

// Two gateways sharing a database: each writes its finished minutes, and the fleet report
// read back from Postgres sums both, names both and merges their top lists.
func TestFleetReportSumsGateways(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := db.Open(ctx, pgtest.URL(t), db.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	store := trafficStore{d}
	now := time.Now().Add(-5 * time.Minute)
	clock := func() time.Time { return now }
	a, b := traffic.New(clock), traffic.New(clock)
	for i := 0; i < 3; i++ {
		a.Record(traffic.Event{Dialect: "rest", Method: "GET", Route: "/object/:bucket/*", Status: 200, BytesOut: 100, Bucket: "pics", Key: "a.jpg", Duration: time.Millisecond})
	}
	b.Record(traffic.Event{Dialect: "s3", Method: "GET", Route: "/s3/*", Status: 200, BytesOut: 1000, Bucket: "pics", Key: "b.jpg", Duration: time.Millisecond})
	b.Record(traffic.Event{Dialect: "s3", Method: "PUT", Route: "/s3/*", Status: 403, BytesIn: 5, Bucket: "pics", Key: "c.jpg"})
	now = now.Add(time.Minute) // the minute is finished: Flush writes it
	if err := a.Flush(ctx, store, "gw-a"); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx, store, "gw-b"); err != nil {
		t.Fatal(err)
	}
	rep, err := traffic.Fleet(ctx, store, "hour", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Gateways != 2 || rep.Totals.Requests != 5 || rep.Totals.BytesOut != 1300 || rep.Totals.BytesIn != 5 ||
		rep.Totals.ByClass["rest 2xx"] != 3 || rep.Totals.ByClass["s3 4xx"] != 1 {
		t.Fatalf("fleet totals = %d gateways, %+v", rep.Gateways, rep.Totals)
	}
	if len(rep.Objects) != 2 || rep.Objects[0].Name != "pics/b.jpg" || rep.Buckets[0].Requests != 5 || rep.Totals.P50 <= 0 {
		t.Fatalf("fleet tops = %+v / %+v", rep.Objects, rep.Buckets)
	}
}
