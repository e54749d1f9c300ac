package sigv4

import (
	"context"
	"testing"
)

// TestKeyCacheFollowsSecret: a cached signing key is used only while Lookup returns the
// secret it was derived from, so a rotated secret takes effect at once.
func TestKeyCacheFollowsSecret(t *testing.T) {
	secret := testSecret
	v := testVerifier(testTime)
	v.Lookup = func(string) (string, bool) { return secret, true }
	signed := func(s string) Request {
		r := newHTTPRequest(t, "GET", "/bucket/key", "")
		r.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
		creds := sdkCredentials("")
		creds.SecretAccessKey = s
		if err := sdkSigner().SignHTTP(context.Background(), creds, r, unsignedPayload, "s3", testRegion, testTime); err != nil {
			t.Fatal(err)
		}
		return toRequest(r)
	}
	const rotated = "rotated-secret-0123456789"
	cases := []struct {
		name    string
		current string // what Lookup returns
		signer  string // what the client signed with
		want    error
	}{
		{"first use derives and caches", testSecret, testSecret, nil},
		{"second use hits the cache", testSecret, testSecret, nil},
		{"wrong secret with a cached key", testSecret, rotated, ErrSignatureDoesNotMatch},
		{"rotated: new secret verifies", rotated, rotated, nil},
		{"rotated: old secret refused", rotated, testSecret, ErrSignatureDoesNotMatch},
	}
	for _, tc := range cases {
		secret = tc.current
		_, err := v.Verify(signed(tc.signer))
		if err != tc.want {
			t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// BenchmarkVerifyHeaderSigned is the S3 dialect's per-request signature check (a GET
// signed in the Authorization header): with the derived key cached, and uncached (a new
// Verifier each time, as every request was before the cache).
func BenchmarkVerifyHeaderSigned(b *testing.B) {
	r := newHTTPRequest(b, "GET", "/bucket/some/key.txt", "")
	signHeader(b, r, unsignedPayload, testRegion, testTime)
	req := toRequest(r)
	b.Run("cached", func(b *testing.B) {
		v := testVerifier(testTime)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := testVerifier(testTime).Verify(req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDeriveSigningKey is what the cache saves per request.
func BenchmarkDeriveSigningKey(b *testing.B) {
	scope := Scope{Date: "20240315", Region: testRegion, Service: "s3"}
	b.ReportAllocs()
	for b.Loop() {
		DeriveSigningKey(testSecret, scope)
	}
}
