package events_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/events"
)

// BenchmarkWriteThroughput compares 1 KiB uploads (parallel writers) with events off, with
// events recorded but not delivered (outbox), and with a dispatcher delivering every event
// to a loopback webhook meanwhile (on one machine, it competes with the writers for CPU).
//
//	go test -run '^$' -bench WriteThroughput -benchtime 2000x ./gateway/events/
func BenchmarkWriteThroughput(b *testing.B) {
	for _, mode := range []string{"off", "outbox", "webhook", "off"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b)
			e.bucket(b, "bench")
			if mode == "off" {
				e.engine = gateway.New(e.db, e.store, gateway.Options{Roles: roles, TenantID: "ref1"})
			}
			if mode == "webhook" {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
				}))
				defer srv.Close()
				rc := srv.URL
				d := events.New(events.Options{DB: e.db, Scope: serviceScope, Targets: []events.Target{
					&events.Webhook{URL: rc, Client: events.NewHTTPClient(30*time.Second, 16)}}, Poll: 50 * time.Millisecond})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { d.Run(ctx); close(done) }()
				defer func() { cancel(); <-done }()
			}
			data := bytes.Repeat([]byte("x"), 1024)
			var n atomic.Int64
			b.SetBytes(int64(len(data)))
			cpu := newCPUMeter(b, e.db)
			self0, pg0 := cpu.sample()
			tx0 := cpu.transactions()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := fmt.Sprintf("k/%d", n.Add(1))
					_, err := e.engine.PutObject(context.Background(), service(), gateway.PutObject{Bucket: "bench", Key: key,
						Body: bytes.NewReader(data), Size: int64(len(data)), Upsert: true})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			cpu.report(b, self0, pg0)
			time.Sleep(1100 * time.Millisecond) // the other backends' statistics reach the collector
			b.ReportMetric(float64(cpu.transactions()-tx0)/float64(b.N), "pg-tx/op")
			if mode == "webhook" {
				// Events not yet delivered when the writes ended: a dispatcher that keeps up
				// leaves a backlog of about one batch, not a growing share of b.N.
				var backlog int64
				if err := e.db.Pool().QueryRow(context.Background(), `select (select count(*) from stowage.events where not routed)
					+ (select count(*) from stowage.event_deliveries where state = 'pending')`).Scan(&backlog); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(backlog), "backlog")
			}
		})
	}
}
