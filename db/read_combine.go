package db

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reads by a role that bypasses RLS (every S3 GET and HEAD with the service's keys, a REST
// download with the service key) are combined: while combineLanes batches are on their way
// to Postgres, the reads that arrive wait and then go together, as one pipeline on one
// connection. Under load a Postgres backend then wakes once for several reads instead of
// once for each, and the gateway writes and reads its socket once for them: on the
// benchmark machine the wake-ups, not the statements, were most of a small GET's Postgres
// time (a point read costs Postgres 0.03–0.05 ms when its backend is kept busy, 0.11 ms
// when each read wakes it; docs/engine.md, "A small GET"). A read that finds a lane free
// goes at once, so an idle gateway adds no wait. There is a lane per two cores of the
// gateway (at least one): fewer lanes are fewer reads at once but more in each pipeline,
// and since a read after one of the same role needs no settings of its own (combinedBatch)
// a fuller pipeline costs less per read. On two cores (S3 GET 4 KiB, 16 workers, the
// rounds of two interleaved runs in which the hypervisor took nothing) one lane cost
// 0.21–0.22 and 0.19–0.21 ms of CPU per GET (Postgres 0.05–0.06) against 0.25–0.26 and
// 0.22–0.23 (Postgres 0.07–0.09) with three, and served more GETs in 8 of the first run's
// 10 rounds; before reads shared settings, two or three lanes had cost 0.24–0.29, four
// 0.29–0.34, a pipeline per read 0.32–0.39. A machine with more cores has more lanes, so
// that one pipeline at a time does not bound its reads.
//
// A combined pipeline is one implicit transaction (one Sync). Each read in it starts with
// its own setBypassScope, which sets everything such a read depends on (the role and
// statement_timeout), unless the read before it left exactly those settings (same role;
// combinedBatch), so a read sees what it would see alone: its statements take their own
// snapshots (READ COMMITTED). A read that applies another scope among its statements
// (ReadObjectAccess's caller) leaves that scope's settings set until the pipeline ends, so
// the read after it sets its whole scope (setScope) instead, and inherits nothing.
// A statement that fails skips the rest of the pipeline, so when a combined pipeline fails,
// each of its reads runs again alone and gets its own answer (reads are repeatable; their
// callbacks only assign).
//
// Few lanes would let one slow pipeline (pages read from disk on a cold cache) hold up
// every read behind it, and would bound how many such reads wait on the disk at once. So
// when the oldest read queued has waited combineOverflowAfter, one more lane opens (up to
// half the pool's connections) and takes the queued reads: a hot pipeline comes back well
// within that time, and a stuck one holds up the reads behind it no longer than that.
// Extra lanes close, as any lane does, once no read is left waiting.
var combineLanes = max(1, runtime.GOMAXPROCS(0)/2)

const (
	combineMaxReads      = 32
	combineOverflowAfter = 2 * time.Millisecond
)

// combinedRead is one read waiting to be sent.
type combinedRead struct {
	ctx   context.Context
	queue func(b *pgx.Batch) // queues the read's statements (after its scope)
	scope Scope
	// setsScope: queue applies another scope, whose settings outlast the read.
	setsScope bool
	// ready receives nil when the read was answered, or the reads this one now sends
	// (itself first) when it takes over a lane.
	ready  chan []*combinedRead
	err    error
	queued time.Time // when it began to wait for a lane
}

type readCombiner struct {
	mu      sync.Mutex
	lanes   int // batches on their way
	pending []*combinedRead
	// overflowAfter is combineOverflowAfter unless a test set it, maxLanes the most lanes
	// (set by Open); overflow runs overflowReads.
	overflowAfter time.Duration
	maxLanes      int
	overflow      *time.Timer
	// combined counts the pipelines that carried more than one read, rerun the reads
	// that ran again alone after their pipeline failed, overflowed the lanes opened
	// because the queued reads had waited too long, fullLooks the times overflowReads
	// found every lane taken.
	combined, rerun, overflowed, fullLooks atomic.Int64
}

// combinedRead runs r's statements as readPipeline does for a scope that bypasses RLS.
func (d *DB) combinedRead(ctx context.Context, s Scope, setsScope bool, queue func(b *pgx.Batch)) error {
	r := &combinedRead{ctx: ctx, queue: queue, scope: s, setsScope: setsScope, ready: make(chan []*combinedRead, 1)}
	c := &d.reads
	c.mu.Lock()
	if c.lanes < combineLanes {
		c.lanes++
		c.mu.Unlock()
		d.sendReads([]*combinedRead{r})
		return r.err
	}
	r.queued = time.Now()
	c.pending = append(c.pending, r)
	if len(c.pending) == 1 {
		c.armOverflow(d, c.overflowAfter)
	}
	c.mu.Unlock()
	// Waits for its answer whatever ctx does: the callbacks of a read write into its
	// caller's memory (buffers it may return to a pool), so it must not leave while its
	// statements may still be answered. The batch has the statement deadline.
	if batch := <-r.ready; batch != nil {
		d.sendReads(batch)
	}
	return r.err
}

// sendReads sends reads on one connection, then passes the lane on (passLane).
// reads[0] is the caller's own read. The hand-over is deferred: were a read's callback to
// panic, the lane would otherwise stay taken for good and the reads waiting behind it would
// never be answered; they get errReadNotAnswered instead, and the panic goes on up.
func (d *DB) sendReads(reads []*combinedRead) {
	for _, r := range reads {
		r.err = errReadNotAnswered
	}
	defer d.passLane(reads)
	if len(reads) == 1 {
		reads[0].err = d.sendBatch(reads[0].ctx, d.readBatch(reads[0]))
	} else {
		d.reads.combined.Add(1)
		b := d.combinedBatch(reads)
		ctx, cancel := combinedContext(reads)
		err := d.sendBatch(ctx, b)
		cancel()
		for _, r := range reads {
			r.err = nil
		}
		if err != nil {
			d.reads.rerun.Add(int64(len(reads)))
			for _, r := range reads {
				r.err = d.sendBatch(r.ctx, d.readBatch(r))
			}
		}
	}
}

// armOverflow makes overflow look at the queue after wait. c.mu is held.
func (c *readCombiner) armOverflow(d *DB, wait time.Duration) {
	if c.overflow == nil {
		c.overflow = time.AfterFunc(wait, d.overflowReads)
	} else {
		c.overflow.Reset(wait)
	}
}

// overflowReads opens one more lane for the queued reads when the oldest of them has
// waited overflowAfter (the lanes are slow), unless every lane there may be is taken (it
// then looks again after overflowAfter, unless a lane that comes back took them meanwhile).
// The first of them sends them, as when a lane is passed on.
func (d *DB) overflowReads() {
	c := &d.reads
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return
	}
	if wait := time.Since(c.pending[0].queued); wait < c.overflowAfter {
		c.armOverflow(d, c.overflowAfter-wait)
		c.mu.Unlock()
		return
	}
	if c.lanes >= c.maxLanes {
		// Every lane there may be is taken: look again later. Were it left to the lanes,
		// reads queued behind lanes that all stay stuck would wait for them, and the
		// timer is armed again only when the queue next fills from empty.
		c.fullLooks.Add(1)
		c.armOverflow(d, c.overflowAfter)
		c.mu.Unlock()
		return
	}
	c.lanes++
	c.overflowed.Add(1)
	n := min(len(c.pending), combineMaxReads)
	batch := append([]*combinedRead(nil), c.pending[:n]...)
	c.pending = append(c.pending[:0], c.pending[n:]...)
	if len(c.pending) > 0 {
		c.armOverflow(d, max(0, c.overflowAfter-time.Since(c.pending[0].queued)))
	}
	c.mu.Unlock()
	batch[0].ready <- batch
}

