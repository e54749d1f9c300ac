package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/inline"
)

// ByteRange is a resolved, satisfiable range of an object.
type ByteRange struct {
	Start, End int64 // inclusive
}

// Length is the number of bytes in the range.
func (r ByteRange) Length() int64 { return r.End - r.Start + 1 }

// ParseRange resolves an HTTP Range header against size as the REST dialect does. It
// supports one range of the forms a-b, a- and -n; ok is false when the header is absent.
// Multiple ranges, other units, malformed and unsatisfiable ranges are CodeInvalidRange.
func ParseRange(header string, size int64) (r ByteRange, ok bool, err error) {
	return resolveRange(header, size, false)
}

// ParseS3Range resolves a Range header as S3 does: a header that is not one well-formed
// byte range (garbage, another unit, several ranges, a last byte before the first) is
// ignored, ok false, and the whole object is served; only a well-formed range the object
// cannot satisfy (its first byte at or past the end, a suffix of 0 bytes) is
// CodeInvalidRange. A suffix range of an empty object is ignored too.
func ParseS3Range(header string, size int64) (r ByteRange, ok bool, err error) {
	return resolveRange(header, size, true)
}

// resolveRange is ParseRange (lenient false) and ParseS3Range (lenient true).
func resolveRange(header string, size int64, lenient bool) (ByteRange, bool, error) {
	if header == "" {
		return ByteRange{}, false, nil
	}
	bad := &Error{Code: CodeInvalidRange, Message: "invalid range provided"}
	// ignore is the answer to a header S3 does not read as a range.
	ignore := func() (ByteRange, bool, error) {
		if lenient {
			return ByteRange{}, false, nil
		}
		return ByteRange{}, false, bad
	}
	first, last, wellFormed := parseRangeSpec(header)
	if !wellFormed {
		return ignore()
	}
	if first < 0 {
		// Suffix range: the last `last` bytes.
		if last == 0 {
			return ByteRange{}, false, bad
		}
		if size == 0 {
			return ignore()
		}
		return ByteRange{Start: max(size-last, 0), End: size - 1}, true, nil
	}
	if first >= size {
		return ByteRange{}, false, bad
	}
	end := size - 1
	if last >= 0 {
		if last < first {
			return ignore()
		}
		end = min(last, size-1)
	}
	return ByteRange{Start: first, End: end}, true, nil
}

