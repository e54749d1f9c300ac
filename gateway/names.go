package gateway

import (
	"fmt"
	"strings"
	"unicode/utf8"
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

// ValidateKey checks an object name. Any valid UTF-8 is accepted, as S3 does, `/` being the
// folder separator; empty segments are allowed and kept verbatim. Refused, on every backend:
//   - invalid UTF-8 and NUL: neither Postgres text nor file names can hold them;
//   - every other control character (U+0001–U+001F, U+007F–U+009F) and the noncharacters
//     U+FFFE and U+FFFF: XML 1.0 cannot carry them (S3 listings would have to drop or mangle
//     them), and they break headers, logs and file tools; so every stored key can be sent
//     back byte-exact in any dialect;
//   - `.` and `..` segments: a key must never name a place outside its bucket;
//   - more than 1024 bytes, or a segment over 255 bytes (the file-name limit of file systems).
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
	if !utf8.ValidString(key) {
		return bad("not valid UTF-8")
	}
	for _, r := range key {
		if !keyRuneAllowed(r) {
			return bad(fmt.Sprintf("character %U is not allowed", r))
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return bad("dot segments are not allowed")
		}
		if len(seg) > 255 {
			return bad("a path segment is longer than 255 bytes")
		}
	}
	return nil
}

// keyRuneAllowed reports whether r may appear in a key: anything but control characters
// (C0, DEL, C1) and U+FFFE/U+FFFF, i.e. exactly the characters XML 1.0 documents can hold
// less the control characters it allows (tab, LF, CR).
func keyRuneAllowed(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f, r == 0xfffe, r == 0xffff:
		return false
	}
	return true
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
