package sigv4

import (
	"crypto/hmac"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultMaxSkew is how far x-amz-date may be from the server clock (AWS: 15 minutes).
const DefaultMaxSkew = 15 * time.Minute

// Verifier checks SigV4 signatures. The zero value is not usable: Lookup is
// required. A Verifier is safe for concurrent use once configured.
type Verifier struct {
	// Region is the server's region (STORAGE_S3_REGION).
	Region string
	// Service is the service name in the credential scope; "" means "s3".
	Service string
	// EnforceRegion rejects a credential scope naming another region
	// (S3_PROTOCOL_ENFORCE_REGION). When false the scope's region, whatever it
	// is, derives the signing key.
	EnforceRegion bool
	// Lookup returns the secret for an access key id, or false if the key is unknown.
	Lookup func(accessKeyID string) (secret string, ok bool)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxSkew bounds |x-amz-date - now| for header-signed requests and how
	// far in the future a presigned X-Amz-Date may be; 0 means DefaultMaxSkew.
	MaxSkew time.Duration
	// DisableV2 refuses every SigV2 carrier (header, presigned query, POST form) with
	// ErrV2Disabled before any signature is checked (S3_PROTOCOL_ALLOW_SIGV2=false).
	DisableV2 bool
}

// Result describes a request whose signature verified.
type Result struct {
	AccessKeyID string
	// SessionToken is x-amz-security-token (header or query), e.g. a user JWT
	// the caller must verify in turn.
	SessionToken string
	Scope        Scope
	// Time is the signing time (x-amz-date, Date or X-Amz-Date).
	// Time is zero for a SigV2 presigned URL, which has an expiry but no signing time.
	Time      time.Time
	Presigned bool
	// Version is the signature version that verified: 4, or 2 for SigV2 (which signs
	// only SubresourcesV2 of the query and no payload hash).
	Version int
	// Payload tells how the body must be checked; see Result.Body.
	Payload Payload
	// ContentSHA256 is the payload value of the canonical request: a
	// lower-case hex digest for PayloadSHA256, else the literal mode string.
	ContentSHA256 string
	// Signature is the verified request signature in lower-case hex: the seed
	// of the chunk signature chain.
	Signature string
	// SigningKey verifies chunk and trailer signatures.
	SigningKey SigningKey
}

// Timestamp returns Time in the X-Amz-Date format used by chunk signatures.
func (r *Result) Timestamp() string { return r.Time.UTC().Format(timeFormat) }

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return DefaultMaxSkew
}

func (v *Verifier) service() string {
	if v.Service != "" {
		return v.Service
	}
	return "s3"
}

