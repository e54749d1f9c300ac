package s3proto

import (
	"encoding/xml"
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/multipart"
)

type initiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

type copyPartResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyPartResult"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
}

type completeMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
	checksums
}

type partEntry struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	checksums
}

type listPartsResult struct {
	XMLName              xml.Name    `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListPartsResult"`
	Bucket               string      `xml:"Bucket"`
	Key                  string      `xml:"Key"`
	UploadID             string      `xml:"UploadId"`
	Initiator            *owner      `xml:"Initiator,omitempty"`
	Owner                *owner      `xml:"Owner,omitempty"`
	StorageClass         string      `xml:"StorageClass"`
	ChecksumAlgorithm    string      `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType         string      `xml:"ChecksumType,omitempty"`
	PartNumberMarker     int         `xml:"PartNumberMarker"`
	NextPartNumberMarker int         `xml:"NextPartNumberMarker"`
	MaxParts             int         `xml:"MaxParts"`
	IsTruncated          bool        `xml:"IsTruncated"`
	Parts                []partEntry `xml:"Part"`
}

type uploadEntry struct {
	Key          string `xml:"Key"`
	UploadID     string `xml:"UploadId"`
	Initiator    *owner `xml:"Initiator,omitempty"`
	Owner        *owner `xml:"Owner,omitempty"`
	StorageClass string `xml:"StorageClass"`
	Initiated    string `xml:"Initiated"`
	// As S3 lists them, for uploads created with a checksum algorithm.
	ChecksumAlgorithm string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string `xml:"ChecksumType,omitempty"`
}

type listMultipartUploadsResult struct {
	XMLName            xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMultipartUploadsResult"`
	Bucket             string         `xml:"Bucket"`
	KeyMarker          string         `xml:"KeyMarker"`
	UploadIDMarker     string         `xml:"UploadIdMarker"`
	NextKeyMarker      string         `xml:"NextKeyMarker"`
	NextUploadIDMarker string         `xml:"NextUploadIdMarker"`
	Delimiter          string         `xml:"Delimiter,omitempty"`
	Prefix             string         `xml:"Prefix"`
	EncodingType       string         `xml:"EncodingType,omitempty"`
	MaxUploads         int            `xml:"MaxUploads"`
	IsTruncated        bool           `xml:"IsTruncated"`
	Uploads            []uploadEntry  `xml:"Upload"`
	CommonPrefixes     []commonPrefix `xml:"CommonPrefixes"`
}

var (
	errMissingContentLength = errorf(400, "MissingContentLength", "You must provide the Content-Length HTTP header.")
	errBadPartNumber        = errorf(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
	errTooManyParts         = errorf(400, "MalformedXML", "The XML you provided names more than 10000 parts.")
)

// createMultipartUpload starts an upload; the object's headers and metadata are given now
// and applied at completion.
func (h *Handler) createMultipartUpload(c *fiber.Ctx, req *request) error {
	if err := checkStorageClass(c); err != nil {
		return err
	}
	if err := h.checkObjectACL(c, req); err != nil {
		return err
	}
	meta, err := userMetadata(c)
	if err != nil {
		return err
	}
	extra := extraHeaders(c)
	if extra.Tags, err = taggingHeader(c.Get("x-amz-tagging")); err != nil {
		return err
	}
	// The body is empty (some SDKs send "{}" with a JSON content type): read it through its
	// signature check and the small-body cap, then ignore it, as createBucket does.
	if _, err := h.readSmallBody(c, req); err != nil {
		return err
	}
	u, err := h.engine.CreateMultipartUpload(c.UserContext(), h.caller(c, req), gateway.CreateMultipartUpload{
		Bucket: req.bucket, Key: req.key, ContentType: c.Get(fiber.HeaderContentType),
		CacheControl: c.Get(fiber.HeaderCacheControl), UserMetadata: meta, Extra: extra,
		ChecksumAlgorithm: c.Get("x-amz-checksum-algorithm"), ChecksumType: c.Get("x-amz-checksum-type")})
	if err != nil {
		return err
	}
	if u.Extra.ChecksumAlgorithm != "" {
		c.Set("x-amz-checksum-algorithm", u.Extra.ChecksumAlgorithm)
		c.Set("x-amz-checksum-type", u.Extra.ChecksumType)
	}
	return writeXML(c, fiber.StatusOK, initiateMultipartUploadResult{Bucket: u.Bucket, Key: u.Key, UploadID: u.ID})
}

// uploadPart streams one part to the engine; its length must be declared.
func (h *Handler) uploadPart(c *fiber.Ctx, req *request) error {
	n, err := multipart.ParsePartNumber(req.query.Get("partNumber"))
	if err != nil {
		return errBadPartNumber
	}
	body, size, err := h.body(c, req)
	if err != nil {
		return err
	}
	if size < 0 {
		return errMissingContentLength
	}
	if size > multipart.MaxPartSize {
		return &gateway.Error{Code: gateway.CodeTooLarge}
	}
	integ, err := integrity(c)
	if err != nil {
		return err
	}
	part, err := h.engine.UploadPart(c.UserContext(), h.caller(c, req), gateway.UploadPart{Bucket: req.bucket, Key: req.key,
		UploadID: req.query.Get("uploadId"), PartNumber: n, Body: body, Size: size, Integrity: integ})
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, part.ETag)
	c.Set(fiber.HeaderAccessControlExposeHeaders, "etag")
	writeChecksum(c, gateway.Extra{ChecksumAlgorithm: part.ChecksumAlgorithm, Checksum: part.Checksum})
	// An empty body: SendStatus would write "OK", which SDKs try to parse as XML.
	c.Status(fiber.StatusOK)
	return nil
}

