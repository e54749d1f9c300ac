package multipart

import (
	"crypto/md5"
	"encoding/hex"
	"strconv"
)

// ETag is S3's ETag of a completed multipart upload: the hex MD5 of the concatenated
// binary MD5s of the parts, then "-" and the part count, quoted. A part ETag that is not
// a 32-digit hex MD5 (an upstream's opaque tag) is hashed as its text, so the result is
// still deterministic.
func ETag(partETags []string) string {
	h := md5.New()
	for _, e := range partETags {
		e = TrimETag(e)
		if b, err := hex.DecodeString(e); err == nil && len(b) == md5.Size {
			h.Write(b)
		} else {
			h.Write([]byte(e))
		}
	}
	return `"` + hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(partETags)) + `"`
}

// PartsETag is ETag over parts' ETags.
func PartsETag(parts []Part) string {
	tags := make([]string, len(parts))
	for i, p := range parts {
		tags[i] = p.ETag
	}
	return ETag(tags)
}
