package s3proto

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"iter"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// maxUserMetadata is S3's limit on the user-defined metadata of one object (names + values).
const maxUserMetadata = 2 << 10

// maxTaggingHeader bounds x-amz-tagging (10 tags of 128+256 characters, URL-encoded).
const maxTaggingHeader = 16 << 10

func parseNonNegative(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, strconv.ErrSyntax
	}
	return n, nil
}

// decodeXML decodes a small document; a body with trailing garbage or none is malformed.
func decodeXML(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errMalformedXML
	}
	return xml.NewDecoder(bytes.NewReader(data)).Decode(v)
}

// userMetadata collects x-amz-meta-* (names lower-cased) as the user_metadata JSON; nil when
// there is none.
func userMetadata(c *fiber.Ctx) (json.RawMessage, error) {
	return collectMetadata(func(yield func(name, value string) bool) {
		c.Request().Header.VisitAll(func(k, v []byte) { yield(string(k), string(v)) })
	})
}

// collectMetadata keeps the x-amz-meta-* entries of headers or form fields (names
// lower-cased) as user_metadata JSON within S3's size limit; nil when there is none.
func collectMetadata(entries iter.Seq2[string, string]) (json.RawMessage, error) {
	meta := map[string]string{}
	total := 0
	for name, v := range entries {
		if n, ok := strings.CutPrefix(strings.ToLower(name), "x-amz-meta-"); ok && n != "" {
			// Bytes that are not UTF-8 are read as ISO-8859-1 (headerText); then both are
			// checked as text Postgres can store (a NUL, an invalid name: 400).
			v = headerText(v)
			for _, text := range [...]string{name, v} {
				if err := gateway.CheckText("x-amz-meta-*", text); err != nil {
					return nil, err
				}
			}
			meta[n] = v
			total += len(n) + len(v)
		}
	}
	if total > maxUserMetadata {
		return nil, errMetadataTooLarge
	}
	if len(meta) == 0 {
		return nil, nil
	}
	return json.Marshal(meta)
}

// headerText reads a header value as text: UTF-8 when its bytes are valid UTF-8, else
// ISO-8859-1 (HTTP's historical charset for header octets; Python's http.client sends
// non-ASCII str values that way). An RFC 2047 encoded-word is plain ASCII and kept as sent.
func headerText(v string) string {
	if utf8.ValidString(v) {
		return v
	}
	r := make([]rune, len(v))
	for i := 0; i < len(v); i++ {
		r[i] = rune(v[i])
	}
	return string(r)
}

// writeUserMetadata emits x-amz-meta-* for each string entry, RFC 2047 encoded
// (=?UTF-8?B?...?=) when it is not a plain US-ASCII header value as S3 does, and
// x-amz-missing-meta counting the entries it cannot send (not a string, or a name that is not
// a header name).
func writeUserMetadata(c *fiber.Ctx, raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	var meta map[string]any
	if json.Unmarshal(raw, &meta) != nil {
		return
	}
	names := make([]string, 0, len(meta))
	for k := range meta {
		names = append(names, k)
	}
	sort.Strings(names)
	// S3 sends x-amz-meta-* in lower case and clients keep the case they get (botocore
	// would report "Color" for a stored "color").
	c.Response().Header.DisableNormalizing()
	missing := 0
	for _, k := range names {
		v, ok := meta[k].(string)
		if !ok || !validHeaderName(k) {
			missing++
			continue
		}
		if !validHeaderValue(v) {
			v = "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(v)) + "?="
		}
		c.Set("x-amz-meta-"+strings.ToLower(k), v)
	}
	if missing > 0 {
		c.Set("x-amz-missing-meta", strconv.Itoa(missing))
	}
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// extraHeaders reads the representation headers S3 stores with an object.
func extraHeaders(c *fiber.Ctx) gateway.Extra {
	return gateway.Extra{ContentDisposition: c.Get(fiber.HeaderContentDisposition),
		ContentEncoding: contentEncoding(c.Get(fiber.HeaderContentEncoding)), ContentLanguage: c.Get(fiber.HeaderContentLanguage),
		Expires: c.Get(fiber.HeaderExpires)}
}

// contentEncoding is the Content-Encoding to store: the header as sent, byte for byte, less
// any aws-chunked coding (the transfer framing of a signed stream, not the object's encoding).
func contentEncoding(enc string) string {
	parts := strings.Split(enc, ",")
	kept := parts[:0]
	for _, e := range parts {
		if !strings.EqualFold(strings.TrimSpace(e), "aws-chunked") {
			kept = append(kept, e)
		}
	}
	if len(kept) == len(parts) {
		return enc
	}
	return strings.TrimSpace(strings.Join(kept, ","))
}

// taggingHeader parses x-amz-tagging ("k1=v1&k2=v2", URL-encoded). Every fault is InvalidTag.
func taggingHeader(v string) ([]gateway.Tag, error) {
	if v == "" {
		return nil, nil
	}
	if len(v) > maxTaggingHeader {
		return nil, errorf(400, "InvalidTag", "The tag header is too long")
	}
	badHeader := errorf(400, "InvalidTag", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	q, err := url.ParseQuery(v)
	if err != nil {
		return nil, badHeader
	}
	var tags []gateway.Tag
	for k, vs := range q {
		if len(vs) != 1 {
			return nil, errorf(400, "InvalidTag", "Cannot provide multiple Tags with the same key")
		}
		tags = append(tags, gateway.Tag{Key: k, Value: vs[0]})
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].Key < tags[j].Key })
	return tags, validTags(tags, gateway.MaxTags)
}

