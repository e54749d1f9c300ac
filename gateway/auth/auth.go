// Package auth turns credentials into a Principal: who is calling and which Postgres role
// their statements run as. It verifies JWTs the way the reference server does (raw-bytes
// HMAC secret, an algorithm allow-list, exp/nbf without skew) and mints the tokens the
// server hands out. It is a leaf package: standard library plus golang-jwt.
package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// Verifier checks JWTs with the configured secret and algorithm.
type Verifier struct {
	secret    []byte
	algorithm string
	roles     Roles
	now       func() time.Time
}

// NewVerifier returns a Verifier for HMAC tokens signed with secret (its raw bytes, as the
// reference uses it) and algorithm (HS256, HS384 or HS512).
func NewVerifier(secret, algorithm string, roles Roles) (*Verifier, error) {
	switch algorithm {
	case "HS256", "HS384", "HS512":
	default:
		return nil, fmt.Errorf("unsupported JWT algorithm %q", algorithm)
	}
	if secret == "" {
		return nil, errors.New("empty JWT secret")
	}
	return &Verifier{secret: []byte(secret), algorithm: algorithm, roles: roles, now: time.Now}, nil
}

// Verify checks token and returns the principal it names.
func (v *Verifier) Verify(token string) (Principal, error) {
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
	return p, nil
}

// Claims verifies token and returns its payload.
func (v *Verifier) Claims(token string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{v.algorithm}),
		jwt.WithTimeFunc(v.now),
	)
	_, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		return v.secret, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidToken, jwtMessage(err))
	}
	return claims, nil
}

// jwtMessage maps golang-jwt errors onto the messages the reference's JWT library produces,
// which clients show to users.
func jwtMessage(err error) string {
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

// Sign mints a token over claims with the verifier's secret and algorithm. Signed URLs and
// the generated anon/service keys use it.
func (v *Verifier) Sign(claims map[string]any) (string, error) {
	t := jwt.NewWithClaims(jwt.GetSigningMethod(v.algorithm), jwt.MapClaims(claims))
	return t.SignedString(v.secret)
}

// NewKey mints a long-lived API key (the anon or service key) for role.
func (v *Verifier) NewKey(role string, lifetime time.Duration) (string, error) {
	now := v.now()
	return v.Sign(map[string]any{"role": role, "iss": "stowage", "iat": now.Unix(), "exp": now.Add(lifetime).Unix()})
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