// parseRangeSpec reads the syntax of a Range header holding one byte range: "bytes=a-b"
// (first a, last b), "bytes=a-" (last -1) or "bytes=-n" (first -1, last n). wellFormed is
// false for anything else, numbers beyond int64 included.
func parseRangeSpec(header string) (first, last int64, wellFormed bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(header), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found || (a == "" && b == "") {
		return 0, 0, false
	}
	num := func(s string) (int64, bool) {
		if s == "" {
			return -1, true
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil && n >= 0 && s[0] != '+'
	}
	first, okA := num(a)
	last, okB := num(b)
	return first, last, okA && okB
}

// GetObject is the input of Engine.GetObject.
type GetObject struct {
	Bucket, Key string
	// Range is the raw Range header ("" for the whole object).
	Range string
	// S3Range reads Range as S3 does (ParseS3Range: a malformed header is ignored) instead
	// of as the REST dialect does (ParseRange: it is InvalidRange).
	S3Range bool
	// AsService reads without RLS: public buckets and signed URLs.
	AsService bool
	// Conditions are checked against the object before its bytes are opened; on failure
	// the returned ObjectReader still carries the Object (for 304 headers), without Body.
	Conditions Conditions
	// PartNumber (> 0) reads one part of a multipart object instead of Range (which must
	// then be ""): by the number it was uploaded with. An object that is not multipart has
	// one part, 1, the whole object. A part the object lacks is CodeInvalidRange.
	PartNumber int
	// VersionID reads that version instead of the latest (S3 versionId); Versions reports
	// the version id of what is read, and a delete marker behind a missing key (S3).
	VersionID string
	Versions  bool
	// Public applies a public-bucket rule instead of AsService, with the bucket's row read
	// in the same round trip as the object's (the REST downloads).
	Public PublicRule
	// Buffer, when its capacity holds the bytes to read, receives them (ObjectReader.Data)
	// instead of a stream being opened: a small object is read in one go (the file store:
	// one pread, backend.ReaderInto) and can be answered in one write with its headers.
	Buffer []byte

	// blob, set by GetObject, asks the row's read for bytes kept in Postgres (smallBlobRead).
	blob *db.SmallBlobRead
}

// PublicRule is how a read depends on whether its bucket is public.
type PublicRule int

const (
	// PublicNone: the read is as AsService says.
	PublicNone PublicRule = iota
	// PublicRead: a public bucket's object is read without RLS, a private one's as the
	// caller.
	PublicRead
	// PublicOnly: a public bucket's object is read without RLS; a private bucket is
	// CodeNoSuchBucket.
	PublicOnly
)

// ObjectReader is an open object. The caller must Close Body.
type ObjectReader struct {
	Object
	Body io.ReadCloser
	// Data holds the bytes instead of Body when they fit GetObject.Buffer (Body is nil).
	Data []byte
	// Range is the served range when Partial.
	Range   ByteRange
	Partial bool
	// PartsCount is the number of parts of a multipart object read by PartNumber, 0
	// otherwise (S3 sends x-amz-mp-parts-count only then).
	PartsCount int
	// PartChecksum is the checksum of the part read by PartNumber: the part's own for a
	// COMPOSITE object (as S3 answers it), the object's for part 1 of a plain object;
	// "" otherwise.
	PartChecksum string
}

// HeadObject returns an object's info; RLS SELECT decides unless asService.
func (e *Engine) HeadObject(ctx context.Context, c Caller, bucket, key string, asService bool) (Object, error) {
	return e.headObject(ctx, c, bucket, key, asService, nil)
}

// headObject is HeadObject that, with a non-nil blob, also reads the object's small blob
// when the read runs as the service role (smallBlobRead).
func (e *Engine) headObject(ctx context.Context, c Caller, bucket, key string, asService bool, blob *db.SmallBlobRead) (Object, error) {
	if err := ValidateBucketName(bucket); err != nil {
		return Object{}, err
	}
	if err := ValidateKey(key); err != nil {
		return Object{}, withObject(err, bucket, key)
	}
	scope := c.scope()
	if asService {
		scope = e.service(c)
	}
	known := e.readScope(&scope)
	if scope.Role != e.service(c).Role {
		blob = nil // only the service role may read stowage.small_blobs
	}
	row, bypass, err := e.db.ReadObjectAsking(ctx, scope, bucket, key, !known, blob)
	if bypass != nil {
		e.cache.bypass.put(scope.Role, *bypass, time.Now(), e.cacheTTL())
	}
	if err != nil {
		return Object{}, dbErr(err, CodeNoSuchKey, bucket, key)
	}
	return objectFromRow(row), nil
}

// readScope marks s for a read pipeline when the role cache says its role bypasses RLS
// (db.Scope.BypassesRLS: only the role and statement_timeout are set). known is false on a
// cache miss: the read then asks in its own round trip and fills the cache.
func (e *Engine) readScope(s *db.Scope) (known bool) {
	bypass, known := e.cache.bypass.get(s.Role, time.Now())
	s.BypassesRLS = known && bypass
	return known
}

// headPublic is HeadObject under a public-bucket rule: the bucket's row and the object's
// rows as the service and as the caller in one round trip (db.ReadObjectAccess), the
// answers as if the bucket were read first. Names that fail validation, and a read the
// database refuses (a policy that raises, a role it lacks), take the two-step way, so
// their answers stay exactly those of reading the bucket first.
func (e *Engine) headPublic(ctx context.Context, c Caller, bucket, key string, rule PublicRule, blob *db.SmallBlobRead) (Object, error) {
	if ValidateBucketName(bucket) == nil && ValidateKey(key) == nil {
		service := e.service(c)
		// A caller acting as the service role, when that role bypasses RLS, sees exactly
		// the service's row (same role, no policy): the row is read once. Whether it
		// bypasses is cached; a miss asks in the same round trip.
		known := e.readScope(&service)
		var caller *db.Scope
		asService := rule == PublicRead && c.Role == service.Role && service.BypassesRLS
		if rule == PublicRead && !asService {
			s := c.scope()
			caller = &s
		}
		a, err := e.db.ReadObjectAccess(ctx, service, caller, bucket, key, !known, blob)
		if err == nil {
			if a.BypassKnown {
				e.cache.bypass.put(service.Role, a.ServiceBypassesRLS, time.Now(), e.cacheTTL())
			}
			if a.BucketErr != nil {
				return Object{}, dbErr(a.BucketErr, CodeNoSuchBucket, bucket, "")
			}
			row, rerr := a.AsCaller, a.CallerErr
			switch {
			case a.Bucket.Public || asService:
				row, rerr = a.AsService, a.AsServiceErr
			case rule == PublicOnly:
				return Object{}, &Error{Code: CodeNoSuchBucket, Bucket: bucket}
			}
			if rerr != nil {
				return Object{}, dbErr(rerr, CodeNoSuchKey, bucket, key)
			}
			return objectFromRow(row), nil
		}
		if ctx.Err() != nil {
			return Object{}, dbErr(err, CodeNoSuchKey, bucket, key)
		}
	}
	b, err := e.bucketAsService(ctx, c, bucket)
	if err != nil {
		return Object{}, err
	}
	if !b.Public && rule == PublicOnly {
		return Object{}, &Error{Code: CodeNoSuchBucket, Bucket: bucket}
	}
	return e.HeadObject(ctx, c, bucket, key, b.Public)
}

// StatObject is GetObject without the bytes, for HEAD: the row (RLS SELECT unless
// AsService), the conditions (a failed one returns the object with its error, so a 304 can
// carry its headers) and the range.
func (e *Engine) StatObject(ctx context.Context, c Caller, in GetObject) (ObjectReader, error) {
	if in.Public != PublicNone && (in.VersionID != "" || in.Versions) {
		b, err := e.bucketAsService(ctx, c, in.Bucket)
		if err != nil {
			return ObjectReader{}, err
		}
		if !b.Public && in.Public == PublicOnly {
			return ObjectReader{}, &Error{Code: CodeNoSuchBucket, Bucket: in.Bucket}
		}
		in.AsService, in.Public = b.Public, PublicNone
	}
	var obj Object
	var err error
	switch {
	case in.VersionID != "":
		obj, err = e.statVersion(ctx, c, in.Bucket, in.Key, in.VersionID, in.AsService)
	case in.Versions:
		if obj, err = e.headObject(ctx, c, in.Bucket, in.Key, in.AsService, in.blob); err == nil {
			err = e.currentVersionID(ctx, c, &obj)
		} else {
			err = e.deleteMarkerError(ctx, c, err, in.Bucket, in.Key)
		}
	case in.Public != PublicNone:
		obj, err = e.headPublic(ctx, c, in.Bucket, in.Key, in.Public, in.blob)
	default:
		obj, err = e.headObject(ctx, c, in.Bucket, in.Key, in.AsService, in.blob)
	}
	if err != nil {
		return ObjectReader{}, err
	}
	if err := in.Conditions.Check(obj); err != nil {
		return ObjectReader{Object: obj}, err
	}
	if in.PartNumber > 0 {
		return e.statPart(ctx, c, obj, in.PartNumber)
	}
	rng, partial, err := resolveRange(in.Range, obj.Size, in.S3Range)
	if err != nil {
		return ObjectReader{}, withObject(err, in.Bucket, in.Key)
	}
	return ObjectReader{Object: obj, Range: rng, Partial: partial}, nil
}

// statPart resolves part n of obj to its byte range from the layout recorded at
// completion (stowage.object_parts). S3 serves a part as a range, 206 with Content-Range,
// even when it is the whole object.
func (e *Engine) statPart(ctx context.Context, c Caller, obj Object, n int) (ObjectReader, error) {
	var p db.PartLocation
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		var err error
		p, err = tx.Part(ctx, e.blobKey(obj.Bucket, obj.Key, obj.Version), n)
		return err
	})
	if err != nil {
		return ObjectReader{}, dbErr(err, CodeNoSuchKey, obj.Bucket, obj.Key)
	}
	if p.Count == 0 && n == 1 {
		p.Offset, p.Size, p.Found, p.Checksum = 0, obj.Size, true, obj.Extra.Checksum
	} else if obj.Extra.ChecksumType != ChecksumComposite {
		p.Checksum = "" // a FULL_OBJECT checksum has no per-part value to answer
	}
	if !p.Found {
		return ObjectReader{}, &Error{Code: CodeInvalidRange, Bucket: obj.Bucket, Key: obj.Key,
			Message: "The requested partnumber is not satisfiable"}
	}
	// An empty part (an empty object's part 1, an empty last part) is a range of length 0.
	return ObjectReader{Object: obj, PartsCount: p.Count, Range: ByteRange{Start: p.Offset, End: p.Offset + p.Size - 1},
		Partial: true, PartChecksum: p.Checksum}, nil
}

