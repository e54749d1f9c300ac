package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// jwk is one usable key of the JWKS: the public half only (private members are ignored).
type jwk struct {
	kty, kid, alg, crv string
	key                any // []byte (oct), *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey
}

type rawJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
	K   string `json:"k"`
}

// maxJWKSKeys bounds the configured key set.
const maxJWKSKeys = 100

// parseJWKS reads {"keys":[...], "urlSigningKey":{...}}. Malformed keys are errors (the
// server refuses to start); key types we cannot use (Ed448) are skipped.
func parseJWKS(data []byte) ([]jwk, *jwk, error) {
	var set struct {
		Keys          []rawJWK `json:"keys"`
		URLSigningKey *rawJWK  `json:"urlSigningKey"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, nil, fmt.Errorf("JWKS: %w", err)
	}
	if len(set.Keys) > maxJWKSKeys {
		return nil, nil, fmt.Errorf("JWKS: more than %d keys", maxJWKSKeys)
	}
	var keys []jwk
	for i, r := range set.Keys {
		k, ok, err := r.parse()
		if err != nil {
			return nil, nil, fmt.Errorf("JWKS key %d (kid %q): %w", i, r.Kid, err)
		}
		if ok {
			keys = append(keys, k)
		}
	}
	var urlKey *jwk
	if set.URLSigningKey != nil {
		k, ok, err := set.URLSigningKey.parse()
		if err != nil || !ok || k.kty != "oct" || (k.alg != "" && !hmacAlg(k.alg)) {
			return nil, nil, fmt.Errorf("JWKS urlSigningKey: must be an oct key with k and an HS256, HS384 or HS512 alg (%v)", err)
		}
		urlKey = &k
		keys = append(keys, k)
	}
	return keys, urlKey, nil
}

func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func (r rawJWK) parse() (jwk, bool, error) {
	k := jwk{kty: r.Kty, kid: r.Kid, alg: r.Alg, crv: r.Crv}
	switch r.Kty {
	case "oct":
		if r.K == "" {
			return k, false, nil
		}
		b, err := b64(r.K)
		if err != nil || len(b) == 0 {
			return k, false, errors.New("bad k")
		}
		k.key = b
	case "RSA":
		n, err1 := b64(r.N)
		e, err2 := b64(r.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return k, false, errors.New("bad n or e")
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		k.key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	case "EC":
		curve := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}[r.Crv]
		if curve == nil {
			return k, false, fmt.Errorf("unsupported curve %q", r.Crv)
		}
		x, err1 := b64(r.X)
		y, err2 := b64(r.Y)
		size := (curve.Params().BitSize + 7) / 8
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return k, false, errors.New("bad x or y")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return k, false, err
		}
		k.key = pub
	case "OKP":
		if r.Crv != "Ed25519" {
			return k, false, nil // Ed448 is not in the standard library
		}
		x, err := b64(r.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return k, false, errors.New("bad x")
		}
		k.key = ed25519.PublicKey(x)
	default:
		return k, false, nil
	}
	return k, true, nil
}

// allowedMethods is AUTH_JWT_ALGORITHM plus the families the JWKS keys make possible.
func allowedMethods(alg string, keys []jwk) []string {
	out := []string{alg}
	add := func(algs ...string) {
		for _, a := range algs {
			if !contains(out, a) {
				out = append(out, a)
			}
		}
	}
	for _, k := range keys {
		switch k.kty {
		case "RSA":
			add("RS256", "RS384", "RS512")
		case "EC":
			add("ES256", "ES384", "ES512")
		case "OKP":
			add("EdDSA")
		case "oct":
			add("HS256", "HS384", "HS512")
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// keyError is a key-selection failure whose message is shown to clients.
type keyError struct{ msg string }

func (e *keyError) Error() string { return e.msg }

var errNoKey = &keyError{msg: "no applicable key found in the JSON Web Key Set"}

// legacyKidPrefix: URL-signing keys were once published with this kid prefix; a token
// naming the bare id still matches.
const legacyKidPrefix = "storage-url-signing-key_"

func kidMatches(jwkKid, tokenKid string) bool {
	return jwkKid == tokenKid || strings.TrimPrefix(jwkKid, legacyKidPrefix) == strings.TrimPrefix(tokenKid, legacyKidPrefix)
}

// hmacAlg reports whether alg is one of the HMAC algorithms tokens can be signed with.
func hmacAlg(alg string) bool { return alg == "HS256" || alg == "HS384" || alg == "HS512" }

// ktyOf is the key type an algorithm needs.
func ktyOf(alg string) string {
	switch {
	case strings.HasPrefix(alg, "HS"):
		return "oct"
	case strings.HasPrefix(alg, "RS"):
		return "RSA"
	case strings.HasPrefix(alg, "ES"):
		return "EC"
	case alg == "EdDSA":
		return "OKP"
	}
	return ""
}

var curveOf = map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}

// key selects the verification key for a token (auth-and-config.md §2). Each algorithm
// family only ever gets keys of its own type, so an HS256 token can never be checked
// against an RSA public key's bytes (algorithm confusion).
func (v *Verifier) key(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	kty := ktyOf(alg)
	secret := func() (any, error) {
		if len(v.secret) == 0 {
			return nil, errNoKey
		}
		return v.secret, nil
	}
	keys := v.keys().keys
	if kty == "oct" {
		if len(keys) == 0 || (kid == "" && alg == v.algorithm) {
			return secret()
		}
		for _, k := range keys {
			if k.kty != "oct" || (k.kid != "" && !kidMatches(k.kid, kid)) {
				continue
			}
			if k.alg != "" && k.alg != alg {
				if k.kid != "" {
					return nil, &keyError{msg: fmt.Sprintf("JWT algorithm %q does not match JWK algorithm %q", alg, k.alg)}
				}
				continue
			}
			return k.key, nil
		}
		return secret()
	}
	for _, k := range keys {
		if k.kid != kid || k.kty != kty || (k.alg != "" && k.alg != alg) {
			continue
		}
		if kty == "EC" && k.crv != curveOf[alg] {
			continue
		}
		return k.key, nil
	}
	return nil, errNoKey
}
