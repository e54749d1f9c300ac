package auth

import (
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifyCacheHonoursExpiry: a cached token stops being accepted at its exp, and a
// refused token is never cached.
func TestVerifyCacheHonoursExpiry(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	v, err := New(Options{Secret: testSecret, Roles: testRoles, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", jwt.MapClaims{
		"role": "authenticated", "sub": "u1", "exp": now.Add(time.Minute).Unix()})
	for i := range 2 { // verified, then from the cache
		p, err := v.Verify(tok)
		if err != nil || p.Role != "authenticated" || p.Sub != "u1" || p.Token != tok {
			t.Fatalf("verify #%d: %+v, %v", i, p, err)
		}
	}
	now = now.Add(time.Minute)
	if _, err := v.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("at exp: %v, want ErrInvalidToken", err)
	}
	forged := tok[:len(tok)-2] + "xx"
	for i := range 2 {
		if _, err := v.Verify(forged); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("forged #%d: %v, want ErrInvalidToken", i, err)
		}
	}
}

// BenchmarkVerify is the REST dialect's per-request token check: the same token on every
// request (cached), and a new Verifier each time (uncached, as before the cache).
func BenchmarkVerify(b *testing.B) {
	claims := jwt.MapClaims{"role": "service_role", "iss": "stowage", "exp": time.Now().Add(time.Hour).Unix()}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSecret))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("cached", func(b *testing.B) {
		v, _ := New(Options{Secret: testSecret, Roles: testRoles})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		v, _ := New(Options{Secret: testSecret, Roles: testRoles})
		b.ReportAllocs()
		for b.Loop() {
			v.verified = principalCache{}
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestVerifyCacheKeepsNoRequestBuffer: the server hands Verify a view of a request buffer
// it reuses for the next request; a cached principal must not keep that view (the race
// detector saw a reused header buffer reach pgx as request.jwt before this held).
func TestVerifyCacheKeepsNoRequestBuffer(t *testing.T) {
	v, err := New(Options{Secret: testSecret, Roles: testRoles})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", jwt.MapClaims{"role": "authenticated", "sub": "u1"})
	buf := []byte(tok)
	if _, err := v.Verify(unsafe.String(&buf[0], len(buf))); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'x' // the buffer now holds the next request
	}
	p, err := v.Verify(tok)
	if err != nil || p.Token != tok {
		t.Fatalf("cached principal: token %q, %v; want the caller's token", p.Token, err)
	}
}
