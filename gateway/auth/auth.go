// Package auth turns credentials into a Principal: who is calling and which Postgres role
// their statements run as. It verifies JWTs the way the reference server does (raw-bytes
// HMAC secret, an algorithm allow-list, exp/nbf without skew) and mints the tokens the
// server hands out. It is a leaf package: standard library plus golang-jwt.
package auth

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Principal is the identity a request acts as.
type Principal struct {
	// Role is the Postgres role statements run as (the JWT role claim, anon when absent).
	Role string
	// Sub is the JWT subject, "" when absent.
	Sub string
	// Claims is the JSON text of the whole JWT payload (request.jwt.claims).
	Claims string
	// Token is the raw bearer token ("" for anonymous requests).
	Token string
}

// Roles names the three Postgres roles of the API.
type Roles struct {
	Anon, Authenticated, Service string
}

// Anonymous is the principal of a request without credentials.
func (r Roles) Anonymous() Principal {
	return Principal{Role: r.Anon, Claims: fmt.Sprintf(`{"role":%q}`, r.Anon)}
}

// ServicePrincipal is the identity of the server's own "superuser" operations.
func (r Roles) ServicePrincipal(serviceKey string) Principal {
	return Principal{Role: r.Service, Claims: fmt.Sprintf(`{"role":%q}`, r.Service), Token: serviceKey}
}

// ErrInvalidToken wraps every verification failure; the message is safe to show clients.
var ErrInvalidToken = errors.New("invalid token")

// Options configure a Verifier.
type Options struct {
	// Secret is AUTH_JWT_SECRET, used as its raw bytes (as the reference does). It may be
	// empty when JWKS holds the keys.
	Secret string
	// Algorithm is AUTH_JWT_ALGORITHM: HS256, HS384 or HS512.
	Algorithm string
	// JWKS is JWT_JWKS: {"keys":[...], "urlSigningKey":{...}} (auth-and-config.md §2).
	JWKS  string
	Roles Roles
	// Now is the clock for exp/nbf checks and minted tokens (time.Now when nil).
	Now func() time.Time
}

// Verifier checks JWTs with the configured secret, algorithm and JWKS, and mints the
// tokens the server hands out (signed URLs, generated keys).
type Verifier struct {
	secret    []byte
	algorithm string
	// base holds JWT_JWKS's keys; ring is base plus the keys SetExtraJWKS last gave.
	base  keyring
	ring  atomic.Pointer[keyring]
	roles Roles
	now   func() time.Time
	// verified caches tokens already verified, until their exp (cache.go).
	verified principalCache
}

// keyring is one immutable key set and the algorithms it admits.
type keyring struct {
	keys    []jwk
	urlKey  *jwk
	methods []string
	// doc fingerprints the JWKS document SetExtraJWKS built the ring from.
	doc [sha256.Size]byte
}

func (v *Verifier) keys() *keyring { return v.ring.Load() }

// NewVerifier returns a Verifier for HMAC tokens signed with secret (its raw bytes, as the
// reference uses it) and algorithm (HS256, HS384 or HS512).
func NewVerifier(secret, algorithm string, roles Roles) (*Verifier, error) {
	return New(Options{Secret: secret, Algorithm: algorithm, Roles: roles})
}

// New returns a Verifier for opts. The accepted algorithms are opts.Algorithm plus the
// families of the JWKS keys: RS* for RSA, ES* for EC, EdDSA for OKP, HS* for oct keys.
func New(opts Options) (*Verifier, error) {
	switch opts.Algorithm {
	case "HS256", "HS384", "HS512":
	case "":
		opts.Algorithm = "HS256"
	default:
		return nil, fmt.Errorf("unsupported JWT algorithm %q", opts.Algorithm)
	}
	v := &Verifier{secret: []byte(opts.Secret), algorithm: opts.Algorithm, roles: opts.Roles, now: opts.Now}
	if v.now == nil {
		v.now = time.Now
	}
	if strings.TrimSpace(opts.JWKS) != "" {
		keys, urlKey, err := parseJWKS([]byte(opts.JWKS))
		if err != nil {
			return nil, err
		}
		v.base.keys, v.base.urlKey = keys, urlKey
	}
	if len(v.secret) == 0 && len(v.base.keys) == 0 {
		return nil, errors.New("empty JWT secret and no JWKS keys")
	}
	v.base.methods = allowedMethods(v.algorithm, v.base.keys)
	base := v.base
	v.ring.Store(&base)
	return v, nil
}

