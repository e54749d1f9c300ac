package sigv4

import (
	"encoding/hex"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

// timeFormat is the ISO 8601 basic format of X-Amz-Date.
const timeFormat = "20060102T150405Z"

// MaxPresignExpires is the longest X-Amz-Expires AWS accepts: 7 days.
const MaxPresignExpires = 7 * 24 * time.Hour

// Scope is the credential scope: <date>/<region>/<service>/aws4_request.
type Scope struct {
	Date    string // YYYYMMDD
	Region  string // may be empty
	Service string
}

// String returns the scope as it appears in the string to sign.
func (s Scope) String() string {
	return s.Date + "/" + s.Region + "/" + s.Service + "/aws4_request"
}

// Authorization is a parsed SigV4 Authorization header or presigned query.
type Authorization struct {
	AccessKeyID string
	Scope       Scope
	// SignedHeaders are the lower-case signed header names, sorted.
	SignedHeaders []string
	// Signature is the decoded 32-byte signature; nil when the value sent is
	// not 64 hex digits, which then never matches (S3 answers such a tampered
	// signature SignatureDoesNotMatch, not a parse error).
	Signature []byte

	// The fields below are set by ParsePresigned only.

	// Presigned reports whether this came from the query string.
	Presigned bool
	// Date is X-Amz-Date.
	Date time.Time
	// Expires is X-Amz-Expires.
	Expires time.Duration
	// SecurityToken is X-Amz-Security-Token.
	SecurityToken string
	// ContentSHA256 is X-Amz-Content-Sha256, if the URL carries one.
	ContentSHA256 string
}

// ParseAuthorization parses an "AWS4-HMAC-SHA256 Credential=…,
// SignedHeaders=…, Signature=…" header value. Components may come in any
// order, separated by commas and optional spaces.
func ParseAuthorization(header string) (Authorization, error) {
	malformed := ErrAuthorizationHeaderMalformed
	if len(header) > maxHeaderBytes {
		return Authorization{}, malformed.with("The authorization header is too long")
	}
	rest, ok := strings.CutPrefix(header, Algorithm+" ")
	if !ok {
		return Authorization{}, malformed.with("Unsupported authorization type")
	}
	var credential, signedHeaders, signature string
	var seen [3]bool
	for part := range strings.SplitSeq(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Authorization{}, malformed.with("The authorization header is malformed; the authorization component \"" + truncate(part) + "\" is malformed.")
		}
		var i int
		switch name {
		case "Credential":
			i, credential = 0, value
		case "SignedHeaders":
			i, signedHeaders = 1, value
		case "Signature":
			i, signature = 2, value
		default:
			return Authorization{}, malformed.with("The authorization header is malformed; unknown component \"" + truncate(name) + "\".")
		}
		if seen[i] {
			return Authorization{}, malformed.with("The authorization header is malformed; duplicate component \"" + name + "\".")
		}
		seen[i] = true
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return Authorization{}, malformed.with("The authorization header is malformed; it must contain Credential, SignedHeaders and Signature.")
	}
	var a Authorization
	var err error
	if a.AccessKeyID, a.Scope, err = parseCredential(credential, malformed); err != nil {
		return Authorization{}, err
	}
	if a.SignedHeaders, err = parseSignedHeaders(signedHeaders, malformed); err != nil {
		return Authorization{}, err
	}
	a.Signature = parseSignature(signature)
	return a, nil
}