// validTags checks S3's tag rules (at most max tags) and answers a fault as S3 does, 400
// InvalidTag; the engine checks again with its own code.
func validTags(tags []gateway.Tag, max int) error {
	if err := gateway.ValidateTagSet(tags, max); err != nil {
		msg := "The TagSet is invalid"
		var ge *gateway.Error
		if errors.As(err, &ge) && ge.Message != "" {
			msg = ge.Message
		}
		return errorf(400, "InvalidTag", msg)
	}
	return nil
}

// integrity reads Content-MD5 and the flexible checksum headers: one x-amz-checksum-<alg>
// header (verified), or a trailer / x-amz-sdk-checksum-algorithm naming the algorithm (the
// trailer value is verified by the SigV4 chunk reader; the engine computes its own).
func integrity(c *fiber.Ctx) (gateway.Integrity, error) {
	var in gateway.Integrity
	var err error
	if in.ContentMD5, err = contentMD5(c); err != nil {
		return in, err
	}
	found := 0
	for _, alg := range gateway.ChecksumAlgorithms {
		if v, ok := checksumHeader(c, alg); ok {
			if err := checkChecksumValue(alg, v); err != nil {
				return in, err
			}
			in.ChecksumAlgorithm, in.Checksum = alg, v
			found++
		}
	}
	if found > 1 {
		return in, errorf(400, "InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	}
	if found == 0 {
		for t := range strings.SplitSeq(c.Get("x-amz-trailer"), ",") {
			if alg, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(t)), "x-amz-checksum-"); ok {
				in.ChecksumAlgorithm = strings.ToUpper(alg)
			}
		}
	}
	if in.ChecksumAlgorithm == "" {
		in.ChecksumAlgorithm = strings.ToUpper(c.Get("x-amz-sdk-checksum-algorithm"))
	}
	if in.ChecksumAlgorithm != "" && gateway.NewChecksum(in.ChecksumAlgorithm) == nil {
		return in, errorf(400, "InvalidRequest", "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
	}
	return in, nil
}

// checkSmallBodyDigests verifies Content-MD5 and an x-amz-checksum-* header of a small body
// already in memory (DeleteObjects, tagging).
func checkSmallBodyDigests(c *fiber.Ctx, data []byte) error {
	v, err := contentMD5(c)
	if err != nil {
		return err
	}
	if v != "" {
		sum := md5.Sum(data)
		if v != base64.StdEncoding.EncodeToString(sum[:]) {
			return &gateway.Error{Code: gateway.CodeBadDigest, Message: "The Content-MD5 you specified did not match what we received."}
		}
	}
	for _, alg := range gateway.ChecksumAlgorithms {
		if v, ok := checksumHeader(c, alg); ok {
			if err := checkChecksumValue(alg, v); err != nil {
				return err
			}
			h := gateway.NewChecksum(alg)
			h.Write(data)
			if v != base64.StdEncoding.EncodeToString(h.Sum(nil)) {
				return &gateway.Error{Code: gateway.CodeBadDigest, Message: "The " + alg + " you specified did not match the calculated checksum."}
			}
		}
	}
	return nil
}

// errInvalidDigest answers a Content-MD5 header that is empty or not the base64 of 16 bytes.
var errInvalidDigest = errorf(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")

// contentMD5 returns the Content-MD5 header, "" when absent; a header that is present but
// empty or not the base64 of an MD5 sum is InvalidDigest (S3 tells it apart from a sum that
// does not match, BadDigest).
func contentMD5(c *fiber.Ctx) (string, error) {
	all := c.Request().Header.PeekAll("Content-MD5")
	if len(all) == 0 {
		return "", nil
	}
	v := string(all[0])
	if b, err := base64.StdEncoding.DecodeString(v); len(all) > 1 || err != nil || len(b) != md5.Size {
		return "", errInvalidDigest
	}
	return v, nil
}

// checksumHeader returns the x-amz-checksum-<alg> header and whether it was sent (empty or not).
func checksumHeader(c *fiber.Ctx, alg string) (string, bool) {
	all := c.Request().Header.PeekAll("x-amz-checksum-" + strings.ToLower(alg))
	if len(all) == 0 {
		return "", false
	}
	return string(all[0]), true
}

// checkChecksumValue rejects an x-amz-checksum-<alg> value that is not the base64 of a sum of
// the algorithm's size: it cannot match the body, so it is BadDigest (as the AWS
// behaviour says), before any byte is stored.
func checkChecksumValue(alg, v string) error {
	h := gateway.NewChecksum(alg)
	if b, err := base64.StdEncoding.DecodeString(v); err != nil || len(b) != h.Size() {
		return &gateway.Error{Code: gateway.CodeBadDigest, Message: "The " + alg + " you specified did not match the calculated checksum."}
	}
	return nil
}

// conditions reads If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since (or
// their x-amz-copy-source-if-* forms with prefix "x-amz-copy-source-"). Unparsable dates are
// ignored, as HTTP requires.
func conditions(c *fiber.Ctx, prefix string) gateway.Conditions {
	date := func(name string) time.Time {
		t, err := http.ParseTime(c.Get(prefix + name))
		if err != nil {
			return time.Time{}
		}
		return t
	}
	return gateway.Conditions{IfMatch: c.Get(prefix + "If-Match"), IfNoneMatch: c.Get(prefix + "If-None-Match"),
		IfModifiedSince: date("If-Modified-Since"), IfUnmodifiedSince: date("If-Unmodified-Since")}
}

// s3URLEncode encodes keys and prefixes for encoding-type=url: everything but unreserved
// characters and "/" is percent-encoded, so both path and query-style decoders (botocore's
// unquote_plus included) read the key back.
func s3URLEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-_.~/", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)+strconv.FormatUint(uint64(c)&15, 16)))
		}
	}
	return b.String()
}

// storageClasses are the x-amz-storage-class values S3 accepts. Stowage has one class:
// objects read back as STANDARD whatever was asked.
var storageClasses = map[string]bool{"STANDARD": true, "REDUCED_REDUNDANCY": true, "STANDARD_IA": true,
	"ONEZONE_IA": true, "INTELLIGENT_TIERING": true, "GLACIER": true, "DEEP_ARCHIVE": true, "OUTPOSTS": true,
	"GLACIER_IR": true, "SNOW": true, "EXPRESS_ONEZONE": true, "FSX_OPENZFS": true}

var errInvalidStorageClass = errorf(400, "InvalidStorageClass", "The storage class you specified is not valid")

// checkStorageClass refuses an x-amz-storage-class S3 does not know, as S3 does, before
// anything is stored.
func checkStorageClass(c *fiber.Ctx) error {
	if v := c.Get("x-amz-storage-class"); v != "" && !storageClasses[v] {
		return errInvalidStorageClass
	}
	return nil
}
