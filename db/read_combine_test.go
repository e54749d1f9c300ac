package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/db/pgtest"
)

// laneBlocker holds every lane of d's read combiner with reads that wait for an advisory
// lock the test holds, so that the reads started next are all pending when release lets the
// lanes go: they then go in combined pipelines, whatever the machine's speed.
type laneBlocker struct {
	t       *testing.T
	conn    *pgx.Conn
	done    chan error
	release func()
}

const blockerLock = 0x5465737442 // "TestB"

func blockLanes(t *testing.T, d *DB, url string) *laneBlocker {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	if _, err := conn.Exec(ctx, `select pg_advisory_lock($1)`, blockerLock); err != nil {
		t.Fatal(err)
	}
	lb := &laneBlocker{t: t, conn: conn, done: make(chan error, combineLanes)}
	for range combineLanes {
		go func() {
			lb.done <- d.combinedRead(ctx, Scope{Role: "service_role", BypassesRLS: true}, false, func(b *pgx.Batch) {
				b.Queue(`select pg_advisory_xact_lock_shared($1)`, blockerLock)
			})
		}()
	}
	waitFor(t, "the lanes to be taken", func() bool {
		var waiting int
		err := conn.QueryRow(ctx, `select count(*) from pg_locks where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())`).Scan(&waiting)
		return err == nil && waiting == combineLanes
	})
	lb.release = func() {
		if _, err := conn.Exec(ctx, `select pg_advisory_unlock($1)`, blockerLock); err != nil {
			t.Fatal(err)
		}
		for range combineLanes {
			if err := <-lb.done; err != nil {
				t.Fatalf("lane blocker: %v", err)
			}
		}
	}
	return lb
}

// waitFor polls cond until it holds (no time budget: the test's own timeout bounds it).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		time.Sleep(5 * time.Millisecond)
	}
}

// setOverflow sets when queued reads get a lane of their own (after waiting after) and how
// many lanes there may be.
func setOverflow(d *DB, after time.Duration, maxLanes int) {
	d.reads.mu.Lock()
	defer d.reads.mu.Unlock()
	d.reads.overflowAfter, d.reads.maxLanes = after, maxLanes
}

func pendingReads(d *DB) int {
	d.reads.mu.Lock()
	defer d.reads.mu.Unlock()
	return len(d.reads.pending)
}

