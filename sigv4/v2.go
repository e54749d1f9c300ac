package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"
)

// schemeV2 starts a Signature Version 2 Authorization header: "AWS <key>:<signature>".
const schemeV2 = "AWS "

// SubresourcesV2 are the query parameters that SigV2 signs (its CanonicalizedResource
// keeps them, sorted by name, and drops every other parameter): the list of the S3
// documentation, with what AWS's own clients (botocore's HmacV1Auth) and MinIO add to it.
// Sorted.
var SubresourcesV2 = []string{
	"accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "encryption",
	"inventory", "legal-hold", "lifecycle", "location", "logging", "metrics", "notification",
	"object-lock", "partNumber", "policy", "replication", "requestPayment",
	"response-cache-control", "response-content-disposition", "response-content-encoding",
	"response-content-language", "response-content-type", "response-expires", "restore",
	"retention", "select", "select-type", "storageClass", "tagging", "torrent", "uploadId",
	"uploads", "versionId", "versioning", "versions", "website",
}

// SignedV2 reports whether SigV2 signs the query parameter name.
func SignedV2(name string) bool {
	_, ok := slices.BinarySearch(SubresourcesV2, name)
	return ok
}

// v2Params are the query parameters of a SigV2 presigned URL.
var v2Params = [...]string{"AWSAccessKeyId", "Signature", "Expires"}