// errReadNotAnswered is the error of a read whose pipeline ended without answering it.
var errReadNotAnswered = errors.New("db: read not answered")

// passLane tells reads that they were answered and hands the lane to the reads that
// arrived meanwhile (the first of them sends them), or frees it.
func (d *DB) passLane(reads []*combinedRead) {
	c := &d.reads
	c.mu.Lock()
	var next []*combinedRead
	if n := min(len(c.pending), combineMaxReads); n > 0 {
		next = append(next, c.pending[:n]...)
		c.pending = append(c.pending[:0], c.pending[n:]...)
	} else {
		c.lanes--
	}
	c.mu.Unlock()
	for _, r := range reads[1:] {
		r.ready <- nil
	}
	if len(next) > 0 {
		next[0].ready <- next
	}
}

// combinedContext is the context of a pipeline of reads: it ends when every one of their
// callers' contexts has ended (none is waiting for an answer any more), not when the first
// does, which would fail the others' reads. The statement deadline still bounds it. cancel
// releases what it holds.
func combinedContext(reads []*combinedRead) (ctx context.Context, cancel context.CancelFunc) {
	ctx, cancel = context.WithCancel(context.WithoutCancel(reads[0].ctx))
	left := int64(len(reads))
	for _, r := range reads {
		stop := context.AfterFunc(r.ctx, func() {
			if atomic.AddInt64(&left, -1) == 0 {
				cancel()
			}
		})
		context.AfterFunc(ctx, func() { stop() })
	}
	return ctx, cancel
}

// combinedBatch is the pipeline of several reads. A read whose settings are already in
// place, because the read before it had the same role and applied no scope of its own,
// does without its setBypassScope: the settings it would apply are exactly those left
// (statement_timeout is the same for every read), so it sees what it would see alone, and
// Postgres runs one statement less for it. The read after one that applied a scope sets
// its whole scope.
func (d *DB) combinedBatch(reads []*combinedRead) *pgx.Batch {
	b := &pgx.Batch{}
	var prev *combinedRead
	for _, r := range reads {
		switch {
		case prev != nil && prev.setsScope:
			b.Queue(setScope, anyArgs(d.scopeValues(r.scope))...)
		case prev == nil || prev.scope.Role != r.scope.Role:
			b.Queue(setBypassScope, r.scope.Role, d.statementTimeout())
		}
		r.queue(b)
		prev = r
	}
	return b
}

// readBatch is r's statements after its scope, as a batch of their own.
func (d *DB) readBatch(r *combinedRead) *pgx.Batch {
	return d.combinedBatch([]*combinedRead{r})
}
