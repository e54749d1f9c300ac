package db

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stowage/stowage/db/pgtest"
)

// The fleet's per-minute rows: a repeated write adds (latency element-wise), tops are
// ranked per dim and cut at n, and pruning keeps the retention bounded.
func TestTrafficRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := Open(ctx, pgtest.URL(t), Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	m1 := m0.Add(time.Minute)
	rows := []TrafficRow{
		{Minute: m0, Gateway: "a", Dim: "total", Requests: 3, BytesIn: 10, BytesOut: 20, Latency: []int64{1, 2, 0}},
		{Minute: m0, Gateway: "a", Dim: "dialect", Label: "rest 2xx", Requests: 3},
		{Minute: m1, Gateway: "b", Dim: "total", Requests: 1, Latency: []int64{0, 0, 1}},
		{Minute: m0, Gateway: "a", Dim: "route", Label: "GET /bucket", Requests: 5},
		{Minute: m1, Gateway: "b", Dim: "route", Label: "GET /bucket", Requests: 5},
		{Minute: m0, Gateway: "a", Dim: "route", Label: "PUT /s3/*", Requests: 7},
	}
	for i := 0; i < 5; i++ {
		rows = append(rows, TrafficRow{Minute: m0, Gateway: "a", Dim: "object", Label: fmt.Sprintf("b/k%d", i), Requests: 1, BytesOut: int64(100 * i)})
	}
	if err := d.SaveTraffic(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveTraffic(ctx, rows[:1]); err != nil { // the same minute again adds
		t.Fatal(err)
	}
	series, err := d.TrafficSeries(ctx, m0)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 3 || series[0].Dim == "route" {
		t.Fatalf("series rows = %+v", series)
	}
	for _, r := range series {
		if r.Gateway == "a" && r.Dim == "total" && (r.Requests != 6 || r.BytesOut != 40 || !slices.Equal(r.Latency, []int64{2, 4, 0})) {
			t.Fatalf("a twice-written minute = %+v, want the sums", r)
		}
	}
	tops, err := d.TrafficTops(ctx, m0, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range tops {
		got = append(got, fmt.Sprintf("%s %s %d %d", r.Dim, r.Label, r.Requests, r.BytesOut))
	}
	slices.Sort(got)
	want := []string{"object b/k3 1 300", "object b/k4 1 400", "route GET /bucket 10 0", "route PUT /s3/* 7 0"}
	if !slices.Equal(got, want) {
		t.Fatalf("tops = %q, want %q", got, want)
	}
	if err := d.PruneTraffic(ctx, m1); err != nil {
		t.Fatal(err)
	}
	if series, err = d.TrafficSeries(ctx, m0.Add(-time.Hour)); err != nil || len(series) != 1 || series[0].Gateway != "b" {
		t.Fatalf("after pruning minute 0: %+v, %v", series, err)
	}
}
