package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stowage/stowage/gateway"
)

// TestCommitsThatRecordEventsWakeTheDispatcher: the hook a dispatcher registers is told of
// every commit that recorded an event (the write path's event sent with COMMIT, a delete's
// of its own), and not of a transaction that recorded none or rolled back.
func TestCommitsThatRecordEventsWakeTheDispatcher(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bucket(t, "wake")
	var n atomic.Int64
	remove := e.db.OnEventsCommitted(func() { n.Add(1) })
	defer remove()
	ctx := context.Background()
	e.put(t, "wake", "a", "1")
	if got := n.Load(); got != 1 {
		t.Fatalf("after an upload: %d wakes, want 1", got)
	}
	if _, err := e.engine.CreateBucket(ctx, service(), gateway.CreateBucket{ID: "small", FileSizeLimit: 2}); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 2 {
		t.Fatalf("after a bucket creation: %d wakes, want 2", got)
	}
	// Refused by the bucket's size limit: rolled back, no event, no wake.
	if _, err := e.engine.PutObject(ctx, service(), gateway.PutObject{Bucket: "small", Key: "big",
		Body: bytes.NewReader([]byte("too big")), Size: 7, Upsert: true}); err == nil {
		t.Fatal("upload over the size limit accepted")
	}
	if _, err := e.engine.HeadObject(ctx, service(), "wake", "a", false); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 2 {
		t.Fatalf("after a refused upload and a read: %d wakes, want 2", got)
	}
	if _, err := e.engine.DeleteObjects(ctx, service(), "wake", []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("after a delete: %d wakes, want 3", got)
	}
	remove()
	e.put(t, "wake", "b", "1")
	if got := n.Load(); got != 3 {
		t.Fatalf("after removing the hook: %d wakes, want 3", got)
	}
}

// TestNoAttemptOfAKeyBeforeTheEarlierIsAcknowledged: deliveries routed while an earlier one
// of their key is still pending (failing, backing off) are not inserted claimed: no attempt
// at a later event of a key is made before the earlier one was acknowledged.
func TestNoAttemptOfAKeyBeforeTheEarlierIsAcknowledged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Every object event fails twice, then is acknowledged.
	rc := newReceiver(t, func(n int, r receipt) int {
		if n < 2 && objectName(r) != "" {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	e.bucket(t, "ord")
	run(t, fastOptions(e, webhook(rc)))
	const rounds = 5
	for i := range rounds {
		for k := range 3 {
			e.put(t, "ord", fmt.Sprintf("key-%d", k), fmt.Sprint(i))
		}
		// Let the first attempts fail before the next round routes more of each key.
		waitFor(t, "attempts at this round", func() bool { return len(rc.receipts()) >= 1+3*(i+1) })
	}
	waitFor(t, "everything delivered", func() bool { return e.pending(t) == 0 })
	seq := map[string]int{}
	for i, id := range e.eventIDs(t) {
		seq[id] = i
	}
	// Attempts strictly in order: a key's attempts never go back to an earlier event, and
	// an attempt at a later event comes only after the earlier one's acknowledgement.
	cur := map[string]int{}
	curAcked := map[string]bool{}
	for _, r := range rc.receipts() {
		name := objectName(r)
		if name == "" {
			continue
		}
		s := seq[r.id]
		if c, ok := cur[name]; ok && s != c {
			if s < c || !curAcked[name] {
				t.Errorf("key %q: attempt at event %d while event %d was not acknowledged", name, s, c)
			}
		}
		cur[name], curAcked[name] = s, r.acked
	}
}

// objectName is the object name of a webhook delivery ("" for a bucket event).
func objectName(r receipt) string {
	var b struct {
		Event struct {
			Payload struct{ Name string } `json:"payload"`
		} `json:"event"`
	}
	_ = json.Unmarshal(r.body, &b)
	return b.Event.Payload.Name
}

// TestCommitWakesAnIdleDispatcher: with a poll interval no test waits out, events committed
// while the dispatcher is idle are delivered: only the commit hook can have woken it. Each
// round waits until the previous event is recorded, so the dispatcher is (about to be)
// idle when the next commits; without the hook some round would wait for the poll and the
// hang guard would fail the test.
func TestCommitWakesAnIdleDispatcher(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, nil)
	e.bucket(t, "idle")
	opts := fastOptions(e, webhook(rc))
	opts.Poll = 24 * time.Hour
	run(t, opts)
	waitFor(t, "Bucket:Created delivered", func() bool { return e.pending(t) == 0 && len(rc.acked()) == 1 })
	const rounds = 5
	for i := range rounds {
		e.put(t, "idle", fmt.Sprintf("k%d", i), "1")
		waitFor(t, fmt.Sprintf("round %d delivered", i), func() bool { return e.pending(t) == 0 && len(rc.acked()) == 2+i })
	}
}

// TestFullBatchesFollowEachOther: after a full fast batch the dispatcher looks again as soon
// as that batch is recorded, not a linger after its look. The linger gathers a trickle of
// events into batches; after a full batch it capped delivery at Batch per Linger (2,000
// events a second by default) however fast events came. With a poll and a linger far
// longer than the test, 51 events in batches of 10 are all delivered only when full
// batches follow each other (without, the dispatcher waits an hour after the first).
func TestFullBatchesFollowEachOther(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t, func(int, receipt) int { return http.StatusOK })
	e.bucket(t, "full") // Bucket:Created, then 50 object events
	for i := range 50 {
		e.put(t, "full", fmt.Sprintf("k%d", i), "x")
	}
	opts := fastOptions(e, webhook(rc))
	opts.Poll, opts.Linger, opts.Batch = time.Hour, time.Hour, 10
	run(t, opts)
	waitFor(t, "all 51 events delivered", func() bool { return len(rc.acked()) == 51 })
}