// uploadPartCopy stores (a range of) an existing object as a part.
func (h *Handler) uploadPartCopy(c *fiber.Ctx, req *request) error {
	n, err := multipart.ParsePartNumber(req.query.Get("partNumber"))
	if err != nil {
		return errBadPartNumber
	}
	srcBucket, srcKey, srcVersion, err := parseCopySource(c.Get("x-amz-copy-source"))
	if err != nil {
		return err
	}
	part, err := h.engine.UploadPartCopy(c.UserContext(), h.caller(c, req), gateway.UploadPartCopy{Bucket: req.bucket, Key: req.key,
		UploadID: req.query.Get("uploadId"), PartNumber: n, SrcBucket: srcBucket, SrcKey: srcKey, SrcVersionID: srcVersion,
		Range: c.Get("x-amz-copy-source-range")})
	if ge := (*gateway.Error)(nil); errors.As(err, &ge) && ge.Code == gateway.CodeInvalidRange {
		// S3 answers a copy range outside the source with 400, not GetObject's 416.
		return errorf(400, "InvalidRange", ge.Message)
	}
	if err != nil {
		return err
	}
	return writeXML(c, fiber.StatusOK, copyPartResult{ETag: part.ETag, LastModified: isoTime(part.LastModified)})
}

// completeMultipartUpload parses the part list while it streams (multipart.ParseComplete
// caps it at 10000 parts and 8 MiB, more than the dialect's small-XML limit allows) and
// assembles the object. A list without parts (an empty body, an empty root) is
// MalformedXML, as S3 answers: the engine would read it as "every uploaded part", which the
// reference allows but S3 does not, and the upload stays as it was.
func (h *Handler) completeMultipartUpload(c *fiber.Ctx, req *request) error {
	cond, err := writeConditions(c)
	if err != nil {
		return err
	}
	body, _, err := h.body(c, req)
	if err != nil {
		return err
	}
	parts, err := multipart.ParseComplete(body)
	if err != nil {
		return completeBodyError(err)
	}
	if len(parts) == 0 {
		return errMalformedXML
	}
	obj, err := h.engine.CompleteMultipartUpload(c.UserContext(), h.caller(c, req), gateway.CompleteMultipartUpload{
		Bucket: req.bucket, Key: req.key, UploadID: req.query.Get("uploadId"), Parts: parts, Checksum: claimedChecksum(c),
		Conditions: cond})
	if err != nil {
		return err
	}
	setVersionID(c, obj)
	return writeXML(c, fiber.StatusOK, completeMultipartUploadResult{Location: req.bucket + "/" + req.key,
		Bucket: req.bucket, Key: req.key, ETag: obj.ETag, checksums: objectChecksums(obj.Extra)})
}

// claimedChecksum is the whole-object x-amz-checksum-<alg> header of a completion, if any.
func claimedChecksum(c *fiber.Ctx) gateway.ObjectChecksum {
	for _, alg := range gateway.ChecksumAlgorithms {
		if v := c.Get("x-amz-checksum-" + strings.ToLower(alg)); v != "" {
			return gateway.ObjectChecksum{Algorithm: alg, Value: v}
		}
	}
	return gateway.ObjectChecksum{}
}

// completeBodyError maps the parser's typed errors; a body that failed its signature or
// ended early keeps its own error.
func completeBodyError(err error) error {
	switch {
	case errors.Is(err, multipart.ErrBodyTooLarge):
		return errXMLTooLarge
	case errors.Is(err, multipart.ErrTooManyParts):
		return errTooManyParts
	case errors.Is(err, multipart.ErrInvalidPartNumber):
		return errBadPartNumber
	case errors.Is(err, multipart.ErrMalformedXML):
		return errMalformedXML
	}
	var me *multipart.Error
	if errors.As(err, &me) {
		return errMalformedXML
	}
	return &gateway.Error{Code: gateway.CodeIncompleteBody, Err: err}
}

