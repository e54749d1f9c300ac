package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/backend/filebackend"
	"github.com/stowage/stowage/gateway/inline"
)

// rtConn counts round trips on a database socket: a read that follows a write is one
// exchange with the server (a pipeline of many statements is still one).
type rtConn struct {
	net.Conn
	c *rtCounter
}

type rtCounter struct {
	mu     sync.Mutex
	n      int
	wrote  bool
	active bool
}

func (c *rtConn) Write(p []byte) (int, error) {
	c.c.mu.Lock()
	c.c.wrote = true
	c.c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *rtConn) Read(p []byte) (int, error) {
	c.c.mu.Lock()
	if c.c.wrote {
		c.c.wrote = false
		if c.c.active {
			c.c.n++
		}
	}
	c.c.mu.Unlock()
	return c.Conn.Read(p)
}

// count runs fn and returns the round trips it made.
func (c *rtCounter) count(fn func()) int {
	c.mu.Lock()
	c.n, c.active = 0, true
	c.mu.Unlock()
	fn()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active = false
	return c.n
}

// TestWriteRoundTrips pins the Postgres round trips of the hot paths (docs/engine.md, "Postgres
// round trips per operation"): a change that adds one shows here. One pooled connection,
// warmed up, so that prepared statements and pool pings do not count.
func TestWriteRoundTrips(t *testing.T) {
	ctx := context.Background()
	counter := &rtCounter{}
	var dialer net.Dialer
	d, err := db.Open(ctx, pgtest.URL(t), db.Options{MaxConns: 1,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &rtConn{Conn: c, c: counter}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	// Events on must not add a round trip: the outbox row goes with COMMIT. Small objects
	// kept in Postgres (inline.Store, the server's default) save the reservation.
	for _, inlined := range []bool{false, true} {
		for _, events := range []bool{false, true} {
			bucket := "rt"
			if events {
				bucket += "ev"
			}
			if inlined {
				bucket += "in"
			}
			name := map[bool]string{false: "events off", true: "events on"}[events] + ", " +
				map[bool]string{false: "files", true: "small objects in postgres"}[inlined]
			t.Run(name, func(t *testing.T) {
				writeRoundTrips(t, d, counter, bucket, events, inlined)
			})
		}
	}
}

func writeRoundTrips(t *testing.T, d *db.DB, counter *rtCounter, bucket string, events, inlined bool) {
	ctx := context.Background()
	store, err := filebackend.New(t.TempDir(), filebackend.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	// A long cache bound: a slow machine must not turn a cached bucket into a round trip.
	var inlineMax int64
	if inlined {
		inlineMax = inline.DefaultMax
	}
	e := New(d, store, Options{Roles: testRoles, MaxObjectSize: 1 << 30, WriteTimeout: time.Minute, CacheTTL: time.Hour,
		Events: events, InlineMax: inlineMax})
	if _, err := e.CreateBucket(ctx, service(), CreateBucket{ID: bucket, FileSizeLimit: NoLimit}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool().Exec(ctx, fmt.Sprintf(`create policy %[1]s_all on storage.objects for all to authenticated
		using (bucket_id = '%[1]s') with check (bucket_id = '%[1]s')`, bucket)); err != nil {
		t.Fatal(err)
	}
	put := func(c Caller, key string) {
		t.Helper()
		if _, err := e.PutObject(ctx, c, PutObject{Bucket: bucket, Key: key, Size: 3, Body: bytes.NewReader([]byte("abc")), Upsert: true}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(c Caller, key string) {
		t.Helper()
		r, err := e.GetObject(ctx, c, GetObject{Bucket: bucket, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
	}
	// A REST download reads its bucket's settings as the service first (public or not).
	bucketSettings := func(c Caller) {
		t.Helper()
		if _, err := e.GetBucketAsService(ctx, c, bucket); err != nil {
			t.Fatal(err)
		}
	}
	getPublicRule := func(c Caller, key string) {
		t.Helper()
		r, err := e.GetObject(ctx, c, GetObject{Bucket: bucket, Key: key, Public: PublicRead})
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
	}
	// S3 reads ask for version ids; a miss looks for a delete marker only in a bucket that
	// may have versions.
	getS3Missing := func(c Caller, key string) {
		t.Helper()
		if _, err := e.GetObject(ctx, c, GetObject{Bucket: bucket, Key: key, Versions: true}); CodeOf(err) != CodeNoSuchKey {
			t.Fatalf("get of a missing key: %v", err)
		}
	}
	usr := user("00000000-0000-0000-0000-000000000001")
	// Warm up: every statement of the paths below prepared once on the one connection.
	for _, c := range []Caller{service(), usr} {
		put(c, "warm")
		put(c, "warm")
		get(c, "warm")
		bucketSettings(c)
		getPublicRule(c, "warm")
		getS3Missing(c, "none")
	}
	// With the bytes in Postgres: no reservation for the service role (no intent to record,
	// no policy to ask), and a read as the caller, when not the service role, fetches the
	// bytes in a round trip of its own (only the service role reads stowage.small_blobs).
	saved, userGet := 0, 1
	if inlined {
		saved, userGet = 1, 2
	}
	cases := []struct {
		name string
		fn   func()
		want int
	}{
		{"put new key, service role", func() { put(service(), "new-service") }, 3 - saved},
		{"put overwrite, service role", func() { put(service(), "new-service") }, 4 - saved},
		{"get, service role", func() { get(service(), "new-service") }, 1},
		{"put new key, user", func() { put(usr, "new-user") }, 3},
		{"put overwrite, user", func() { put(usr, "new-user") }, 4},
		{"get, user", func() { get(usr, "new-user") }, userGet},
		{"bucket settings for a download, user", func() { bucketSettings(usr) }, 1},
		{"get under the public-bucket rule (REST download), user", func() { getPublicRule(usr, "new-user") }, 1},
		{"get under the public-bucket rule (REST download), service role", func() { getPublicRule(service(), "new-user") }, 1},
		{"get, role cache cold (asked in the read's pipeline)", func() {
			e.cache.bypass.forget(testRoles.Service)
			get(service(), "new-service")
		}, 1},
		{"S3 get of a missing key, never-versioned bucket", func() { getS3Missing(usr, "none") }, 1},
	}
	for _, tc := range cases {
		got := counter.count(tc.fn)
		t.Logf("%s: %d round trips", tc.name, got)
		if got > tc.want {
			t.Errorf("%s: %d round trips, want at most %d", tc.name, got, tc.want)
		}
	}
	// Where the bytes went: the count above means what it says only if they went there.
	var rows int
	if err := d.Pool().QueryRow(ctx, `select count(*) from stowage.small_blobs where key like $1`,
		e.opts.TenantID+"/"+bucket+"/new-%").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if want := map[bool]int{false: 0, true: 2}[inlined]; rows != want {
		t.Errorf("%d small blobs in Postgres, want %d", rows, want)
	}
}
