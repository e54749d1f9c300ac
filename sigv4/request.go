package sigv4

import "strings"

// Request is the part of an HTTP request that SigV4 covers, in the form the
// server received it. It is a plain struct so that any HTTP stack can fill it.
type Request struct {
	// Method is the request method, e.g. "PUT".
	Method string
	// RawPath is the path exactly as sent, still percent-encoded, without the
	// query ("/bucket/key%20x"). S3 neither normalises nor re-encodes it, so
	// neither do we. Empty means "/". The caller prepends any mount prefix the
	// client signed (S3_PROTOCOL_PREFIX).
	RawPath string
	// RawQuery is the query as sent, without "?".
	RawQuery string
	// Host is the value used for the canonical "host" header (the caller
	// decides between Host, X-Forwarded-Host, the public URL, …).
	Host string
	// Header holds the request headers keyed by lower-case name.
	Header Header
	// VirtualHostBucket is the bucket a virtual-hosted-style Host names, "" for a
	// path-style request. SigV2 only: its CanonicalizedResource starts with "/bucket"
	// whichever style was used; SigV4 signs the Host header instead.
	VirtualHostBucket string
}

// Header maps lower-case header names to their values, in the order received.
type Header map[string][]string

// Add appends value to the header name (lower-cased).
func (h Header) Add(name, value string) {
	name = strings.ToLower(name)
	h[name] = append(h[name], value)
}

// Get returns the first value of the header name (lower-case), or "".
func (h Header) Get(name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}
