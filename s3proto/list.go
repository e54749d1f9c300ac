package s3proto

import (
	"encoding/base64"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// list runs the engine listing for p. max-keys=0 still checks the bucket and the caller
// (NoSuchBucket, AccessDenied) but returns no entry and no truncation, as S3.
func (h *Handler) list(c *fiber.Ctx, req *request, p listParams, startAfter string) (gateway.ListResult, error) {
	res, err := h.engine.ListObjects(c.UserContext(), h.caller(c, req), gateway.ListObjects{Bucket: req.bucket,
		Prefix: p.prefix, Delimiter: p.delimiter, StartAfter: startAfter, MaxKeys: max(p.maxKeys, 1)})
	if err != nil || p.maxKeys > 0 {
		return res, err
	}
	return gateway.ListResult{}, nil
}

// listParams are the query parameters shared by the listings.
type listParams struct {
	prefix, delimiter string
	maxKeys           int
	encode            bool
}

func parseListParams(req *request) (listParams, error) {
	p := listParams{prefix: req.query.Get("prefix"), delimiter: req.query.Get("delimiter"), maxKeys: gateway.MaxListKeys}
	n, err := queryInt(req, "max-keys", 0)
	if err != nil {
		return p, err
	}
	// Values above 1000 list 1000 keys. max-keys=0 asks for no keys: an empty page that is
	// not truncated, as S3 answers (the reference lists 1000).
	if req.query.Get("max-keys") != "" && n < gateway.MaxListKeys {
		p.maxKeys = n
	}
	switch e := req.query.Get("encoding-type"); e {
	case "":
	case "url":
		p.encode = true
	default:
		return p, errorf(400, "InvalidArgument", "Invalid Encoding Method specified in Request")
	}
	return p, nil
}

func (p listParams) enc(s string) string {
	if p.encode {
		return s3URLEncode(s)
	}
	return s
}

func (p listParams) contents(objs []gateway.Object, withOwner bool) []object {
	out := make([]object, len(objs))
	for i, o := range objs {
		out[i] = object{Key: p.enc(o.Key), LastModified: isoTime(o.LastModified), ETag: o.ETag, Size: o.Size, StorageClass: "STANDARD"}
		if o.Extra.ChecksumAlgorithm != "" {
			out[i].ChecksumAlgorithm, out[i].ChecksumType = []string{o.Extra.ChecksumAlgorithm}, "FULL_OBJECT"
		}
		if withOwner {
			out[i].Owner = &owner{ID: o.OwnerID}
		}
	}
	return out
}

func (p listParams) prefixes(cps []string) []commonPrefix {
	out := make([]commonPrefix, len(cps))
	for i, cp := range cps {
		out[i] = commonPrefix{Prefix: p.enc(cp)}
	}
	return out
}

// Continuation tokens are opaque to clients: base64 of "l:<last key or prefix>", the
// reference's format, so a token from either server works on the other.
func encodeToken(marker string) string {
	return base64.StdEncoding.EncodeToString([]byte("l:" + marker))
}

func decodeToken(tok string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(tok)
	marker, ok := strings.CutPrefix(string(raw), "l:")
	if err != nil || !ok {
		return "", errorf(400, "InvalidArgument", "The continuation token provided is incorrect")
	}
	return marker, nil
}

// listObjectsV2 lists one page with index range scans (the engine skips whole folders
// under a delimiter).
func (h *Handler) listObjectsV2(c *fiber.Ctx, req *request) error {
	p, err := parseListParams(req)
	if err != nil {
		return err
	}
	start := req.query.Get("start-after")
	// An empty continuation-token is no token (SDK paginators send one on the first page).
	token := req.query.Get("continuation-token")
	if token != "" {
		if start, err = decodeToken(token); err != nil {
			return err
		}
	}
	res, err := h.list(c, req, p, start)
	if err != nil {
		return err
	}
	out := listBucketResultV2{Name: req.bucket, Prefix: p.enc(p.prefix), ContinuationToken: token,
		StartAfter: p.enc(req.query.Get("start-after")), KeyCount: len(res.Objects) + len(res.CommonPrefixes),
		MaxKeys: p.maxKeys, Delimiter: p.enc(p.delimiter), IsTruncated: res.IsTruncated,
		Contents: p.contents(res.Objects, req.query.Get("fetch-owner") == "true"), CommonPrefixes: p.prefixes(res.CommonPrefixes)}
	if p.encode {
		out.EncodingType = "url"
	}
	if res.IsTruncated {
		out.NextContinuationToken = encodeToken(res.NextMarker)
	}
	return writeXML(c, fiber.StatusOK, out)
}

// listObjectsV1 is ListObjects with marker. Deviation: Marker echoes the request's marker
// (S3), not the next marker as the reference does; NextMarker is set whenever truncated.
func (h *Handler) listObjectsV1(c *fiber.Ctx, req *request) error {
	p, err := parseListParams(req)
	if err != nil {
		return err
	}
	marker := req.query.Get("marker")
	res, err := h.list(c, req, p, marker)
	if err != nil {
		return err
	}
	out := listBucketResultV1{Name: req.bucket, Prefix: p.enc(p.prefix), Marker: p.enc(marker), MaxKeys: p.maxKeys,
		Delimiter: p.enc(p.delimiter), IsTruncated: res.IsTruncated,
		Contents: p.contents(res.Objects, true), CommonPrefixes: p.prefixes(res.CommonPrefixes)}
	if p.encode {
		out.EncodingType = "url"
	}
	if res.IsTruncated {
		out.NextMarker = p.enc(res.NextMarker)
	}
	return writeXML(c, fiber.StatusOK, out)
}
