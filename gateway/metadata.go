package gateway

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Metadata a client supplies ends up in Postgres text and jsonb values, which cannot hold
// a NUL character (SQLSTATE 22P05 for a \u0000 escape in jsonb, 22021 for a NUL byte in
// text) nor invalid UTF-8 (22021), and whose jsonb parser refuses unpaired UTF-16
// surrogate escapes (22P02). Left to Postgres, each is a 500 DatabaseError for a client
// mistake; the engine refuses them first, once for every dialect, as InvalidArgument.

// CheckText refuses a value that a text column cannot hold: invalid UTF-8 or a NUL
// character. name says which value, for the client. Dialects call it for values they
// re-encode before the engine sees them (S3 x-amz-meta-* into JSON, which would otherwise
// replace invalid bytes silently).
func CheckText(name, value string) error {
	if !utf8.ValidString(value) || strings.IndexByte(value, 0) >= 0 {
		return &Error{Code: CodeInvalidArgument, Message: name + " must be valid UTF-8 without NUL characters"}
	}
	return nil
}

// checkUserMetadata refuses user metadata Postgres would refuse: not JSON, invalid UTF-8,
// a \u0000 escape or an unpaired surrogate escape anywhere (keys or values). nil is none.
func checkUserMetadata(raw json.RawMessage) error {
	if raw == nil {
		return nil
	}
	bad := &Error{Code: CodeInvalidArgument, Message: "metadata must be JSON in valid UTF-8 without NUL characters"}
	if !json.Valid(raw) || !utf8.Valid(raw) {
		return bad
	}
	// In valid JSON a backslash only starts an escape inside a string.
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if raw[i] != 'u' {
			continue
		}
		r := hex4(raw[i+1 : i+5])
		i += 4
		switch {
		case r == 0:
			return bad
		case r >= 0xDC00 && r <= 0xDFFF: // a low surrogate without its high one
			return bad
		case r >= 0xD800 && r <= 0xDBFF: // a high surrogate must be followed by a low one
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return bad
			}
			if lo := hex4(raw[i+3 : i+7]); lo < 0xDC00 || lo > 0xDFFF {
				return bad
			}
			i += 6
		}
	}
	return nil
}

// hex4 reads four hex digits (json.Valid checked them).
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// objectMetadata is what a write stores beside the bytes, for checkObjectMetadata.
type objectMetadata struct {
	contentType, cacheControl, robots string
	user                              json.RawMessage
	extra                             Extra
}

// checkObjectMetadata runs CheckText and checkUserMetadata over everything a write stores
// in the object's row (or its upload's), before any byte is read.
func checkObjectMetadata(m objectMetadata) error {
	for _, f := range [...]struct{ name, value string }{
		{"Content-Type", m.contentType}, {"Cache-Control", m.cacheControl}, {"X-Robots-Tag", m.robots},
		{"Content-Disposition", m.extra.ContentDisposition}, {"Content-Encoding", m.extra.ContentEncoding},
		{"Content-Language", m.extra.ContentLanguage}, {"Expires", m.extra.Expires},
	} {
		if err := CheckText(f.name, f.value); err != nil {
			return err
		}
	}
	for _, t := range m.extra.Tags {
		if err := CheckText("tag", t.Key); err != nil {
			return err
		}
		if err := CheckText("tag", t.Value); err != nil {
			return err
		}
	}
	return checkUserMetadata(m.user)
}

// checkMimeTypes runs CheckText over a bucket's allowed_mime_types (a text[] column).
func checkMimeTypes(types []string) error {
	for _, t := range types {
		if err := CheckText("allowed_mime_types", t); err != nil {
			return err
		}
	}
	return nil
}