// SetExtraJWKS replaces the keys verified beside JWT_JWKS's with doc's ({"keys":[...],
// "urlSigningKey":{...}}): the tenant's keys managed through the admin API. A key that
// does not parse is skipped and counted in skipped. JWT_JWKS's urlSigningKey, when set,
// stays the URL-signing key; otherwise doc's is used. Safe for concurrent use with
// verification.
func (v *Verifier) SetExtraJWKS(doc []byte) (skipped int, err error) {
	var set struct {
		Keys          []json.RawMessage `json:"keys"`
		URLSigningKey json.RawMessage   `json:"urlSigningKey"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return 0, fmt.Errorf("JWKS: %w", err)
	}
	r := keyring{keys: append([]jwk(nil), v.base.keys...), urlKey: v.base.urlKey}
	for _, raw := range set.Keys {
		one, _, err := parseJWKS([]byte(`{"keys":[` + string(raw) + `]}`))
		if err != nil || len(r.keys)+len(one) > maxJWKSKeys {
			skipped++
			continue
		}
		r.keys = append(r.keys, one...)
	}
	if r.urlKey == nil && len(set.URLSigningKey) > 0 {
		if _, u, err := parseJWKS([]byte(`{"keys":[],"urlSigningKey":` + string(set.URLSigningKey) + `}`)); err == nil {
			r.urlKey = u
		}
	}
	r.methods = allowedMethods(v.algorithm, r.keys)
	r.doc = sha256.Sum256(doc)
	if old := v.ring.Swap(&r); old == nil || old.doc != r.doc {
		v.verified.reset()
	}
	return skipped, nil
}

// Verify checks token and returns the principal it names.
// A token verified before is answered from a cache until its exp (see principalCache).
func (v *Verifier) Verify(token string) (Principal, error) {
	now := v.now()
	if p, ok := v.verified.get(token, now); ok {
		p.Token = token
		return p, nil
	}
	claims, err := v.Claims(token)
	if err != nil {
		return Principal{}, err
	}
	raw, err := json.Marshal(claims)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	p := Principal{Role: v.roles.Anon, Claims: string(raw), Token: token}
	if r, ok := claims["role"].(string); ok && r != "" {
		p.Role = r
	}
	if s, ok := claims["sub"].(string); ok {
		p.Sub = s
	}
	v.verified.put(token, p, claims, now)
	return p, nil
}

// Claims verifies token and returns its payload.
func (v *Verifier) Claims(token string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	parser := jwt.NewParser(
		jwt.WithValidMethods(v.keys().methods),
		jwt.WithTimeFunc(v.now),
	)
	_, err := parser.ParseWithClaims(token, claims, v.key)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidToken, jwtMessage(err))
	}
	return claims, nil
}

// Message returns the client-facing text of a verification error (the JWT library
// message the reference shows).
func Message(err error) string {
	return strings.TrimPrefix(err.Error(), ErrInvalidToken.Error()+": ")
}

// jwtMessage maps golang-jwt errors onto the messages the reference's JWT library produces,
// which clients show to users.
func jwtMessage(err error) string {
	var ke *keyError
	if errors.As(err, &ke) {
		return ke.msg
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "Invalid Compact JWS"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if strings.Contains(err.Error(), "signing method") {
			return `"alg" (Algorithm) Header Parameter value not allowed`
		}
		return "signature verification failed"
	case errors.Is(err, jwt.ErrTokenExpired):
		return `"exp" claim timestamp check failed`
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return `"nbf" claim timestamp check failed`
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return `"alg" (Algorithm) Header Parameter value not allowed`
	}
	return "JWTInvalid"
}

// Sign mints a token over claims with the secret and AUTH_JWT_ALGORITHM: the generated
// anon/service keys and test users' tokens.
func (v *Verifier) Sign(claims map[string]any) (string, error) {
	if len(v.secret) == 0 {
		return "", errors.New("no JWT secret to sign with")
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(v.algorithm), jwt.MapClaims(claims))
	return t.SignedString(v.secret)
}

// SignURL mints a signed-URL token over claims with the URL-signing key: the JWKS
// urlSigningKey when configured (its kid in the header, its alg or AUTH_JWT_ALGORITHM),
// else AUTH_JWT_SECRET. The header carries no "typ", as the reference's tokens.
func (v *Verifier) SignURL(claims map[string]any) (string, error) {
	alg, key, kid := v.algorithm, v.secret, ""
	ring := v.keys()
	switch {
	case ring.urlKey != nil:
		key, kid = ring.urlKey.key.([]byte), ring.urlKey.kid
		if ring.urlKey.alg != "" {
			alg = ring.urlKey.alg
		}
	case len(key) == 0:
		for _, k := range ring.keys {
			if k.kty == "oct" {
				key, kid = k.key.([]byte), k.kid
				if k.alg != "" {
					alg = k.alg
				}
				break
			}
		}
	}
	if len(key) == 0 {
		return "", errors.New("no URL signing key: set AUTH_JWT_SECRET or a JWKS urlSigningKey")
	}
	if !hmacAlg(alg) {
		// A JWKS oct key may name any alg; signing with an unknown method would panic.
		return "", fmt.Errorf("URL signing key: unsupported alg %q", alg)
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(alg), jwt.MapClaims(claims))
	delete(t.Header, "typ")
	if kid != "" {
		t.Header["kid"] = kid
	}
	return t.SignedString(key)
}

// NewKey mints a long-lived API key (the anon or service key) for role.
func (v *Verifier) NewKey(role string, lifetime time.Duration) (string, error) {
	now := v.now()
	return v.Sign(map[string]any{"role": role, "iss": "stowage", "iat": now.Unix(), "exp": now.Add(lifetime).Unix()})
}

// ScopeAllows reports whether a signed-URL token's claims grant scope ("download" or
// "upload"): an explicit scope claim, or a legacy token without one that has an upsert
// claim (upload) or none (download), as the reference accepts.
func ScopeAllows(claims map[string]any, scope string) bool {
	sc, hasScope := claims["scope"].(string)
	_, hasUpsert := claims["upsert"]
	switch {
	case hasScope:
		return sc == scope
	case scope == "upload":
		return hasUpsert
	case scope == "download":
		return !hasUpsert
	}
	return false
}

// BearerToken extracts the token from an Authorization header value: "Bearer" is matched
// case-insensitively and is optional, as in the reference.
func BearerToken(header string) string {
	h := strings.TrimSpace(header)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return h
}