// Verify checks the signature of req, carried by an "AWS4-HMAC-SHA256 "
// Authorization header (preferred over a SigV4 presigned query, as by the
// reference), a SigV4 presigned query, an "AWS key:signature" (SigV2)
// Authorization header or a SigV2 presigned query (AWSAccessKeyId, Expires,
// Signature). A SigV2 carrier together with any other is refused, as S3 refuses
// more than one mechanism. Other Authorization schemes are ignored.
// On success the body still has to be checked: see Result.Body.
func (v *Verifier) Verify(req Request) (Result, error) {
	if v.Lookup == nil {
		return Result{}, ErrAccessDenied.with("No credentials configured")
	}
	params, err := parseQuery(req.RawQuery)
	if err != nil {
		return Result{}, err
	}
	auth := req.Header.Get("authorization")
	v4Header, v2Header := strings.HasPrefix(auth, Algorithm+" "), strings.HasPrefix(auth, schemeV2)
	var v4Query, v2Query bool
	for _, p := range params {
		switch p.key {
		case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature":
			v4Query = true
		case "AWSAccessKeyId", "Signature":
			v2Query = true
		}
	}
	if (v2Header || v2Query) && btoi(v4Header)+btoi(v2Header)+btoi(v4Query)+btoi(v2Query) > 1 {
		return Result{}, ErrInvalidArgument.with("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	}
	if (v2Header || v2Query) && v.DisableV2 {
		return Result{}, ErrV2Disabled
	}
	switch {
	case v4Header:
		return v.verifyHeader(req, params, auth)
	case v4Query:
		return v.verifyPresigned(req, params)
	case v2Header:
		return v.verifyHeaderV2(req, params, auth)
	case v2Query:
		return v.verifyPresignedV2(req, params)
	}
	return Result{}, ErrMissingAuth
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (v *Verifier) verifyHeader(req Request, params []queryParam, header string) (Result, error) {
	a, err := ParseAuthorization(header)
	if err != nil {
		return Result{}, err
	}
	t, err := requestTime(req.Header)
	if err != nil {
		return Result{}, err
	}
	if a.Scope.Date != t.Format("20060102") {
		return Result{}, ErrAuthorizationHeaderMalformed.with("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	if err := v.checkScope(a.Scope, scopeHeader); err != nil {
		return Result{}, err
	}
	if skew := v.now().Sub(t); skew > v.maxSkew() || skew < -v.maxSkew() {
		return Result{}, ErrRequestTimeTooSkewed
	}
	payload := req.Header.Get("x-amz-content-sha256")
	if payload == "" {
		// The reference treats a missing header as an unsigned payload (§2.2).
		payload = unsignedPayload
	}
	res := Result{SessionToken: req.Header.Get("x-amz-security-token"), Time: t}
	return v.finish(req, a, canonicalQuery(params, false), payload, res)
}

func (v *Verifier) verifyPresigned(req Request, params []queryParam) (Result, error) {
	q := make(url.Values, len(params))
	for _, p := range params {
		if strings.HasPrefix(p.key, "X-Amz-") {
			q[p.key] = append(q[p.key], p.value)
		}
	}
	a, err := ParsePresigned(q)
	if err != nil {
		return Result{}, err
	}
	if a.Scope.Date != a.Date.Format("20060102") {
		return Result{}, ErrAuthorizationQueryParametersError.with("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	if err := v.checkScope(a.Scope, scopeQuery); err != nil {
		return Result{}, err
	}
	now := v.now()
	if a.Date.Sub(now) > v.maxSkew() {
		return Result{}, ErrAccessDenied.with("Request is not yet valid")
	}
	if now.After(a.Date.Add(a.Expires)) {
		return Result{}, ErrExpiredPresigned
	}
	// The payload line is X-Amz-Content-Sha256 from the URL when present,
	// else the x-amz-content-sha256 header, signed or not (its value is then
	// covered by the signature all the same, as at S3, where an unsigned one
	// that differs from what was signed fails the signature); otherwise
	// presigned URLs are UNSIGNED-PAYLOAD.
	payload := a.ContentSHA256
	if payload == "" {
		payload = req.Header.Get("x-amz-content-sha256")
	}
	if payload == "" {
		payload = unsignedPayload
	}
	res := Result{SessionToken: a.SecurityToken, Time: a.Date, Presigned: true}
	return v.finish(req, a, canonicalQuery(params, true), payload, res)
}

// finish looks the secret up, recomputes the signature and classifies the payload.
func (v *Verifier) finish(req Request, a Authorization, query, payload string, res Result) (Result, error) {
	secret, ok := v.Lookup(a.AccessKeyID)
	if !ok {
		return Result{}, ErrInvalidAccessKeyID
	}
	if err := checkUnsignedHeaders(req.Header, a); err != nil {
		return Result{}, err
	}
	headers, err := canonicalHeaders(req, a.SignedHeaders)
	if err != nil {
		return Result{}, err
	}
	canonical := canonicalRequest(req.Method, req.RawPath, query, headers, a.SignedHeaders, payload)
	timestamp := res.Time.UTC().Format(timeFormat)
	key := signingKeys.signingKey(a.AccessKeyID, secret, a.Scope)
	want := hmacSHA256(key, stringToSign(timestamp, a.Scope, canonical))
	if !hmac.Equal(want, a.Signature) {
		return Result{}, ErrSignatureDoesNotMatch
	}
	mode, err := classifyPayload(payload)
	if err != nil {
		return Result{}, err
	}
	res.AccessKeyID = a.AccessKeyID
	res.Scope = a.Scope
	res.Payload = mode
	res.ContentSHA256 = payload
	if mode == PayloadSHA256 {
		res.ContentSHA256 = strings.ToLower(payload)
	}
	res.Signature = hex.EncodeToString(want)
	res.SigningKey = key
	res.Version = 4
	return res, nil
}

// scopeCarrier says where a credential scope came from, for the wording of a
// wrong-region error.
type scopeCarrier int

const (
	scopeHeader scopeCarrier = iota // Authorization header
	scopeQuery                      // presigned X-Amz-Credential or POST form field
)

// checkScope applies the credential checks of the reference (§2.2): the
// service must match; the region only with EnforceRegion, answered as S3
// answers a scope naming another region than the bucket's.
func (v *Verifier) checkScope(s Scope, from scopeCarrier) error {
	if s.Service != v.service() {
		return ErrAccessDenied.with("Invalid Service")
	}
	if v.EnforceRegion && s.Region != v.Region {
		wrong := "the region '" + truncate(s.Region) + "' is wrong; expecting '" + v.Region + "'"
		e := &Error{Code: ErrWrongRegion.Code, Message: "The authorization header is malformed; " + wrong,
			Region: v.Region, kind: ErrWrongRegion}
		if from == scopeQuery {
			e.Code, e.Message = ErrAuthorizationQueryParametersError.Code, "Error parsing the X-Amz-Credential parameter; "+wrong
		}
		return e
	}
	return nil
}

// maxListedUnsigned bounds the header names an ErrUnsignedHeaders lists.
const maxListedUnsigned = 16

// checkUnsignedHeaders rejects x-amz-* headers that the signature does not
// cover: S3 acts on them (x-amz-copy-source turns a PUT into a copy,
// x-amz-meta-*, x-amz-tagging, x-amz-acl, … change what is stored), so an
// unsigned one would let whoever holds a presigned URL, or replays a captured
// request, steer it. The one exception is x-amz-content-sha256 on a presigned
// URL: its value is the payload line of the canonical request, so it is
// covered by the signature whether it was listed or not.
func checkUnsignedHeaders(h Header, a Authorization) error {
	var unsigned []string
	for name := range h {
		if !strings.HasPrefix(name, "x-amz-") {
			continue
		}
		if a.Presigned && name == "x-amz-content-sha256" {
			continue
		}
		if _, ok := slices.BinarySearch(a.SignedHeaders, name); !ok {
			unsigned = append(unsigned, name)
		}
	}
	if len(unsigned) == 0 {
		return nil
	}
	slices.Sort(unsigned)
	if len(unsigned) > maxListedUnsigned {
		unsigned = unsigned[:maxListedUnsigned]
	}
	e := ErrUnsignedHeaders.with(ErrUnsignedHeaders.Message)
	e.HeadersNotSigned = strings.Join(unsigned, ", ")
	return e
}

// requestTime reads x-amz-date, falling back to Date (RFC 1123).
func requestTime(h Header) (time.Time, error) {
	invalid := ErrAccessDenied.with("AWS authentication requires a valid Date or x-amz-date header")
	if s := h.Get("x-amz-date"); s != "" {
		t, err := time.Parse(timeFormat, s)
		if err != nil || t.Format(timeFormat) != s {
			return time.Time{}, invalid
		}
		return t, nil
	}
	s := h.Get("date")
	if s == "" {
		return time.Time{}, ErrMissingSecurityHeader
	}
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, invalid
}