func combineDB(t *testing.T) (*DB, string) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.URL(t)
	d, err := Open(ctx, url, Options{MaxConns: int32(combineLanes + 2)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	// The lanes these tests block stay blocked as long as they need: no read may open
	// another (TestSlowLanesOverflow sets its own).
	d.reads.overflowAfter = time.Hour
	if err := d.InTx(ctx, Scope{Role: "service_role"}, func(tx Tx) error {
		if _, err := tx.tx.Exec(ctx, `insert into storage.buckets (id, name) values ('rc', 'rc')`); err != nil {
			return err
		}
		for i := range 100 {
			if _, err := tx.InsertObject(ctx, Object{BucketID: "rc", Name: fmt.Sprintf("k%d", i), Version: fmt.Sprintf("v%d", i),
				Metadata: json.RawMessage(`{"size":1}`)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return d, url
}

// Reads that went together each get their own row (or their own not-found), run as their
// own role, and leave no transaction open on the pooled connections.
func TestCombinedReadsAnswerTheirOwn(t *testing.T) {
	d, url := combineDB(t)
	ctx := context.Background()
	lb := blockLanes(t, d, url)
	const n = 80 // more than one pipeline's worth
	type answer struct {
		o    Object
		err  error
		user string
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every fourth read asks for a key that does not exist, every other one runs
			// as postgres (which bypasses RLS too) instead of service_role.
			role := "service_role"
			if i%2 == 1 {
				role = "postgres"
			}
			name := fmt.Sprintf("k%d", i)
			if i%4 == 3 {
				name = "missing"
			}
			var scanErr error
			answers[i].err = d.readPipeline(ctx, Scope{Role: role, BypassesRLS: true}, func(b *pgx.Batch) {
				b.Queue(`select current_user::text`).QueryRow(func(row pgx.Row) error {
					return row.Scan(&answers[i].user)
				})
				objectRead(b, "rc", name, nil, func(o Object, err error) { answers[i].o, scanErr = o, err })
			})
			if answers[i].err == nil {
				answers[i].err = scanErr
			}
		}()
	}
	waitFor(t, "the reads to queue", func() bool { return pendingReads(d) == n })
	lb.release()
	wg.Wait()
	for i, a := range answers {
		role := "service_role"
		if i%2 == 1 {
			role = "postgres"
		}
		switch {
		case a.user != role:
			t.Errorf("read %d ran as %q, want %q", i, a.user, role)
		case i%4 == 3 && !errors.Is(a.err, ErrNotFound):
			t.Errorf("read %d of a missing key: %+v, %v", i, a.o, a.err)
		case i%4 != 3 && (a.err != nil || a.o.Name != fmt.Sprintf("k%d", i) || a.o.Version != fmt.Sprintf("v%d", i)):
			t.Errorf("read %d: %s %s, %v", i, a.o.Name, a.o.Version, a.err)
		}
	}
	if got := d.reads.combined.Load(); got < 2 {
		t.Fatalf("%d combined pipelines, want at least 2 (%d reads, %d at most in each)", got, n, combineMaxReads)
	}
	assertIdleConnections(t, d)
}

// A read queued after one of the same role goes without its own setBypassScope; a read of
// another role, or after a read that applied a caller's scope, sets its own. Each then runs
// as its role with the statement timeout, whatever came before it in the pipeline.
func TestCombinedReadsShareSettings(t *testing.T) {
	d, url := combineDB(t)
	ctx := context.Background()
	reads := []*combinedRead{
		{scope: Scope{Role: "service_role"}}, {scope: Scope{Role: "service_role"}}, {scope: Scope{Role: "postgres"}},
		{scope: Scope{Role: "postgres"}, setsScope: true}, {scope: Scope{Role: "postgres"}}, {scope: Scope{Role: "service_role"}},
	}
	for _, r := range reads {
		r.queue = func(b *pgx.Batch) { b.Queue("read") }
	}
	var got []string
	for _, q := range d.combinedBatch(reads).QueuedQueries {
		switch q.SQL {
		case setBypassScope:
			got = append(got, "bypass "+q.Arguments[0].(string))
		case setScope:
			got = append(got, "scope "+q.Arguments[0].(string))
		default:
			got = append(got, q.SQL)
		}
	}
	want := "bypass service_role,read,read,bypass postgres,read,read,scope postgres,read,bypass service_role,read"
	if strings.Join(got, ",") != want {
		t.Fatalf("pipeline %s\nwant     %s", strings.Join(got, ","), want)
	}

	// The same shapes against Postgres: reads queued one after another (so in this order)
	// behind blocked lanes.
	lb := blockLanes(t, d, url)
	roles := []string{"service_role", "service_role", "postgres", "postgres", "service_role", "service_role"}
	type seen struct{ user, timeout string }
	answers := make([]seen, len(roles))
	errs := make([]error, len(roles))
	var wg sync.WaitGroup
	for i, role := range roles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.readPipeline(ctx, Scope{Role: role, BypassesRLS: true}, func(b *pgx.Batch) {
				b.Queue(`select current_user::text, current_setting('statement_timeout')`).QueryRow(func(row pgx.Row) error {
					return row.Scan(&answers[i].user, &answers[i].timeout)
				})
			})
		}()
		waitFor(t, "the read to queue", func() bool { return pendingReads(d) == i+1 })
	}
	lb.release()
	wg.Wait()
	want0 := d.statementTimeout()
	for i, a := range answers {
		if errs[i] != nil || a.user != roles[i] || a.timeout != want0 {
			t.Errorf("read %d: %+v, %v; want %s with statement_timeout %s", i, a, errs[i], roles[i], want0)
		}
	}
	assertIdleConnections(t, d)
}

// When every lane is held by a pipeline that does not come back, the reads queued behind
// them get another lane once the oldest has waited combineOverflowAfter: they are answered
// while the blocked lanes still wait. (Without it this test hangs until its timeout.)
func TestSlowLanesOverflow(t *testing.T) {
	d, url := combineDB(t)
	ctx := context.Background()
	lb := blockLanes(t, d, url)
	defer lb.release()
	setOverflow(d, 0, combineLanes+1) // any wait is too long
	names := []string{"k1", "k2", "k3"}
	got := make([]Object, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scanErr error
			errs[i] = d.readPipeline(ctx, Scope{Role: "service_role", BypassesRLS: true}, func(b *pgx.Batch) {
				objectRead(b, "rc", name, nil, func(o Object, err error) { got[i], scanErr = o, err })
			})
			if errs[i] == nil {
				errs[i] = scanErr
			}
		}()
	}
	wg.Wait() // the lanes are still blocked: every read had to queue
	for i, name := range names {
		if errs[i] != nil || got[i].Name != name {
			t.Errorf("read %s: %+v, %v", name, got[i], errs[i])
		}
	}
	d.reads.mu.Lock()
	lanes := d.reads.lanes
	d.reads.mu.Unlock()
	if lanes != combineLanes {
		t.Fatalf("%d lanes taken after the overflow was answered, want the %d blocked ones", lanes, combineLanes)
	}
}

// A read queued while every lane there may be is taken keeps being looked at: once room
// for another lane appears it gets one, though no other read arrives and no lane comes
// back. (Without the second look it waits for the blocked lanes: this test hangs.)
func TestOverflowLooksAgainWhenLanesAreFull(t *testing.T) {
	d, url := combineDB(t)
	ctx := context.Background()
	lb := blockLanes(t, d, url)
	defer lb.release()
	setOverflow(d, time.Millisecond, combineLanes) // no room: the blocked lanes are all there may be
	var got Object
	var scanErr error
	done := make(chan error, 1)
	go func() {
		done <- d.readPipeline(ctx, Scope{Role: "service_role", BypassesRLS: true}, func(b *pgx.Batch) {
			objectRead(b, "rc", "k7", nil, func(o Object, err error) { got, scanErr = o, err })
		})
	}()
	waitFor(t, "a look at full lanes", func() bool { return d.reads.fullLooks.Load() > 0 })
	setOverflow(d, time.Millisecond, combineLanes+1) // room for one more
	if err := <-done; err != nil || scanErr != nil || got.Name != "k7" {
		t.Fatalf("read: %+v, %v, %v", got, err, scanErr)
	}
}

// Many readers at once, with lanes opening for any wait at all and the usual lanes blocked
// at first: every read is answered with its own row, exactly once, and every lane is
// given back.
func TestOverflowingLanesUnderLoad(t *testing.T) {
	d, url := combineDB(t)
	ctx := context.Background()
	// The lanes start blocked, so the first reads can only go in lanes opened for them;
	// the blocked lanes join in once released.
	lb := blockLanes(t, d, url)
	setOverflow(d, 0, combineLanes+2) // within combineDB's pool
	const readers, each = 24, 40
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for g := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				name := fmt.Sprintf("k%d", (g*each+i)%100)
				var got Object
				var scanErr error
				err := d.readPipeline(ctx, Scope{Role: "service_role", BypassesRLS: true}, func(b *pgx.Batch) {
					objectRead(b, "rc", name, nil, func(o Object, err error) { got, scanErr = o, err })
				})
				if err == nil {
					err = scanErr
				}
				if err != nil || got.Name != name {
					errs <- fmt.Errorf("read %s: %+v, %v", name, got, err)
					return
				}
			}
		}()
	}
	waitFor(t, "a lane opened for waiting reads", func() bool { return d.reads.overflowed.Load() > 0 })
	lb.release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	d.reads.mu.Lock()
	lanes, pending := d.reads.lanes, len(d.reads.pending)
	d.reads.mu.Unlock()
	if lanes != 0 || pending != 0 {
		t.Fatalf("%d lanes taken and %d reads pending once every read was answered", lanes, pending)
	}
	t.Logf("%d lanes opened for waiting reads, %d combined pipelines", d.reads.overflowed.Load(), d.reads.combined.Load())
	assertIdleConnections(t, d)
}

