package auth

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verified tokens are remembered, so a client sending the same token on every request (an
// SDK with the service key, a user's session token) pays for parsing and the signature
// once. An entry lives until the token's exp, and at most principalCacheTTL (tokens
// without exp); the cache holds at most principalCacheMax tokens and is emptied when full.
// Only successes are cached: a refused token is checked again each time.
const (
	principalCacheTTL = 10 * time.Minute
	principalCacheMax = 4096
)

type principalCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]cachedPrincipal
}

type cachedPrincipal struct {
	p     Principal
	until time.Time
}

func (c *principalCache) get(token string, now time.Time) (Principal, bool) {
	k := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !now.Before(e.until) {
		return Principal{}, false
	}
	return e.p, true
}

// put remembers p, verified now, until its token's exp (claims) or principalCacheTTL.
func (c *principalCache) put(token string, p Principal, claims jwt.MapClaims, now time.Time) {
	until := now.Add(principalCacheTTL)
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil && exp.Before(until) {
		until = exp.Time
	}
	k := sha256.Sum256([]byte(token))
	// The token is the caller's string, often a view of a request buffer the server reuses
	// for the next request: the cache keeps none of it (Verify sets Token on a hit).
	p.Token = ""
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= principalCacheMax {
		c.m = make(map[[sha256.Size]byte]cachedPrincipal)
	}
	c.m[k] = cachedPrincipal{p: p, until: until}
}

// reset forgets every verified token: the keys they were verified with changed (a key
// disabled through the admin API must stop admitting its tokens at once, not at their exp).
func (c *principalCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
}
