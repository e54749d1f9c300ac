package server

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stowage/stowage/gateway/tenants"
)

// tenantList is a test fixture standing in for the control database.
type tenantList struct {
	mu  sync.Mutex
	m   map[string]tenants.Tenant
	fns []func(string)
}

func (s *tenantList) Get(_ context.Context, id string) (*tenants.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[id]
	if !ok {
		return nil, tenants.ErrNotFound
	}
	return &t, nil
}

func (s *tenantList) Changed(fn func(string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fns = append(s.fns, fn)
}

func (s *tenantList) notify(id string) {
	s.mu.Lock()
	fns := append([]func(string){}, s.fns...)
	s.mu.Unlock()
	for _, fn := range fns {
		fn(id)
	}
}

// stackLog records what the cache built and closed.
type stackLog struct {
	built, closed atomic.Int32
	closedIDs     chan string
	secretSeen    sync.Map // stack pointer -> JWT secret it was built with
}

func newStackCache(t *testing.T, max int, src *tenantList, log *stackLog, gate chan struct{}) *Tenants {
	ts := NewTenants(TenantOptions{HostRegexp: regexp.MustCompile(`^(.+)\.test$`), Source: src, MaxStacks: max,
		Build: func(ctx context.Context, tn *tenants.Tenant) (*TenantStack, error) {
			if gate != nil {
				<-gate
			}
			if tn.DatabaseURL == "down" {
				return nil, errors.New("connection refused")
			}
			log.built.Add(1)
			id := tn.ID
			st := &TenantStack{close: func() { log.closed.Add(1); log.closedIDs <- id }}
			log.secretSeen.Store(st, tn.JWTSecret)
			return st, nil
		}})
	t.Cleanup(ts.Close)
	return ts
}

func waitClosed(t *testing.T, log *stackLog, want string) {
	t.Helper()
	select {
	case id := <-log.closedIDs:
		if id != want {
			t.Fatalf("closed %q, want %q", id, want)
		}
	case <-time.After(time.Minute): // hang guard
		t.Fatalf("stack of %q never closed", want)
	}
}

func TestTenantStacksBoundAndRetire(t *testing.T) {
	src := &tenantList{m: map[string]tenants.Tenant{"a": {ID: "a", JWTSecret: "s1"}, "b": {ID: "b"}, "c": {ID: "c"},
		"down": {ID: "down", DatabaseURL: "down"}}}
	log := &stackLog{closedIDs: make(chan string, 10)}
	ts := newStackCache(t, 2, src, log, nil)
	ctx := t.Context()

	// Many requests of one tenant at once: one build.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, release, err := ts.acquire(ctx, "a")
			if err != nil {
				t.Error(err)
				return
			}
			release()
		}()
	}
	wg.Wait()
	if n := log.built.Load(); n != 1 {
		t.Fatalf("built %d stacks for one tenant", n)
	}

	// Past MaxStacks the least recently used stack is retired and closed.
	_, rb, _ := ts.acquire(ctx, "b")
	rb()
	_, ra, _ := ts.acquire(ctx, "a") // a is now more recent than b
	ra()
	_, rc, err := ts.acquire(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	rc()
	waitClosed(t, log, "b")
	if ts.Len() != 2 {
		t.Fatalf("%d stacks cached, want 2", ts.Len())
	}

	// A change retires the stack, but closes it only after the request using it ends.
	stA, releaseA, _ := ts.acquire(ctx, "a")
	src.mu.Lock()
	src.m["a"] = tenants.Tenant{ID: "a", JWTSecret: "s2"}
	src.mu.Unlock()
	src.notify("a")
	if n := log.closed.Load(); n != 1 {
		t.Fatalf("%d stacks closed while a request used one", n)
	}
	releaseA()
	waitClosed(t, log, "a")
	stA2, releaseA2, _ := ts.acquire(ctx, "a")
	releaseA2()
	if stA2 == stA {
		t.Fatal("the changed tenant kept its old stack")
	}
	if s, _ := log.secretSeen.Load(stA2); s != "s2" {
		t.Fatalf("rebuilt with secret %v, want s2", s)
	}

	// A failed build is not cached; an unknown tenant is ErrNotFound.
	for range 2 {
		if _, _, err := ts.acquire(ctx, "down"); err == nil || errors.Is(err, tenants.ErrNotFound) {
			t.Fatalf("down tenant: %v", err)
		}
	}
	if _, _, err := ts.acquire(ctx, "nobody"); !errors.Is(err, tenants.ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}

	// "" (notifications possibly missed) retires everything.
	src.notify("")
	waitClosed2 := map[string]bool{}
	for range 2 {
		select {
		case id := <-log.closedIDs:
			waitClosed2[id] = true
		case <-time.After(time.Minute):
			t.Fatal("stacks not closed after a full invalidation")
		}
	}
	if !waitClosed2["a"] || !waitClosed2["c"] || ts.Len() != 0 {
		t.Fatalf("closed %v, %d left", waitClosed2, ts.Len())
	}
}

