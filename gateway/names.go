package gateway

import (
	"fmt"
	"strings"
)

// Limits on names, as the reference enforces them (rest-api.md §0.8).
const (
	MaxBucketNameLen = 100
	// MaxKeyLen bounds object names; the reference caps route parameters at 2500 characters.
	MaxKeyLen = 1024
	// emptyFolderPlaceholder marks "folders" created by the dashboard; such keys hold 0 bytes.
	emptyFolderPlaceholder = ".emptyFolderPlaceholder"
)

func isNameChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("_!.*'() &$=@;:+,?-", c) >= 0
}

// ValidBucketName reports whether name is an acceptable bucket id for lookups.
func ValidBucketName(name string) bool {
	if name == "" || len(name) > MaxBucketNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isNameChar(name[i]) {
			return false
		}
	}
	return true
}

// ValidNewBucketName adds the rules that apply only when creating a bucket.
func ValidNewBucketName(name string) bool {
	return ValidBucketName(name) && strings.TrimSpace(name) == name && !strings.HasSuffix(name, "--table-s3")
}

// ValidateBucketName returns the engine error for a bad bucket name.
func ValidateBucketName(name string) error {
	if !ValidBucketName(name) {
		return &Error{Code: CodeInvalidBucketName, Bucket: name, Message: "Bucket name invalid"}
	}
	return nil
}

// ValidateKey checks an object name: ASCII letters, digits and a fixed set of punctuation,
// `/` included; empty segments are allowed and kept verbatim. The file store additionally
// refuses `.` and `..` segments, so we reject them here for every backend: a key must never
// name a place outside its bucket.
func ValidateKey(key string) error {
	bad := func(why string) error {
		return &Error{Code: CodeInvalidKey, Key: key, Message: "Invalid key: " + key, Err: fmt.Errorf("%s", why)}
	}
	if key == "" {
		return bad("empty")
	}
	if len(key) > MaxKeyLen {
		return bad("longer than 1024 bytes")
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c != '/' && !isNameChar(c) {
			return bad(fmt.Sprintf("character %q is not allowed", c))
		}
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			return bad("dot segments are not allowed")
		}
		if len(seg) > 255 {
			return bad("a path segment is longer than 255 bytes")
		}
	}
	return nil
}

func isPlaceholder(key string) bool {
	i := strings.LastIndexByte(key, '/')
	return strings.HasSuffix(key[i+1:], emptyFolderPlaceholder)
}

// MimeAllowed reports whether mime matches one of allowed: the type must be equal and the
// subtype equal or `*`. Parameters are not stripped (`text/plain;charset=UTF-8` does not match
// `text/plain`), exactly as the reference compares.
func MimeAllowed(allowed []string, mime string) bool {
	if len(allowed) == 0 {
		return true
	}
	t, st, ok := strings.Cut(mime, "/")
	if !ok {
		return false
	}
	for _, a := range allowed {
		at, ast, ok := strings.Cut(a, "/")
		if ok && at == t && (ast == "*" || ast == st) {
			return true
		}
	}
	return false
}
