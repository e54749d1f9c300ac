// Package forwarded reads the address a client sent a request to from the headers a reverse
// proxy in front of the server adds (the Supabase gateway strips /storage/v1 and forwards
// to the storage host). Both dialects need it: TUS writes that address into Location, and
// S3 signatures cover the host and path the client signed, not the ones that arrive.
package forwarded

import "strings"

// Parse returns host= and proto= of the first element of an RFC 7239 Forwarded header
// ("" for those it lacks).
func Parse(v string) (host, proto string) {
	first, _, _ := strings.Cut(v, ",")
	for _, kv := range strings.Split(first, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
		val = strings.Trim(val, `"`)
		switch strings.ToLower(k) {
		case "host":
			host = val
		case "proto":
			proto = val
		}
	}
	return host, proto
}

// Prefix is an X-Forwarded-Prefix (or configured prefix) without trailing slashes, with a
// leading one when it has any content.
func Prefix(p string) string {
	p = strings.TrimRight(p, "/")
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}
