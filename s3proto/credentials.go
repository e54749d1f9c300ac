package s3proto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/sigv4"
)

// credentialTokenLifetime is how long the JWT minted for an admin-created credential's
// request lives (request.jwt of RLS policies), as the reference's 5 minutes.
const credentialTokenLifetime = 5 * time.Minute

// credentials resolves the access keys of one request (spec §2.3): the service
// credentials, the session-token mode (tenant id + anon key), then the credentials created
// through the admin API (looked up in the engine, cached there). It remembers an admin
// credential's claims for principal, and a database failure, which is reported instead of
// "unknown access key".
type credentials struct {
	h      *Handler
	ctx    context.Context
	claims json.RawMessage // the matched admin credential's claims
	err    error
}

func (h *Handler) credentials(ctx context.Context) *credentials {
	return &credentials{h: h, ctx: ctx}
}

// verifier is the handler's verifier with this request's lookup.
func (cr *credentials) verifier() *sigv4.Verifier {
	v := *cr.h.verifier
	v.Lookup = cr.lookup
	return &v
}

func (cr *credentials) lookup(accessKeyID string) (string, bool) {
	if secret, ok := cr.h.lookup(accessKeyID); ok {
		return secret, true
	}
	secret, claims, err := cr.h.engine.LookupS3Credential(cr.ctx, accessKeyID)
	if err != nil {
		if !errors.Is(err, gateway.ErrUnknownAccessKey) {
			cr.err = err
		}
		return "", false
	}
	cr.claims = claims
	return secret, true
}

// failed returns the lookup's database error in place of err (InvalidAccessKeyId) when
// the database could not say whether the key exists.
func (cr *credentials) failed(err error) error {
	if cr.err != nil {
		return cr.err
	}
	return err
}

// principal is the identity of an admin-created credential: its claims, as a JWT with
// those claims would give (role, sub, request.jwt.claims), plus a short-lived token over
// them as request.jwt.
func (cr *credentials) principal() (auth.Principal, error) {
	var claims map[string]any
	if err := json.Unmarshal(cr.claims, &claims); err != nil || claims == nil {
		return auth.Principal{}, &gateway.Error{Code: gateway.CodeInternal, Err: fmt.Errorf("S3 credential claims: %v", err)}
	}
	p := auth.Principal{Role: cr.h.opts.Roles.Anon, Claims: string(cr.claims)}
	if r, ok := claims["role"].(string); ok && r != "" {
		p.Role = r
	}
	if s, ok := claims["sub"].(string); ok {
		p.Sub = s
	}
	if v := cr.h.opts.Verifier; v != nil {
		now := time.Now()
		if cr.h.opts.Now != nil {
			now = cr.h.opts.Now()
		}
		signed := make(map[string]any, len(claims)+2)
		for k, val := range claims {
			signed[k] = val
		}
		signed["iat"], signed["exp"] = now.Unix(), now.Add(credentialTokenLifetime).Unix()
		if tok, err := v.Sign(signed); err == nil {
			p.Token = tok
		}
	}
	return p, nil
}