// ParseAuthorizationV2 parses an "AWS <AccessKeyId>:<Signature>" header value. The
// signature is decoded from base64; one that is not 20 bytes of base64 is returned as nil,
// which matches nothing (SignatureDoesNotMatch, as for SigV4).
func ParseAuthorizationV2(header string) (accessKeyID string, signature []byte, err error) {
	invalid := ErrInvalidArgument.with("AWS authorization header is invalid.  Expected AwsAccessKeyId:signature")
	if len(header) > maxHeaderBytes {
		return "", nil, invalid
	}
	rest, ok := strings.CutPrefix(header, schemeV2)
	if !ok {
		return "", nil, invalid
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 || i == len(rest)-1 {
		return "", nil, invalid
	}
	key := strings.TrimSpace(rest[:i])
	if key == "" {
		return "", nil, invalid
	}
	return key, parseSignatureV2(strings.TrimSpace(rest[i+1:])), nil
}

// parseSignatureV2 decodes a base64 HMAC-SHA1 (strictly: padding bits must be zero, so
// one signature has one spelling); anything else is nil. A space stands for
// '+' (a presigned URL pasted with its '+' left unencoded decodes so): base64 has no
// spaces, so this cannot make two different signatures equal.
func parseSignatureV2(s string) []byte {
	if len(s) > 64 {
		return nil
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(strings.ReplaceAll(s, " ", "+"))
	if err != nil || len(sig) != sha1.Size {
		return nil
	}
	return sig
}

// verifyHeaderV2 checks "Authorization: AWS key:signature".
func (v *Verifier) verifyHeaderV2(req Request, params []queryParam, header string) (Result, error) {
	key, sig, err := ParseAuthorizationV2(header)
	if err != nil {
		return Result{}, err
	}
	t, dateLine, err := requestTimeV2(req.Header)
	if err != nil {
		return Result{}, err
	}
	if skew := v.now().Sub(t); skew > v.maxSkew() || skew < -v.maxSkew() {
		return Result{}, ErrRequestTimeTooSkewed
	}
	amz, err := amzHeadersV2(req.Header, nil)
	if err != nil {
		return Result{}, err
	}
	res := Result{SessionToken: req.Header.Get("x-amz-security-token"), Time: t}
	sts := stringToSignV2(req.Method, req.Header.Get("content-md5"), req.Header.Get("content-type"), dateLine, amz, canonicalResourceV2(req, params))
	return v.finishV2(req, key, sig, sts, res)
}

// verifyPresignedV2 checks a URL carrying AWSAccessKeyId, Expires and Signature.
func (v *Verifier) verifyPresignedV2(req Request, params []queryParam) (Result, error) {
	var vals [len(v2Params)]string
	var seen [len(v2Params)]bool
	var amzQuery []queryParam
	for _, p := range params {
		if i := slices.Index(v2Params[:], p.key); i >= 0 {
			if seen[i] {
				return Result{}, ErrInvalidArgument.with(p.key + " must appear only once")
			}
			vals[i], seen[i] = p.value, true
			continue
		}
		// botocore signs the x-amz-* headers of a presigned request (the session token
		// among them) and then moves them into the query: they are signed as headers.
		if name := strings.ToLower(p.key); strings.HasPrefix(name, "x-amz-") {
			amzQuery = append(amzQuery, queryParam{name, p.value})
		}
	}
	key, signature, expires := vals[0], vals[1], vals[2]
	if key == "" || signature == "" || expires == "" {
		return Result{}, ErrAccessDenied.with("Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
	}
	secs, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || !isDigits(expires) {
		return Result{}, ErrAccessDenied.with("Invalid date (should be seconds since epoch): " + truncate(expires))
	}
	if v.now().Unix() > secs {
		return Result{}, ErrRequestExpired
	}
	amz, err := amzHeadersV2(req.Header, amzQuery)
	if err != nil {
		return Result{}, err
	}
	res := Result{Presigned: true} // SigV2 URLs carry an expiry, no signing time
	for _, h := range amz {
		if h.key == "x-amz-security-token" {
			res.SessionToken = h.value
		}
	}
	// The positional headers are those sent; botocore moves them into the query too, so a
	// URL used without them signs the query's values.
	positional := func(name string) string {
		if v, ok := req.Header[name]; ok {
			return strings.Join(v, ",")
		}
		for _, p := range params {
			if strings.EqualFold(p.key, name) {
				return p.value
			}
		}
		return ""
	}
	sts := stringToSignV2(req.Method, positional("content-md5"), positional("content-type"), expires, amz, canonicalResourceV2(req, params))
	return v.finishV2(req, key, parseSignatureV2(signature), sts, res)
}

// finishV2 looks the secret up, compares the signature and classifies the body.
func (v *Verifier) finishV2(req Request, key string, sig []byte, stringToSign string, res Result) (Result, error) {
	secret, ok := v.Lookup(key)
	if !ok {
		return Result{}, ErrInvalidAccessKeyID
	}
	if !hmac.Equal(hmacSHA1([]byte(secret), stringToSign), sig) {
		return Result{}, ErrSignatureDoesNotMatch
	}
	// SigV2 does not sign a payload hash. x-amz-content-sha256, if sent, is a signed
	// header all the same, so a hex digest is checked as for SigV4; aws-chunked framing
	// needs a SigV4 signing key and is refused rather than stored as the object.
	res.Payload, res.ContentSHA256 = PayloadUnsigned, unsignedPayload
	if p := req.Header.Get("x-amz-content-sha256"); p != "" {
		mode, err := classifyPayload(p)
		if err != nil {
			return Result{}, err
		}
		if mode.Streaming() {
			return Result{}, ErrInvalidContentSHA256.with("aws-chunked bodies (" + p + ") need Signature Version 4")
		}
		res.Payload, res.ContentSHA256 = mode, p
		if mode == PayloadSHA256 {
			res.ContentSHA256 = strings.ToLower(p)
		}
	}
	res.AccessKeyID = key
	res.Version = 2
	return res, nil
}

// requestTimeV2 returns the signing time and the Date line of the string to sign: with
// x-amz-date the line is empty (S3 then ignores Date), else it is the Date header as sent.
func requestTimeV2(h Header) (time.Time, string, error) {
	invalid := ErrAccessDenied.with("AWS authentication requires a valid Date or x-amz-date header")
	if s := h.Get("x-amz-date"); s != "" {
		t, ok := parseHTTPDate(s)
		if !ok {
			return time.Time{}, "", invalid
		}
		return t, "", nil
	}
	s := h.Get("date")
	t, ok := parseHTTPDate(s)
	if !ok {
		return time.Time{}, "", invalid
	}
	return t, s, nil
}

// parseHTTPDate reads the date formats HTTP allows, and SigV4's ISO 8601 basic format
// that some SigV2 clients put in x-amz-date.
func parseHTTPDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, time.RFC850, time.ANSIC, timeFormat} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// amzHeadersV2 returns the x-amz-* headers (and, for presigned URLs, x-amz-* query
// parameters) sorted by name, each with its values trimmed and joined by ','. A name
// given both as a header and a query parameter is refused: which one S3 would act on
// is not something a signature should leave open.
func amzHeadersV2(h Header, fromQuery []queryParam) ([]queryParam, error) {
	var out []queryParam
	size := 0
	for name, values := range h {
		if !strings.HasPrefix(name, "x-amz-") {
			continue
		}
		trimmed := make([]string, len(values))
		for i, v := range values {
			trimmed[i] = strings.TrimSpace(v)
		}
		out = append(out, queryParam{name, strings.Join(trimmed, ",")})
	}
	for _, p := range fromQuery {
		if _, dup := h[p.key]; dup {
			return nil, ErrInvalidArgument.with(truncate(p.key) + " is given both as a header and as a query parameter")
		}
	}
	slices.SortStableFunc(fromQuery, func(a, b queryParam) int { return strings.Compare(a.key, b.key) })
	for i := 0; i < len(fromQuery); {
		j := i + 1
		vals := []string{strings.TrimSpace(fromQuery[i].value)}
		for ; j < len(fromQuery) && fromQuery[j].key == fromQuery[i].key; j++ {
			vals = append(vals, strings.TrimSpace(fromQuery[j].value))
		}
		out = append(out, queryParam{fromQuery[i].key, strings.Join(vals, ",")})
		i = j
	}
	slices.SortFunc(out, func(a, b queryParam) int { return strings.Compare(a.key, b.key) })
	for _, p := range out {
		if size += len(p.key) + len(p.value); size > maxHeaderBytes*4 {
			return nil, ErrInvalidArgument.with("The x-amz-* headers are too large")
		}
	}
	return out, nil
}

// canonicalResourceV2 is "/<bucket>" for a virtual-hosted-style request, then the path as
// sent, then the signed sub-resources: sorted by name (values of one name in the order
// sent, so a reordering that changes which one the server reads changes the signature),
// decoded, "name" alone when the value is empty.
func canonicalResourceV2(req Request, params []queryParam) string {
	var b strings.Builder
	if req.VirtualHostBucket != "" {
		b.WriteString("/" + req.VirtualHostBucket)
	}
	if req.RawPath == "" {
		b.WriteString("/")
	} else {
		b.WriteString(req.RawPath)
	}
	var sub []queryParam
	for _, p := range params {
		if SignedV2(p.key) {
			sub = append(sub, p)
		}
	}
	slices.SortStableFunc(sub, func(a, b queryParam) int { return strings.Compare(a.key, b.key) })
	for i, p := range sub {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		if p.value != "" {
			b.WriteByte('=')
			b.WriteString(p.value)
		}
	}
	return b.String()
}

// stringToSignV2 is Method, Content-MD5, Content-Type, Date (or Expires), one
// "name:value" line per x-amz-* header, then the canonical resource.
func stringToSignV2(method, contentMD5, contentType, date string, amz []queryParam, resource string) string {
	var b strings.Builder
	for _, s := range []string{method, contentMD5, contentType, date} {
		b.WriteString(strings.TrimSpace(s))
		b.WriteByte('\n')
	}
	for _, h := range amz {
		b.WriteString(h.key + ":" + h.value + "\n")
	}
	b.WriteString(resource)
	return b.String()
}

func hmacSHA1(key []byte, data string) []byte {
	m := hmac.New(sha1.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