// ParsePresigned parses the X-Amz-* parameters of a presigned URL. Each must
// appear once; X-Amz-Expires must be 0…604800 seconds.
func ParsePresigned(query url.Values) (Authorization, error) {
	bad := ErrAuthorizationQueryParametersError
	get := func(name string) (string, error) {
		v := query[name]
		if len(v) > 1 {
			return "", bad.with(name + " must appear only once")
		}
		if len(v) == 0 {
			return "", nil
		}
		return v[0], nil
	}
	var vals [8]string
	for i, name := range [...]string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
		"X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Content-Sha256"} {
		v, err := get(name)
		if err != nil {
			return Authorization{}, err
		}
		vals[i] = v
	}
	algorithm, credential, date, expires, signedHeaders, signature := vals[0], vals[1], vals[2], vals[3], vals[4], vals[5]
	if algorithm != Algorithm {
		return Authorization{}, bad.with("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	}
	if credential == "" || date == "" || expires == "" || signedHeaders == "" || signature == "" {
		return Authorization{}, bad.with("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	}
	a := Authorization{Presigned: true, SecurityToken: vals[6], ContentSHA256: vals[7]}
	var err error
	if a.AccessKeyID, a.Scope, err = parseCredential(credential, bad); err != nil {
		return Authorization{}, err
	}
	if a.SignedHeaders, err = parseSignedHeaders(signedHeaders, bad); err != nil {
		return Authorization{}, err
	}
	a.Signature = parseSignature(signature)
	if a.Date, err = time.Parse(timeFormat, date); err != nil {
		return Authorization{}, bad.with("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	if a.Date.Format(timeFormat) != date {
		return Authorization{}, bad.with("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	secs, err := strconv.ParseInt(expires, 10, 64)
	switch {
	case err != nil && !isDigits(expires):
		return Authorization{}, bad.with("X-Amz-Expires should be a number")
	case err != nil || secs > int64(MaxPresignExpires/time.Second):
		return Authorization{}, bad.with("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	case secs < 0:
		return Authorization{}, bad.with("X-Amz-Expires must be non-negative")
	}
	a.Expires = time.Duration(secs) * time.Second
	return a, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseCredential splits "<access key>/<date>/<region>/<service>/aws4_request".
// The scope is read from the right, so the access key is everything before it.
func parseCredential(s string, bad *Error) (string, Scope, error) {
	parts := strings.Split(s, "/")
	n := len(parts)
	if n < 5 || parts[n-1] != "aws4_request" {
		return "", Scope{}, bad.with("Error parsing the Credential parameter; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
	}
	key := strings.Join(parts[:n-4], "/")
	scope := Scope{Date: parts[n-4], Region: parts[n-3], Service: parts[n-2]}
	if key == "" {
		return "", Scope{}, bad.with("Error parsing the Credential parameter; the access key id is empty.")
	}
	if _, err := time.Parse("20060102", scope.Date); err != nil || len(scope.Date) != 8 {
		return "", Scope{}, bad.with("Error parsing the Credential parameter; incorrect date format \"" + truncate(scope.Date) + "\". This date in the credential must be in the format \"yyyyMMdd\".")
	}
	if scope.Service == "" {
		return "", Scope{}, bad.with("Error parsing the Credential parameter; the service is empty.")
	}
	return key, scope, nil
}

// parseSignedHeaders lower-cases, sorts and checks the ';'-separated list.
// "host" must be signed, as AWS requires.
func parseSignedHeaders(s string, bad *Error) ([]string, error) {
	if s == "" {
		return nil, bad.with("SignedHeaders is empty")
	}
	names := strings.Split(strings.ToLower(s), ";")
	if len(names) > maxSignedHeaders {
		return nil, bad.with("Too many signed headers")
	}
	slices.Sort(names)
	for i, name := range names {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			return nil, bad.with("SignedHeaders contains an invalid header name")
		}
		if i > 0 && names[i-1] == name {
			return nil, bad.with("SignedHeaders contains a duplicate header name")
		}
	}
	if _, ok := slices.BinarySearch(names, "host"); !ok {
		return nil, bad.with("SignedHeaders must include host")
	}
	return names, nil
}

// parseSignature decodes a 64-hex-digit signature; anything else is nil, a
// signature no computed one equals.
func parseSignature(s string) []byte {
	if len(s) != 64 {
		return nil
	}
	sig, err := hex.DecodeString(s)
	if err != nil {
		return nil
	}
	return sig
}

// truncate keeps client text in error messages short.
func truncate(s string) string {
	const limit = 64
	if len(s) > limit {
		return strings.ToValidUTF8(s[:limit], "") + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
