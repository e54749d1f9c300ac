package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testRoles = Roles{Anon: "anon", Authenticated: "authenticated", Service: "service_role"}

const testSecret = "super-secret-jwt-token-with-at-least-32-characters"

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

type testKeys struct {
	rsa  *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
	ed   ed25519.PrivateKey
	oct  []byte
	jwks string
}

func newTestKeys(t *testing.T) testKeys {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, _ := ek.PublicKey.Bytes() // 0x04 || X || Y
	oct := []byte("an-oct-key-from-the-jwks-0123456789")
	set := map[string]any{"keys": []map[string]any{
		{"kty": "RSA", "kid": "rsa1", "alg": "RS256", "n": enc(rk.N.Bytes()), "e": enc(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "EC", "kid": "ec1", "crv": "P-256", "x": enc(ecPub[1:33]), "y": enc(ecPub[33:])},
		{"kty": "OKP", "kid": "ed1", "crv": "Ed25519", "x": enc(edk.Public().(ed25519.PublicKey))},
		{"kty": "oct", "kid": "oct1", "alg": "HS384", "k": enc(oct)},
	}}
	b, _ := json.Marshal(set)
	return testKeys{rsa: rk, ec: ek, ed: edk, oct: oct, jwks: string(b)}
}

func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	t.Parallel()
	keys := newTestKeys(t)
	now := time.Now()
	user := jwt.MapClaims{"role": "authenticated", "sub": "u1", "exp": now.Add(time.Hour).Unix()}
	pubDER, _ := x509.MarshalPKIXPublicKey(&keys.rsa.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	none := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(`{"role":"service_role"}`)) + "."

	withJWKS, err := New(Options{Secret: testSecret, Algorithm: "HS256", JWKS: keys.jwks, Roles: testRoles})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewVerifier(testSecret, "HS256", testRoles)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		v       *Verifier
		token   string
		role    string // "" means rejected
		message string
	}{
		{"hs256 secret", plain, sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", user), "authenticated", ""},
		{"no role claim is anon", plain, sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", jwt.MapClaims{"sub": "x"}), "anon", ""},
		{"hs512 not allowed", plain, sign(t, jwt.SigningMethodHS512, []byte(testSecret), "", user), "", `"alg" (Algorithm) Header Parameter value not allowed`},
		{"wrong secret", plain, sign(t, jwt.SigningMethodHS256, []byte("other"), "", user), "", "signature verification failed"},
		{"expired", plain, sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", jwt.MapClaims{"exp": now.Add(-time.Second).Unix()}), "", `"exp" claim timestamp check failed`},
		{"not yet valid", plain, sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()}), "", `"nbf" claim timestamp check failed`},
		{"alg none", withJWKS, none, "", `"alg" (Algorithm) Header Parameter value not allowed`},
		{"malformed", plain, "not.a-jwt", "", "Invalid Compact JWS"},
		{"rs256 without jwks", plain, sign(t, jwt.SigningMethodRS256, keys.rsa, "rsa1", user), "", `"alg" (Algorithm) Header Parameter value not allowed`},
		{"rs256 jwks", withJWKS, sign(t, jwt.SigningMethodRS256, keys.rsa, "rsa1", user), "authenticated", ""},
		{"rs256 unknown kid", withJWKS, sign(t, jwt.SigningMethodRS256, keys.rsa, "nope", user), "", "no applicable key found in the JSON Web Key Set"},
		{"es256 jwks", withJWKS, sign(t, jwt.SigningMethodES256, keys.ec, "ec1", user), "authenticated", ""},
		{"eddsa jwks", withJWKS, sign(t, jwt.SigningMethodEdDSA, keys.ed, "ed1", user), "authenticated", ""},
		{"oct jwks key by kid", withJWKS, sign(t, jwt.SigningMethodHS384, keys.oct, "oct1", user), "authenticated", ""},
		{"oct kid alg mismatch", withJWKS, sign(t, jwt.SigningMethodHS256, keys.oct, "oct1", user), "", `JWT algorithm "HS256" does not match JWK algorithm "HS384"`},
		{"secret still works with jwks", withJWKS, sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", user), "authenticated", ""},
		{"confusion: hs256 signed with rsa public pem", withJWKS, sign(t, jwt.SigningMethodHS256, pubPEM, "rsa1", user), "", "signature verification failed"},
		{"confusion: hs256 signed with rsa modulus", withJWKS, sign(t, jwt.SigningMethodHS256, keys.rsa.N.Bytes(), "", user), "", "signature verification failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.v.Verify(tc.token)
			if tc.role == "" {
				if err == nil {
					t.Fatalf("accepted, want %q", tc.message)
				}
				if got := Message(err); got != tc.message {
					t.Fatalf("message %q, want %q", got, tc.message)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if p.Role != tc.role {
				t.Fatalf("role %q, want %q", p.Role, tc.role)
			}
		})
	}
}

func TestJWKSRejectsMalformed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, jwks string }{
		{"not json", "{"},
		{"bad rsa", `{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]}`},
		{"bad ec point", `{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}`},
		{"bad url signing key", `{"keys":[],"urlSigningKey":{"kty":"RSA"}}`},
		{"url signing key with an unknown alg", `{"keys":[],"urlSigningKey":{"kty":"oct","k":"c2VjcmV0","alg":"HS1024"}}`},
		{"url signing key with an RSA alg", `{"keys":[],"urlSigningKey":{"kty":"oct","k":"c2VjcmV0","alg":"RS256"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(Options{Secret: testSecret, JWKS: tc.jwks, Roles: testRoles}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestSignURL(t *testing.T) {
	t.Parallel()
	claims := map[string]any{"url": "b/k", "scope": "download", "exp": time.Now().Add(time.Minute).Unix()}
	t.Run("secret", func(t *testing.T) {
		v, _ := NewVerifier(testSecret, "HS256", testRoles)
		tok, err := v.SignURL(claims)
		if err != nil {
			t.Fatal(err)
		}
		header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
		if string(header) != `{"alg":"HS256"}` {
			t.Fatalf("header %s", header)
		}
		if _, err := v.Claims(tok); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("jwks url signing key", func(t *testing.T) {
		k := enc([]byte("url-signing-key-material-0123456789"))
		v, err := New(Options{Secret: testSecret, JWKS: `{"keys":[],"urlSigningKey":{"kty":"oct","kid":"u1","k":"` + k + `"}}`, Roles: testRoles})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := v.SignURL(claims)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Claims(tok); err != nil {
			t.Fatal(err)
		}
		if other, _ := NewVerifier(testSecret, "HS256", testRoles); other != nil {
			if _, err := other.Claims(tok); err == nil {
				t.Fatal("token signed with the url key verified with the secret")
			}
		}
	})
}

// An oct key of the JWKS used for URL signing (no secret, no urlSigningKey) may name an
// alg no HMAC method implements: SignURL reports an error instead of panicking.
func TestSignURLUnknownAlg(t *testing.T) {
	t.Parallel()
	v, err := New(Options{JWKS: `{"keys":[{"kty":"oct","kid":"o1","k":"c2VjcmV0LWtleS1tYXRlcmlhbA","alg":"HS1024"}]}`, Roles: testRoles})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.SignURL(map[string]any{"url": "b/k"}); err == nil {
		t.Fatal("signed with an unknown alg")
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"bearer", "Bearer abc", "abc"},
		{"lower case", "bearer abc", "abc"},
		{"bare", "abc", "abc"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := BearerToken(tc.in); got != tc.want {
				t.Fatalf("%q", got)
			}
		})
	}
}