// GetObject opens an object's bytes (or the requested range of them).
func (e *Engine) GetObject(ctx context.Context, c Caller, in GetObject) (ObjectReader, error) {
	// A concurrent overwrite may remove the version we just read between the row lookup and
	// opening its bytes; the row then names a newer version, so look again.
	for attempt := 0; ; attempt++ {
		in.blob = e.smallBlobRead(in)
		r, err := e.StatObject(ctx, c, in)
		if err != nil {
			return r, err
		}
		obj, rng, partial := r.Object, r.Range, r.Partial
		if partial && rng.Length() == 0 {
			r.Body = io.NopCloser(strings.NewReader(""))
			return r, nil
		}
		br, length := backend.Whole, obj.Size
		if partial {
			br, length = backend.Range{Offset: rng.Start, Length: rng.Length()}, rng.Length()
		}
		if whole := prefetched(in.blob, obj); whole != nil {
			// The bytes came with the row (into in.Buffer when it holds them).
			data := whole[br.Offset : br.Offset+length]
			if in.Buffer != nil && length <= int64(cap(in.Buffer)) {
				r.Data = data
			} else {
				r.Body = io.NopCloser(bytes.NewReader(data))
			}
			return r, nil
		}
		key := e.blobKey(obj.Bucket, obj.Key, obj.Version)
		if in.Buffer != nil && length <= int64(cap(in.Buffer)) {
			err = e.readInto(ctx, key, br, in.Buffer[:length])
			r.Data = in.Buffer[:length]
		} else {
			r.Body, err = e.store.Open(ctx, key, br)
		}
		if errors.Is(err, backend.ErrNotFound) && attempt < 2 {
			continue
		}
		if err != nil {
			return ObjectReader{}, storeErr(err, in.Bucket, in.Key)
		}
		return r, nil
	}
}