// A read that applies a caller's scope among its statements (ReadObjectAccess) leaves
// nothing of it to the read that goes after it in the same pipeline.
func TestCombinedReadAfterCallerScope(t *testing.T) {
	d, url := combineDB(t)
	ctx := context.Background()
	lb := blockLanes(t, d, url)
	service := Scope{Role: "service_role", BypassesRLS: true}
	var first ObjectAccess
	var firstErr, secondErr error
	var sub, claims, user string
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		first, firstErr = d.ReadObjectAccess(ctx, service, &Scope{Role: "authenticated", Sub: "someone"}, "rc", "k1", false, nil)
	}()
	waitFor(t, "the first read to queue", func() bool { return pendingReads(d) == 1 })
	go func() {
		defer wg.Done()
		secondErr = d.readPipeline(ctx, service, func(b *pgx.Batch) {
			b.Queue(`select coalesce(current_setting('request.jwt.claim.sub', true), ''), coalesce(current_setting('request.jwt.claims', true), ''), current_user::text`).
				QueryRow(func(row pgx.Row) error { return row.Scan(&sub, &claims, &user) })
		})
	}()
	waitFor(t, "the second read to queue", func() bool { return pendingReads(d) == 2 })
	lb.release()
	wg.Wait()
	if firstErr != nil || first.AsServiceErr != nil || first.AsService.Version != "v1" {
		t.Fatalf("the read with a caller: %+v, %v", first, firstErr)
	}
	if secondErr != nil || sub != "" || strings.Contains(claims, "someone") || user != "service_role" {
		t.Fatalf("the read after it saw sub %q, claims %q as %q (%v)", sub, claims, user, secondErr)
	}
	if d.reads.combined.Load() != 1 {
		t.Fatalf("%d combined pipelines, want 1", d.reads.combined.Load())
	}
}

