package sigv4

import (
	"slices"
	"strings"
)

// Bounds on client-controlled input, so that a hostile request costs bounded
// memory and time before it is rejected.
const (
	maxQueryParams   = 1000
	maxSignedHeaders = 64
	maxHeaderBytes   = 16 << 10 // Authorization header, canonical header block
)

// queryParam is one decoded query parameter.
type queryParam struct{ key, value string }

// parseQuery splits a raw query the way S3 reads it: parameters separated by
// '&', name and value by the first '=', '+' meaning a space and %XX decoded.
// A parameter without '=' has an empty value ("uploads" is "uploads=").
// Empty segments ("a&&b") are skipped.
func parseQuery(raw string) ([]queryParam, error) {
	if raw == "" {
		return nil, nil
	}
	var params []queryParam
	for seg := range strings.SplitSeq(raw, "&") {
		if seg == "" {
			continue
		}
		if len(params) == maxQueryParams {
			return nil, ErrAuthorizationQueryParametersError.with("Too many query parameters")
		}
		k, v, _ := strings.Cut(seg, "=")
		key, ok := unescapeQuery(k)
		if !ok {
			return nil, ErrAuthorizationQueryParametersError.with("Invalid percent-encoding in query parameter name")
		}
		value, ok := unescapeQuery(v)
		if !ok {
			return nil, ErrAuthorizationQueryParametersError.with("Invalid percent-encoding in query parameter value")
		}
		params = append(params, queryParam{key, value})
	}
	return params, nil
}

// unescapeQuery decodes %XX escapes and '+' (as space). It reports false for
// a '%' not followed by two hex digits.
func unescapeQuery(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b = append(b, ' ')
		case '%':
			if i+2 >= len(s) {
				return "", false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", false
			}
			b = append(b, hi<<4|lo)
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// uriEncode percent-encodes s per SigV4: the RFC 3986 unreserved characters
// A-Z a-z 0-9 - _ . ~ are kept, every other byte becomes %XX (upper-case hex),
// so a space is "%20" and '+' is "%2B".
func uriEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// CanonicalQuery returns the SigV4 canonical query string of a raw query as
// sent: parameters decoded, then each name and value URI-encoded, sorted by
// encoded name then encoded value (AWS sorts after encoding), joined with '&',
// a parameter without a value becoming "name=".
func CanonicalQuery(rawQuery string) (string, error) {
	params, err := parseQuery(rawQuery)
	if err != nil {
		return "", err
	}
	return canonicalQuery(params, false), nil
}

// canonicalQuery encodes params; presigned drops X-Amz-Signature.
func canonicalQuery(params []queryParam, presigned bool) string {
	enc := make([]queryParam, 0, len(params))
	for _, p := range params {
		if presigned && p.key == "X-Amz-Signature" {
			continue
		}
		enc = append(enc, queryParam{uriEncode(p.key), uriEncode(p.value)})
	}
	slices.SortFunc(enc, func(a, b queryParam) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// canonicalHeaders returns the canonical header block ("name:value\n" per
// signed header, in the order of signed, which is sorted) for req. "host"
// comes from req.Host. Values are trimmed and inner runs of spaces collapsed;
// repeated headers are joined with ','. A signed header the request lacks
// contributes an empty value, which then fails the comparison as it does at AWS.
func canonicalHeaders(req Request, signed []string) (string, error) {
	var b strings.Builder
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		if name == "host" {
			b.WriteString(trimAll(req.Host))
		} else {
			for i, v := range req.Header[name] {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(trimAll(v))
			}
		}
		b.WriteByte('\n')
		if b.Len() > maxHeaderBytes*4 {
			return "", ErrAuthorizationHeaderMalformed.with("Signed headers are too large")
		}
	}
	return b.String(), nil
}

// trimAll trims leading and trailing white space and collapses each inner
// run of spaces to one space (the SigV4 "Trimall").
func trimAll(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// canonicalRequest joins the parts of the SigV4 canonical request.
func canonicalRequest(method, uri, query, headers string, signed []string, payload string) string {
	if uri == "" {
		uri = "/"
	}
	return method + "\n" + uri + "\n" + query + "\n" + headers + "\n" +
		strings.Join(signed, ";") + "\n" + payload
}