// prefetched returns the bytes b read with obj's row when they are obj's: the version the
// service's row had when its read took them, and obj's size. nil otherwise: no bytes were
// asked for or found, or obj is another row (a REST read of a private bucket answers with
// the caller's row, read by a statement of its own after the service's, so an overwrite
// committed between the two gives them different versions); the store is then read.
func prefetched(b *db.SmallBlobRead, obj Object) []byte {
	if b == nil || b.Data == nil || b.Version != obj.Version || int64(len(b.Data)) != obj.Size {
		return nil
	}
	return b.Data
}

// smallBlobRead asks a GET's row read for the bytes kept in Postgres with it (inline.Store),
// saving the store's own round trip for them; nil when the store keeps none there, or the
// read is not of the current row's bytes (a version by id, a part: they take their own way).
func (e *Engine) smallBlobRead(in GetObject) *db.SmallBlobRead {
	if _, ok := e.store.(*inline.Store); !ok || in.VersionID != "" || in.PartNumber > 0 {
		return nil
	}
	return &db.SmallBlobRead{Prefix: e.blobKey(in.Bucket, in.Key, ""), Buffer: in.Buffer}
}

// readInto fills dst with the range br of key's blob: through the store's ReaderInto, or
// by reading a stream the store opens.
func (e *Engine) readInto(ctx context.Context, key string, br backend.Range, dst []byte) error {
	if s, ok := e.store.(backend.ReaderInto); ok {
		return s.ReadInto(ctx, key, br, dst)
	}
	body, err := e.store.Open(ctx, key, br)
	if err != nil {
		return err
	}
	defer body.Close()
	_, err = io.ReadFull(body, dst)
	return err
}