// abortMultipartUpload answers 204 as S3 does (the reference answers 200).
func (h *Handler) abortMultipartUpload(c *fiber.Ctx, req *request) error {
	if err := h.engine.AbortMultipartUpload(c.UserContext(), h.caller(c, req), req.bucket, req.key, req.query.Get("uploadId")); err != nil {
		return err
	}
	c.Status(fiber.StatusNoContent)
	return nil
}

// queryInt reads an optional non-negative integer query parameter.
func queryInt(req *request, name string, def int) (int, error) {
	v := req.query.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errorf(400, "InvalidArgument", "Provided "+name+" not an integer or within integer range")
	}
	return n, nil
}

// listParts lists an upload's parts (max-parts 1..1000, part-number-marker).
func (h *Handler) listParts(c *fiber.Ctx, req *request) error {
	maxParts, err := queryInt(req, "max-parts", gateway.MaxListParts)
	if err != nil {
		return err
	}
	marker, err := queryInt(req, "part-number-marker", 0)
	if err != nil {
		return err
	}
	maxParts = min(max(maxParts, 1), gateway.MaxListParts)
	l, err := h.engine.ListParts(c.UserContext(), h.caller(c, req), gateway.ListParts{Bucket: req.bucket, Key: req.key,
		UploadID: req.query.Get("uploadId"), PartNumberMarker: marker, MaxParts: maxParts})
	if err != nil {
		return err
	}
	res := listPartsResult{Bucket: req.bucket, Key: req.key, UploadID: l.Upload.ID, StorageClass: "STANDARD",
		ChecksumAlgorithm: l.Upload.Extra.ChecksumAlgorithm, ChecksumType: l.Upload.Extra.ChecksumType,
		PartNumberMarker: marker, NextPartNumberMarker: l.NextPartNumberMarker, MaxParts: maxParts, IsTruncated: l.IsTruncated}
	if l.Upload.OwnerID != "" {
		res.Initiator, res.Owner = &owner{ID: l.Upload.OwnerID}, &owner{ID: l.Upload.OwnerID}
	}
	for _, p := range l.Parts {
		cs := newChecksums(p.ChecksumAlgorithm, p.Checksum)
		cs.ChecksumType = "" // per upload, not per part
		res.Parts = append(res.Parts, partEntry{PartNumber: p.Number, LastModified: isoTime(p.LastModified), ETag: p.ETag, Size: p.Size, checksums: cs})
	}
	return writeXML(c, fiber.StatusOK, res)
}

// listMultipartUploads lists a bucket's uploads in progress.
func (h *Handler) listMultipartUploads(c *fiber.Ctx, req *request) error {
	p, err := parseListParams(req)
	if err != nil {
		return err
	}
	maxUploads, err := queryInt(req, "max-uploads", gateway.MaxListParts)
	if err != nil {
		return err
	}
	maxUploads = min(max(maxUploads, 1), gateway.MaxListParts)
	in := gateway.ListMultipartUploads{Bucket: req.bucket, Prefix: p.prefix, Delimiter: p.delimiter,
		KeyMarker: req.query.Get("key-marker"), UploadIDMarker: req.query.Get("upload-id-marker"), MaxUploads: maxUploads}
	l, err := h.engine.ListMultipartUploads(c.UserContext(), h.caller(c, req), in)
	if err != nil {
		return err
	}
	res := listMultipartUploadsResult{Bucket: req.bucket, KeyMarker: p.enc(in.KeyMarker), UploadIDMarker: in.UploadIDMarker,
		NextKeyMarker: p.enc(l.NextKeyMarker), NextUploadIDMarker: l.NextUploadIDMarker, Delimiter: p.enc(in.Delimiter),
		Prefix: p.enc(in.Prefix), MaxUploads: maxUploads, IsTruncated: l.IsTruncated, CommonPrefixes: p.prefixes(l.CommonPrefixes)}
	if p.encode {
		res.EncodingType = "url"
	}
	for _, u := range l.Uploads {
		e := uploadEntry{Key: p.enc(u.Key), UploadID: u.ID, StorageClass: "STANDARD", Initiated: isoTime(u.Initiated),
			ChecksumAlgorithm: u.Extra.ChecksumAlgorithm, ChecksumType: u.Extra.ChecksumType}
		if u.OwnerID != "" {
			e.Initiator, e.Owner = &owner{ID: u.OwnerID}, &owner{ID: u.OwnerID}
		}
		res.Uploads = append(res.Uploads, e)
	}
	return writeXML(c, fiber.StatusOK, res)
}
