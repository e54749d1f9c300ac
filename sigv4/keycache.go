package sigv4

import (
	"crypto/subtle"
	"strings"
	"sync"
)

// keyCacheMax bounds the derived keys a Verifier keeps; a full cache is emptied. A key is
// per access key, day, region and service, so a busy server needs a handful.
const keyCacheMax = 1024

// keyCache remembers derived signing keys: the four chained HMACs of DeriveSigningKey are
// most of a small request's signature check, and the key only changes with the day, the
// region, the service or the secret.
// signingKeys is shared by every Verifier (a Verifier is copied per request to give it the
// request's Lookup); an entry is used only with the secret it was derived from, so sharing
// never lends one credential's key to another.
var signingKeys keyCache

type keyCache struct {
	mu sync.Mutex
	m  map[keyCacheKey]keyCacheEntry
}

type keyCacheKey struct {
	accessKeyID string
	scope       Scope
}

type keyCacheEntry struct {
	secret string // the key is reused only while Lookup returns the same secret
	key    SigningKey
}

// signingKey returns DeriveSigningKey(secret, scope), from the cache when secret is the
// one the key was derived from.
func (c *keyCache) signingKey(accessKeyID, secret string, scope Scope) SigningKey {
	k := keyCacheKey{accessKeyID: accessKeyID, scope: scope}
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && subtle.ConstantTimeCompare([]byte(e.secret), []byte(secret)) == 1 {
		return e.key
	}
	key := DeriveSigningKey(secret, scope)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= keyCacheMax {
		c.m = make(map[keyCacheKey]keyCacheEntry)
	}
	// The strings may be views of a request buffer the server reuses: the map keeps copies.
	k = keyCacheKey{accessKeyID: strings.Clone(accessKeyID),
		scope: Scope{Date: strings.Clone(scope.Date), Region: strings.Clone(scope.Region), Service: strings.Clone(scope.Service)}}
	c.m[k] = keyCacheEntry{secret: strings.Clone(secret), key: key}
	c.mu.Unlock()
	return key
}