// A read that fails in a combined pipeline fails alone: the others are answered, and each
// one's error is its own.
func TestCombinedReadFailsAlone(t *testing.T) {
	d, url := combineDB(t)
	ctx := context.Background()
	lb := blockLanes(t, d, url)
	const n = 10
	errs := make([]error, n)
	objs := make([]Object, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scanErr error
			errs[i] = d.readPipeline(ctx, Scope{Role: "service_role", BypassesRLS: true}, func(b *pgx.Batch) {
				if i == 4 {
					b.Queue(`select 1/0`)
				}
				objectRead(b, "rc", fmt.Sprintf("k%d", i), nil, func(o Object, err error) { objs[i], scanErr = o, err })
			})
			if errs[i] == nil {
				errs[i] = scanErr
			}
		}()
	}
	waitFor(t, "the reads to queue", func() bool { return pendingReads(d) == n })
	lb.release()
	wg.Wait()
	for i := range n {
		if i == 4 {
			if errs[i] == nil || !strings.Contains(errs[i].Error(), "division by zero") {
				t.Errorf("the failing read: %v, want division by zero", errs[i])
			}
			continue
		}
		if errs[i] != nil || objs[i].Version != fmt.Sprintf("v%d", i) {
			t.Errorf("read %d: %+v, %v", i, objs[i], errs[i])
		}
	}
	if d.reads.combined.Load() == 0 || d.reads.rerun.Load() == 0 {
		t.Fatalf("%d combined pipelines, %d reads run again", d.reads.combined.Load(), d.reads.rerun.Load())
	}
	assertIdleConnections(t, d)
}