// A stack whose tenant changed while it was being built is served to the requests that
// waited for it but not kept: the next request builds from the changed tenant.
func TestTenantStackChangedDuringBuild(t *testing.T) {
	src := &tenantList{m: map[string]tenants.Tenant{"a": {ID: "a", JWTSecret: "s1"}}}
	log := &stackLog{closedIDs: make(chan string, 10)}
	gate := make(chan struct{})
	ts := newStackCache(t, 10, src, log, gate)
	done := make(chan error, 1)
	go func() {
		_, release, err := ts.acquire(t.Context(), "a")
		if err == nil {
			release()
		}
		done <- err
	}()
	// The build has read the tenant once it waits on the gate... or not yet: either way a
	// change announced now must not leave an old stack cached.
	src.notify("a")
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st, release, err := ts.acquire(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	release()
	_ = st
	if log.built.Load() == 1 {
		// Only one build: the change came before the first build read the tenant, so
		// that build already saw the current tenant. Nothing to check further.
		return
	}
	waitClosed(t, log, "a")
}

// TestTenantEngineHeldUntilRelease: an engine handed to the admin API counts as in use
// until its release, however long that is: a stack retired meanwhile (a change, the idle
// janitor) is closed only after the release, and a second release changes nothing.
func TestTenantEngineHeldUntilRelease(t *testing.T) {
	src := &tenantList{m: map[string]tenants.Tenant{"a": {ID: "a"}}}
	log := &stackLog{closedIDs: make(chan string, 10)}
	ts := newStackCache(t, 4, src, log, nil)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	ts.mu.Lock()
	ts.now = func() time.Time { return time.Unix(0, clock.Load()) }
	ts.mu.Unlock()

	_, release, err := ts.Engine(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// Hours pass (the old grace was one minute); the idle janitor must skip the held stack.
	clock.Add(int64(3 * time.Hour))
	idle := ts.opts.IdleTimeout
	ts.mu.Lock()
	for _, e := range ts.m {
		if e.inFlight == 0 && ts.now().Sub(e.lastUsed) > idle {
			t.Error("held stack counts as idle")
		}
	}
	ts.mu.Unlock()
	src.notify("a") // retired while held
	ts.mu.Lock()
	if n := log.closed.Load(); n != 0 {
		t.Fatalf("stack closed while its engine is held (%d)", n)
	}
	ts.mu.Unlock()
	// A request of the tenant meanwhile gets a new stack and releases it.
	_, r2, err := ts.acquire(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	ts.mu.Lock()
	held := ts.m["a"] // the new stack's entry, which r2 holds
	ts.mu.Unlock()
	release()
	waitClosed(t, log, "a") // the retired stack, after the engine's release
	release()               // idempotent: the new stack's request still holds it
	src.notify("a")
	// The close decision is taken under ts.mu (the close itself runs on a goroutine, so the
	// channel check below alone could miss a wrong one).
	ts.mu.Lock()
	if held == nil || held.closed || !held.retired {
		t.Errorf("held entry after the change: %+v", held)
	}
	ts.mu.Unlock()
	select {
	case id := <-log.closedIDs:
		t.Fatalf("stack of %q closed while a request holds it", id)
	default:
	}
	r2()
	waitClosed(t, log, "a")
}
