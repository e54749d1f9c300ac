package rest

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
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	aliceID = "11111111-1111-4111-8111-111111111111"
	bobID   = "22222222-2222-4222-8222-222222222222"
)

// TestRowLevelSecurity runs the classic Supabase policy: authenticated users read and
// write only under a folder named after their uid; anon has no policy at all.
func TestRowLevelSecurity(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("rls", nil)
	f.sql(`create policy own_read on storage.objects for select to authenticated
		using (bucket_id = 'rls' and (storage.foldername(name))[1] = auth.uid()::text)`)
	f.sql(`create policy own_write on storage.objects for insert to authenticated
		with check (bucket_id = 'rls' and (storage.foldername(name))[1] = auth.uid()::text)`)
	f.put("rls", bobID+"/secret.txt", "bob's")
	alice := f.user(aliceID)

	f.must(f.do("POST", "/object/rls/"+aliceID+"/a.txt", alice, "alice's", "Content-Type", "text/plain"), 200)
	for _, tc := range []struct {
		name, method, path, key string
		body                    any
		want                    envelope
	}{
		{"write into another folder", "POST", "/object/rls/" + bobID + "/x.txt", "alice", "x", envelope{400, "403", "AccessDenied", "new row violates row-level security policy"}},
		{"read another folder", "GET", "/object/authenticated/rls/" + bobID + "/secret.txt", "alice", nil, envelope{400, "404", "NoSuchKey", ""}},
		{"info of another folder", "GET", "/object/info/rls/" + bobID + "/secret.txt", "alice", nil, envelope{400, "404", "NoSuchKey", ""}},
		{"sign another folder", "POST", "/object/sign/rls/" + bobID + "/secret.txt", "alice", map[string]any{"expiresIn": 60}, envelope{400, "404", "NoSuchKey", ""}},
		{"anon key reads nothing", "GET", "/object/rls/" + aliceID + "/a.txt", "anon", nil, envelope{400, "404", "NoSuchKey", ""}},
		{"no token on a private bucket", "GET", "/object/rls/" + aliceID + "/a.txt", "", nil, envelope{400, "404", "NoSuchBucket", ""}},
		{"delete without a delete policy", "DELETE", "/object/rls/" + aliceID + "/a.txt", "alice", nil, envelope{400, "403", "AccessDenied", "Access denied"}},
		{"upsert needs update", "POST", "/object/rls/" + aliceID + "/a.txt", "alice", "y", envelope{400, "409", "KeyAlreadyExists", ""}},
		{"create bucket as user", "POST", "/bucket", "alice", map[string]any{"name": "mine"}, envelope{400, "403", "AccessDenied", "new row violates row-level security policy"}},
		{"copy from another folder", "POST", "/object/copy", "alice", map[string]any{"bucketId": "rls", "sourceKey": bobID + "/secret.txt", "destinationKey": aliceID + "/stolen.txt"}, envelope{400, "404", "NoSuchKey", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			key := map[string]string{"alice": alice, "anon": f.anon, "": ""}[tc.key]
			f.checkError(f.do(tc.method, tc.path, key, tc.body, "Content-Type", "text/plain"), tc.want)
		})
	}
	t.Run("own folder readable", func(t *testing.T) {
		f.t = t
		if got := f.must(f.do("GET", "/object/rls/"+aliceID+"/a.txt", alice, nil), 200).body; string(got) != "alice's" {
			t.Fatalf("%q", got)
		}
	})
	t.Run("listings show only visible rows", func(t *testing.T) {
		f.t = t
		var root []map[string]any
		mustJSON(t, f.must(f.do("POST", "/object/list/rls", alice, map[string]any{"prefix": ""}), 200).body, &root)
		if len(root) != 1 || root[0]["name"] != aliceID {
			t.Fatalf("%v", root)
		}
		var sign []map[string]any
		mustJSON(t, f.must(f.do("POST", "/object/sign/rls", alice, map[string]any{"expiresIn": 60, "paths": []string{bobID + "/secret.txt", aliceID + "/a.txt"}}), 200).body, &sign)
		if sign[0]["signedURL"] != nil || sign[1]["signedURL"] == nil {
			t.Fatalf("%v", sign)
		}
		var deleted []any
		mustJSON(t, f.must(f.do("DELETE", "/object/rls", alice, map[string]any{"prefixes": []string{bobID + "/secret.txt"}}), 200).body, &deleted)
		if len(deleted) != 0 {
			t.Fatalf("deleted %v", deleted)
		}
	})
}

