package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

// TestKillDuringSmallWritesKeepsAcknowledged is the durability promise of the write path:
// a write the server acknowledged survives the server's death. Workers send small uploads
// (new keys with POST, and overwrites of one key each with x-upsert) until the process is
// killed with SIGKILL in the middle of the burst; after a restart on the same database and
// folder every acknowledged new key reads back byte for byte, and each overwritten key
// holds its last acknowledged version or the one that was in flight when the server died.
func TestKillDuringSmallWritesKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary twice")
	}
	dbURL, dir := pgtest.URL(t), t.TempDir()
	s := harness.Start(t, harness.Options{DatabaseURL: dbURL, DataDir: dir})
	json := map[string]string{"Content-Type": "application/json"}
	harness.MustStatus(t, harness.Do(t, "POST", s.URL+"/bucket", s.ServiceKey, strings.NewReader(`{"name":"crash"}`), -1, json), 200)

	const workers, killAfter = 8, 300 // acknowledged writes before the kill
	// Hang guard only: a request the dead server never answers fails with a connection error.
	client := &http.Client{Timeout: 2 * time.Minute}
	put := func(ctx context.Context, method, key, body string, upsert bool) error {
		req, err := http.NewRequestWithContext(ctx, method, s.URL+"/object/crash/"+key, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+s.ServiceKey)
		req.Header.Set("Content-Type", "text/plain")
		if upsert {
			req.Header.Set("x-upsert", "true")
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s %s: %d %s", method, key, resp.StatusCode, b)
		}
		return nil
	}
	type hot struct{ acked, inFlight string }
	var (
		mu      sync.Mutex
		created = map[string]string{} // acknowledged new key → body
		hots    = make([]hot, workers)
		acked   atomic.Int64
		wg      sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				var err error
				if n%4 == 3 { // every fourth write overwrites the worker's own key
					body := fmt.Sprintf("hot %d version %d", w, n)
					mu.Lock()
					hots[w].inFlight = body
					mu.Unlock()
					if err = put(ctx, "POST", fmt.Sprintf("w%d/hot", w), body, true); err == nil {
						mu.Lock()
						hots[w] = hot{acked: body}
						mu.Unlock()
					}
				} else {
					key, body := fmt.Sprintf("w%d/new-%d", w, n), fmt.Sprintf("worker %d write %d", w, n)
					if err = put(ctx, "POST", key, body, false); err == nil {
						mu.Lock()
						created[key] = body
						mu.Unlock()
					}
				}
				if err != nil {
					return // the server is gone
				}
				acked.Add(1)
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Minute) // hang guard
	for acked.Load() < killAfter {
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes acknowledged in 5 minutes", acked.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Kill(t) // SIGKILL while the workers are writing
	wg.Wait()
	cancel()

	s = harness.Start(t, harness.Options{DatabaseURL: dbURL, DataDir: dir})
	get := func(key string) (string, int) {
		resp := harness.Do(t, "GET", s.URL+"/object/authenticated/crash/"+key, s.ServiceKey, nil, 0, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b), resp.StatusCode
	}
	mu.Lock()
	defer mu.Unlock()
	for key, want := range created {
		if got, code := get(key); code != 200 || got != want {
			t.Errorf("acknowledged %s: status %d, %q; want %q", key, code, got, want)
		}
	}
	for w, h := range hots {
		if h.acked == "" && h.inFlight == "" {
			continue
		}
		got, code := get(fmt.Sprintf("w%d/hot", w))
		if h.acked == "" && code != 200 {
			continue // its only write was in flight and never committed
		}
		if code != 200 || (got != h.acked && got != h.inFlight) {
			t.Errorf("overwritten w%d/hot: status %d, %q; want %q (acknowledged) or %q (in flight)", w, code, got, h.acked, h.inFlight)
		}
	}
	t.Logf("%d acknowledged new keys and %d overwritten keys intact after SIGKILL", len(created), len(hots))
}
