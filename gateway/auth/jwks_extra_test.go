package auth

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestSetExtraJWKS: keys given at run time verify tokens beside the secret, and stop
// doing so when replaced; a malformed key is skipped, not fatal.
func TestSetExtraJWKS(t *testing.T) {
	t.Parallel()
	v, err := New(Options{Secret: "env-secret", Roles: Roles{Anon: "anon"}})
	if err != nil {
		t.Fatal(err)
	}
	tenantKey := []byte("a tenant key of thirty-two bytes!")
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"role": "authenticated", "sub": "u1"})
	tok.Header["kid"] = "ext_1"
	signed, err := tok.SignedString(tenantKey)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := v.Sign(map[string]any{"role": "anon"})
	doc := `{"keys":[{"kty":"oct","kid":"ext_1","alg":"HS256","k":"` + base64.RawURLEncoding.EncodeToString(tenantKey) + `"},
		{"kty":"RSA","kid":"broken","n":"!!","e":"AQAB"}]}`

	steps := []struct {
		name      string
		doc       string
		skipped   int
		tenantOK  bool
		urlKeyKid string
	}{
		{"before", "", 0, false, ""},
		{"tenant key added", doc, 1, true, ""},
		{"tenant key removed", `{"keys":[]}`, 0, false, ""},
		// As engine.TenantJWKS writes it: the URL-signing key is one of the keys too.
		{"url signing key", `{"keys":[{"kty":"oct","kid":"storage-url-signing-key_9","alg":"HS512","k":"c2VjcmV0"}],
			"urlSigningKey":{"kty":"oct","kid":"storage-url-signing-key_9","alg":"HS512","k":"c2VjcmV0"}}`, 0, false, "storage-url-signing-key_9"},
	}
	for _, st := range steps {
		if st.doc != "" {
			skipped, err := v.SetExtraJWKS([]byte(st.doc))
			if err != nil || skipped != st.skipped {
				t.Fatalf("%s: SetExtraJWKS = %d, %v; want %d skipped", st.name, skipped, err, st.skipped)
			}
		}
		p, err := v.Verify(signed)
		if st.tenantOK && (err != nil || p.Sub != "u1" || p.Role != "authenticated") {
			t.Fatalf("%s: tenant-key token: %+v, %v", st.name, p, err)
		}
		if !st.tenantOK && !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("%s: tenant-key token accepted: %v", st.name, err)
		}
		if _, err := v.Verify(env); err != nil {
			t.Fatalf("%s: AUTH_JWT_SECRET token refused: %v", st.name, err)
		}
		u, err := v.SignURL(map[string]any{"url": "b/k"})
		if err != nil {
			t.Fatal(err)
		}
		parsed, _, _ := jwt.NewParser().ParseUnverified(u, jwt.MapClaims{})
		if kid, _ := parsed.Header["kid"].(string); kid != st.urlKeyKid {
			t.Fatalf("%s: URL token kid %q, want %q", st.name, kid, st.urlKeyKid)
		}
		if _, err := v.Claims(u); err != nil {
			t.Fatalf("%s: URL token does not verify: %v", st.name, err)
		}
	}
	if _, err := v.SetExtraJWKS([]byte(`not json`)); err == nil {
		t.Fatal("SetExtraJWKS accepted a non-JSON document")
	}
}