// TestPoliciesSeeRequestHeaders: a policy may read the request's headers
// (request.headers, lower-case names, as the reference sets them), on reads and on writes;
// the headers reach Postgres although the engine builds their JSON only when asked.
func TestPoliciesSeeRequestHeaders(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("hdr", nil)
	f.sql(`create policy hdr_read on storage.objects for select to authenticated
		using (bucket_id = 'hdr' and current_setting('request.headers', true)::json->>'x-tenant' = 'acme')`)
	f.sql(`create policy hdr_write on storage.objects for insert to authenticated
		with check (bucket_id = 'hdr' and current_setting('request.headers', true)::json->>'x-tenant' = 'acme'
			and current_setting('request.headers', true)::json->>'authorization' like 'Bearer %')`)
	alice := f.user(aliceID)
	f.checkError(f.do("POST", "/object/hdr/a.txt", alice, "a", "Content-Type", "text/plain", "X-Tenant", "other"),
		envelope{400, "403", "AccessDenied", "new row violates row-level security policy"})
	f.must(f.do("POST", "/object/hdr/a.txt", alice, "a", "Content-Type", "text/plain", "X-Tenant", "acme"), 200)
	f.checkError(f.do("GET", "/object/authenticated/hdr/a.txt", alice, nil), envelope{400, "404", "NoSuchKey", ""})
	if got := f.must(f.do("GET", "/object/authenticated/hdr/a.txt", alice, nil, "X-Tenant", "acme"), 200).body; string(got) != "a" {
		t.Fatalf("%q", got)
	}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestJWKSTokens verifies asymmetric tokens from a configured JWKS end to end, and that
// alg=none and HS256-with-the-public-key (algorithm confusion) are refused.
func TestJWKSTokens(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecPub, _ := ek.PublicKey.Bytes()
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]any{
		{"kty": "RSA", "kid": "r", "n": b64url(rk.N.Bytes()), "e": b64url(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "EC", "kid": "e", "crv": "P-256", "x": b64url(ecPub[1:33]), "y": b64url(ecPub[33:])},
		{"kty": "OKP", "kid": "d", "crv": "Ed25519", "x": b64url(edPub)},
	}})
	f := newFixture(t, fixtureOptions{jwks: string(jwks)})
	claims := jwt.MapClaims{"role": "service_role", "exp": time.Now().Add(time.Hour).Unix()}
	mint := func(m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(m, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	der, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	none := b64url([]byte(`{"alg":"none","kid":"r"}`)) + "." + b64url([]byte(`{"role":"service_role"}`)) + "."
	for _, tc := range []struct {
		name, token, deny string
	}{
		{"rs256", mint(jwt.SigningMethodRS256, rk, "r", claims), ""},
		{"es256", mint(jwt.SigningMethodES256, ek, "e", claims), ""},
		{"eddsa", mint(jwt.SigningMethodEdDSA, edKey, "d", claims), ""},
		{"expired rs256", mint(jwt.SigningMethodRS256, rk, "r", jwt.MapClaims{"role": "service_role", "exp": time.Now().Add(-time.Minute).Unix()}), `"exp" claim timestamp check failed`},
		{"not yet valid es256", mint(jwt.SigningMethodES256, ek, "e", jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()}), `"nbf" claim timestamp check failed`},
		{"alg none", none, `"alg" (Algorithm) Header Parameter value not allowed`},
		{"hs256 signed with the rsa public key", mint(jwt.SigningMethodHS256, pubPEM, "r", claims), "signature verification failed"},
		{"es256 under the rsa kid", mint(jwt.SigningMethodES256, ek, "r", claims), "no applicable key found in the JSON Web Key Set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			r := f.do("GET", "/bucket", tc.token, nil)
			if tc.deny == "" {
				f.must(r, 200)
				return
			}
			f.checkError(r, envelope{400, "403", "AccessDenied", tc.deny})
		})
	}
	t.Run("service role from an rs256 token bypasses rls", func(t *testing.T) {
		f.t = t
		f.must(f.do("POST", "/bucket", mint(jwt.SigningMethodRS256, rk, "r", claims), map[string]any{"name": fmt.Sprint("jwks")}), 200)
	})
}