// A caller that gives up while its read waits in a combined pipeline does not fail the
// reads that went with it; when every caller of a pipeline gave up, it is cancelled.
func TestCombinedReadCancel(t *testing.T) {
	d, url := combineDB(t)
	lb := blockLanes(t, d, url)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var kept, gaveUp error
	var keptObj Object
	wg.Add(2)
	go func() {
		defer wg.Done()
		gaveUp = d.readPipeline(ctx, Scope{Role: "service_role", BypassesRLS: true}, func(b *pgx.Batch) {
			objectRead(b, "rc", "k1", nil, func(Object, error) {})
		})
	}()
	waitFor(t, "the first read to queue", func() bool { return pendingReads(d) == 1 })
	go func() {
		defer wg.Done()
		var scanErr error
		kept = d.readPipeline(context.Background(), Scope{Role: "service_role", BypassesRLS: true}, func(b *pgx.Batch) {
			objectRead(b, "rc", "k2", nil, func(o Object, err error) { keptObj, scanErr = o, err })
		})
		if kept == nil {
			kept = scanErr
		}
	}()
	waitFor(t, "the second read to queue", func() bool { return pendingReads(d) == 2 })
	cancel()
	lb.release()
	wg.Wait()
	if kept != nil || keptObj.Version != "v2" || d.reads.combined.Load() != 1 || d.reads.rerun.Load() != 0 {
		t.Fatalf("the read beside one whose caller gave up: %+v, %v; %d combined pipelines, %d reads run again",
			keptObj, kept, d.reads.combined.Load(), d.reads.rerun.Load())
	}
	_ = gaveUp // answered or cancelled, either is right for a caller that gave up

	// Every caller gone: the pipeline is cancelled rather than left to run for no one.
	// The two reads wait for a lock the test holds, so only their callers' giving up can
	// end them.
	const held = blockerLock + 1
	if _, err := lb.conn.Exec(context.Background(), `select pg_advisory_lock($1)`, held); err != nil {
		t.Fatal(err)
	}
	lb = blockLanes(t, d, url)
	ctx, cancel = context.WithCancel(context.Background())
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			errs <- d.readPipeline(ctx, Scope{Role: "service_role", BypassesRLS: true}, func(b *pgx.Batch) {
				b.Queue(`select pg_advisory_xact_lock_shared($1)`, held)
			})
		}()
	}
	waitFor(t, "the reads to queue", func() bool { return pendingReads(d) == 2 })
	lb.release()
	waitFor(t, "the combined reads to wait for the lock", func() bool {
		var waiting int
		err := lb.conn.QueryRow(context.Background(), `select count(*) from pg_locks where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())`).Scan(&waiting)
		return err == nil && waiting == 1
	})
	cancel()
	for range 2 {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Errorf("a read whose caller gave up: %v, want context.Canceled", err)
		}
	}
}

// assertIdleConnections checks that every pooled connection is idle outside a transaction
// and runs as the pool's own user.
func assertIdleConnections(t *testing.T, d *DB) {
	t.Helper()
	ctx := context.Background()
	conns := d.pool.AcquireAllIdle(ctx)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for _, c := range conns {
		var user string
		if err := c.QueryRow(ctx, `select current_user::text`).Scan(&user); err != nil {
			t.Fatal(err)
		}
		if tx := c.Conn().PgConn().TxStatus(); tx != 'I' || user == "service_role" {
			t.Fatalf("a pooled connection left in state %c as %q", tx, user)
		}
	}
}

// A read whose callback panics in a combined pipeline does not keep the lane: the reads
// that went with it are answered or told they were not, and later reads go on.
func TestCombinedReadPanicFreesLane(t *testing.T) {
	d, url := combineDB(t)
	ctx := context.Background()
	lb := blockLanes(t, d, url)
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { _ = recover() }() // the pipeline's sender panics, whichever read it is
			errs[i] = d.readPipeline(ctx, Scope{Role: "service_role", BypassesRLS: true}, func(b *pgx.Batch) {
				b.Queue(`select 1`).QueryRow(func(pgx.Row) error {
					if i == 0 {
						panic("callback")
					}
					return nil
				})
			})
		}()
		waitFor(t, "the read to queue", func() bool { return pendingReads(d) == i+1 })
	}
	lb.release()
	wg.Wait()
	for i := 1; i < n; i++ {
		if errs[i] != nil && !errors.Is(errs[i], errReadNotAnswered) {
			t.Errorf("read %d beside the panic: %v", i, errs[i])
		}
	}
	// Every lane is free again: as many reads at once as there are lanes, and one more,
	// are all answered.
	var after sync.WaitGroup
	for range combineLanes + 1 {
		after.Add(1)
		go func() {
			defer after.Done()
			var o Object
			var scanErr error
			err := d.readPipeline(ctx, Scope{Role: "service_role", BypassesRLS: true}, func(b *pgx.Batch) {
				objectRead(b, "rc", "k3", nil, func(row Object, err error) { o, scanErr = row, err })
			})
			if err != nil || scanErr != nil || o.Version != "v3" {
				t.Errorf("a read after the panic: %+v, %v, %v", o, err, scanErr)
			}
		}()
	}
	after.Wait()
	d.reads.mu.Lock()
	defer d.reads.mu.Unlock()
	if d.reads.lanes != 0 {
		t.Fatalf("%d lanes still taken", d.reads.lanes)
	}
}
