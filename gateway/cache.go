package gateway

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Per-gateway caches of what every write would otherwise read from Postgres. Both hold an
// entry for at most cacheTTL: a change made through another gateway (or by SQL) shows here
// within that bound. Changes made through this engine drop the entry at once.
const (
	// cacheTTL bounds how stale a cached bucket row or role attribute may be.
	cacheTTL = time.Second
	// cacheMax bounds each cache's entries; a full cache is emptied.
	cacheMax = 4096
)

// ttlCache is a small map whose entries expire after cacheTTL.
type ttlCache[V any] struct {
	mu sync.Mutex
	m  map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func (c *ttlCache[V]) get(k string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[V]) put(k string, v V, now time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= cacheMax {
		c.m = make(map[string]ttlEntry[V])
	}
	// k may be a view of a request buffer the server reuses (a bucket name from the path):
	// the map keeps a copy.
	c.m[strings.Clone(k)] = ttlEntry[V]{v: v, expires: now.Add(ttl)}
}

func (c *ttlCache[V]) forget(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// caches are an engine's.
type caches struct {
	buckets ttlCache[Bucket]
	bypass  ttlCache[bool]
	// plain: the bucket is neither versioned nor has lifecycle rules, so a write or a read
	// skips the version bookkeeping (docs/versioning.md: a change of either made through
	// another gateway applies here within the bound, as S3's versioning changes propagate).
	plain ttlCache[bool]
}

// cacheTTL is Options.CacheTTL, or the default bound.
func (e *Engine) cacheTTL() time.Duration {
	if e.opts.CacheTTL > 0 {
		return e.opts.CacheTTL
	}
	return cacheTTL
}

// knownPlain reports whether the cache says bucket is neither versioned nor has lifecycle
// rules; rememberPlain records what a read of both found. Reads that find out anyway (the
// commit's VersionState) fill the cache, so it never costs a round trip of its own.
func (e *Engine) knownPlain(bucket string) bool {
	p, ok := e.cache.plain.get(bucket, time.Now())
	return ok && p
}

func (e *Engine) rememberPlain(bucket, status string, lifecycle []byte) {
	e.cache.plain.put(bucket, status == "" && lifecycle == nil, time.Now(), e.cacheTTL())
}

// bucketForWrite is bucketAsService through the bucket cache: the settings a write checks
// (size limit, mime types) as of at most cacheTTL ago. A bucket deleted meanwhile is
// still refused: the preflight or the commit's insert fails on the foreign key.
func (e *Engine) bucketForWrite(ctx context.Context, c Caller, id string) (Bucket, error) {
	// The cache's clock is the wall clock, not the injected one: the bound is real time.
	now := time.Now()
	if b, ok := e.cache.buckets.get(id, now); ok {
		return b, nil
	}
	row, err := e.db.ReadBucket(ctx, e.service(c), id)
	if err != nil {
		return Bucket{}, dbErr(err, CodeNoSuchBucket, id, "")
	}
	b := bucketFromRow(row)
	e.cache.buckets.put(id, b, now, e.cacheTTL())
	return b, nil
}

// forgetBucket drops id's cached row: called after any change to it through this engine.
func (e *Engine) forgetBucket(id string) {
	e.cache.buckets.forget(id)
	e.cache.plain.forget(id)
}

// bypassesRLS reports whether role is never refused by row level security (a superuser or
// BYPASSRLS, as Supabase's service_role), cached for cacheTTL.
func (e *Engine) bypassesRLS(ctx context.Context, role string) (bool, error) {
	now := time.Now()
	if v, ok := e.cache.bypass.get(role, now); ok {
		return v, nil
	}
	v, err := e.db.BypassesRLS(ctx, role)
	if err != nil {
		return false, dbErr(err, CodeInternal, "", "")
	}
	e.cache.bypass.put(role, v, now, e.cacheTTL())
	return v, nil
}
