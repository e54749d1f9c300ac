package events_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stowage/stowage/gateway/events"
)

// gate is a receiver whose answers to object events wait until it is opened; it counts the
// requests under way and the most seen at once. Bucket events are answered at once.
type gate struct {
	mu                 sync.Mutex
	under, most, total int
	full               chan struct{} // closed once want requests are under way
	want               int
	open               chan struct{}
}

func newGate(want int) *gate {
	return &gate{want: want, full: make(chan struct{}), open: make(chan struct{})}
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !strings.Contains(string(body), "ObjectCreated") {
		return
	}
	g.mu.Lock()
	g.under++
	g.total++
	g.most = max(g.most, g.under)
	if g.under == g.want {
		select {
		case <-g.full:
		default:
			close(g.full)
		}
	}
	g.mu.Unlock()
	<-g.open
	g.mu.Lock()
	g.under--
	g.mu.Unlock()
}

// waitFull returns once want requests are under way; it fails only after hangGuard.
func (g *gate) waitFull(t *testing.T) {
	t.Helper()
	select {
	case <-g.full:
	case <-time.After(hangGuard):
		t.Fatalf("fewer than %d attempts under way after %s", g.want, hangGuard)
	}
}

func (g *gate) counts() (most, total int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.most, g.total
}

// A dispatcher never has more than InFlight attempts under way per target, whether the
// deliveries are a fast batch (no rows) or claimed rows, of which it claims more than
// InFlight (a whole batch) and queues the rest. A dispatcher stopped with deliveries not
// yet attempted leaves them as rows, due at once and not counted as attempted.
func TestInFlightLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bucket(t, "inflight")
	// Bucket:Created goes first (a batch holding it delivers the bucket's events in order,
	// one at a time): delivered before the objects are written.
	rc := newReceiver(t, nil)
	first := events.New(fastOptions(e, webhook(rc)))
	first.Drain(context.Background())
	if n := e.pending(t); n != 0 {
		t.Fatalf("%d undelivered after the drain", n)
	}
	for i := range 20 {
		e.put(t, "inflight", fmt.Sprintf("k%d", i), "x")
	}
	g := newGate(3)
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	hook := &events.Webhook{URL: srv.URL, Client: events.StdHTTPClient(&http.Client{Timeout: hangGuard})}
	opts := fastOptions(e, hook)
	opts.InFlight = 3

	// The fast batch: 20 independent deliveries, 3 under way, the others waiting.
	d := events.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	g.waitFull(t)
	var rows int
	if err := e.db.Pool().QueryRow(context.Background(), `select count(*) from stowage.event_deliveries`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Fatalf("%d delivery rows while the batch is under way, want none", rows)
	}
	cancel()
	close(g.open)
	<-done
	if most, total := g.counts(); most != 3 || total != 3 {
		t.Fatalf("at most %d attempts at once, %d in all; want 3 and 3 (InFlight)", most, total)
	}
	var left, attempted int
	if err := e.db.Pool().QueryRow(context.Background(), `select count(*), count(*) filter (where attempts > 0 or next_at > now())
		from stowage.event_deliveries`).Scan(&left, &attempted); err != nil {
		t.Fatal(err)
	}
	if left != 17 || attempted != 0 {
		t.Fatalf("after the stop: %d deliveries left, %d of them counted as attempted or leased; want 17, 0", left, attempted)
	}

	// The rows: claimed all at once, attempted 3 at a time.
	g2 := newGate(3)
	srv2 := httptest.NewServer(g2)
	t.Cleanup(srv2.Close)
	hook.URL = srv2.URL
	run(t, opts)
	g2.waitFull(t)
	var claimed int
	waitFor(t, "all 17 claimed", func() bool {
		err := e.db.Pool().QueryRow(context.Background(), `select count(*) from stowage.event_deliveries
			where attempts = 1 and next_at > now()`).Scan(&claimed)
		return err == nil && claimed == 17
	})
	close(g2.open)
	waitFor(t, "everything delivered", func() bool { return e.pending(t) == 0 })
	if most, total := g2.counts(); most != 3 || total != 17 {
		t.Fatalf("rows: at most %d attempts at once, %d in all; want 3 and 17", most, total)
	}
}
