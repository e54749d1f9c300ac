package s3proto

import (
	"encoding/xml"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/sigv4"
)

// s3Error is an S3 wire error: HTTP status, code and message.
type s3Error struct {
	Status  int
	Code    string
	Message string
}

func (e *s3Error) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, msg string) *s3Error {
	return &s3Error{Status: status, Code: code, Message: msg}
}

// Errors of the dialect itself (not engine outcomes).
var (
	errNotImplemented   = errorf(501, "NotImplemented", "A header or query you provided implies functionality that is not implemented.")
	errMethodNotAllowed = errorf(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	errMalformedXML     = errorf(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
	errXMLTooLarge      = errorf(400, "MaxMessageLengthExceeded", "Your request was too big.")
	errMetadataTooLarge = errorf(400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.")
	errInvalidPartNum   = errorf(416, "InvalidPartNumber", "The requested partnumber is not satisfiable")
)

// errorTable maps every engine code to its S3 error. TestErrorTableComplete fails when a code
// lacks an entry.
var errorTable = map[gateway.Code]s3Error{
	gateway.CodeInternal:            {500, "InternalError", "We encountered an internal error. Please try again."},
	gateway.CodeNoSuchBucket:        {404, "NoSuchBucket", "The specified bucket does not exist"},
	gateway.CodeNoSuchKey:           {404, "NoSuchKey", "The specified key does not exist."},
	gateway.CodeNoSuchUpload:        {404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."},
	gateway.CodeBucketAlreadyExists: {409, "BucketAlreadyExists", "The requested bucket name is not available."},
	gateway.CodeKeyAlreadyExists:    {409, "KeyAlreadyExists", "The resource already exists"},
	// Deviation from the reference (ResourceNotEmpty): S3's code, which clients understand.
	gateway.CodeBucketNotEmpty:    {409, "BucketNotEmpty", "The bucket you tried to delete is not empty"},
	gateway.CodeForbidden:         {403, "AccessDenied", "Access Denied"},
	gateway.CodeInvalidBucketName: {400, "InvalidBucketName", "The specified bucket is not valid."},
	gateway.CodeInvalidKey:        {400, "InvalidKey", "Invalid key"},
	gateway.CodeInvalidMimeType:   {415, "InvalidMimeType", "mime type is not supported"},
	gateway.CodeTooLarge:          {413, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"},
	gateway.CodeInvalidRange:      {416, "InvalidRange", "The requested range is not satisfiable"},
	gateway.CodeInvalidArgument:   {400, "InvalidArgument", "Invalid Argument"},
	gateway.CodeIncompleteBody:    {400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header."},
	// A lock wait timed out: SlowDown makes S3 clients back off and retry.
	gateway.CodeLocked:             {503, "SlowDown", "Please reduce your request rate."},
	gateway.CodeUnavailable:        {503, "ServiceUnavailable", "Please reduce your request rate."},
	gateway.CodeDatabaseError:      {500, "InternalError", "We encountered an internal error. Please try again."},
	gateway.CodeBadDigest:          {400, "BadDigest", "The Content-MD5 or checksum value that you specified did not match what the server received."},
	gateway.CodePreconditionFailed: {412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"},
	gateway.CodeNotModified:        {304, "NotModified", "Not Modified"},
	gateway.CodeInvalidPart:        {400, "InvalidPart", "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag."},
	gateway.CodeInvalidPartOrder:   {400, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number."},
	gateway.CodeEntityTooSmall:     {400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size."},
	gateway.CodeConflict:           {409, "OperationAborted", "A conflicting conditional operation is currently in progress against this resource. Please try again."},
	gateway.CodeGone:               {404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."},
	// A full or read-only store. Deliberately not 503 SlowDown: SDKs retry 500/503 at once,
	// re-sending the body into the same full disk; 507 (as MinIO's XMinioStorageFull) is
	// not retried and says what is wrong.
	gateway.CodeInsufficientStorage:     {507, "InsufficientStorage", "Insufficient storage"},
	gateway.CodeBucketAlreadyOwnedByYou: {409, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it."},
	gateway.CodeDatabaseTimeout:         {503, "ServiceUnavailable", "Please reduce your request rate."},
	// S3's DeleteBucket aborts pending uploads; were it ever refused, S3's word is this one.
	gateway.CodeResourceReferenced: {409, "BucketNotEmpty", "The bucket you tried to delete is not empty"},
	// shared/spec s3-api.md: database connection exhaustion is SlowDown, 429.
	gateway.CodeTooManyConnections: {429, "SlowDown", "Please reduce your request rate."},
	gateway.CodeNoSuchVersion:      {404, "NoSuchVersion", "The specified version does not exist."},
	gateway.CodeMethodNotAllowed:   {405, "MethodNotAllowed", "The specified method is not allowed against this resource."},
	gateway.CodeNoSuchLifecycle:    {404, "NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"},
}

// sigv4Status gives the HTTP status of each sigv4 error code (sigv4/errors.go).
var sigv4Status = map[string]int{
	"AccessDenied": 403, "InvalidAccessKeyId": 403, "SignatureDoesNotMatch": 403, "RequestTimeTooSkewed": 403,
	"InvalidArgument": 400, "InvalidSignature": 400, "AuthorizationQueryParametersError": 400, "AuthorizationHeaderMalformed": 400, "ExpiredToken": 400,
	"MissingSecurityHeader": 400, "InvalidRequest": 400, "XAmzContentSHA256Mismatch": 400,
	"IncompleteBody": 400, "EntityTooLarge": 413, "BadDigest": 400, "EntityTooSmall": 400,
}

// toS3Error renders any error as an S3 error; unknown errors are 500s.
func toS3Error(err error) s3Error {
	var se *s3Error
	if errors.As(err, &se) {
		return *se
	}
	// A body that failed its signature or checksum reaches us wrapped by the engine.
	var sv *sigv4.Error
	if errors.As(err, &sv) {
		status, ok := sigv4Status[sv.Code]
		if !ok {
			status = 400
		}
		return s3Error{Status: status, Code: sv.Code, Message: sv.Message}
	}
	var ge *gateway.Error
	if errors.As(err, &ge) {
		v, ok := errorTable[ge.Code]
		if !ok {
			v = errorTable[gateway.CodeInternal]
		}
		if ge.Message != "" && (v.Status < 500 || ge.Code == gateway.CodeInsufficientStorage) {
			v.Message = ge.Message // the engine words a full store without host paths
		}
		return v
	}
	var fe *fiber.Error
	if errors.As(err, &fe) && fe.Code < 500 {
		return s3Error{Status: fe.Code, Code: strings.ReplaceAll(http.StatusText(fe.Code), " ", ""), Message: fe.Message}
	}
	return errorTable[gateway.CodeInternal]
}

// errorBody is S3's <Error> document.
type errorBody struct {
	XMLName          xml.Name `xml:"Error"`
	Code             string   `xml:"Code"`
	Message          string   `xml:"Message"`
	HeadersNotSigned string   `xml:"HeadersNotSigned,omitempty"`
	Region           string   `xml:"Region,omitempty"`
	Resource         string   `xml:"Resource"`
	RequestID        string   `xml:"RequestId"`
}

// requestError carries the resource an error is about to the error writer.
type requestError struct {
	err      error
	resource string
}

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// ErrorHandler writes errors of the S3 routes: XML with Code, Message, Resource, RequestId;
// HEAD and 304 without a body; 5xx causes logged at error level with the request id.
func (h *Handler) ErrorHandler(c *fiber.Ctx, err error) error {
	e := toS3Error(err)
	resource := ""
	var re *requestError
	if errors.As(err, &re) {
		resource = re.resource
	}
	reqID := requestID(c)
	if e.Status >= 500 {
		h.opts.Logger.ErrorContext(c.UserContext(), "s3 request failed", "request_id", reqID, "status", e.Status, "err", err)
	} else {
		h.opts.Logger.DebugContext(c.UserContext(), "s3 request rejected", "request_id", reqID, "status", e.Status, "code", e.Code, "err", err)
	}
	c.Set("x-amz-request-id", reqID)
	// A read that met a delete marker says so (S3: 404 or 405 with the marker's id).
	if ge := (*gateway.Error)(nil); errors.As(err, &ge) && ge.DeleteMarker {
		c.Set("x-amz-delete-marker", "true")
		c.Set("x-amz-version-id", ge.VersionID)
	}
	// A body we did not read would be parsed as the next request on this connection, and
	// reading an unbounded one to throw it away is the client's bandwidth and ours: close.
	if c.Request().Header.ContentLength() != 0 {
		c.Context().SetConnectionClose()
	}
	c.Status(e.Status)
	if c.Method() == fiber.MethodHead || e.Status == http.StatusNotModified {
		c.Response().ResetBody()
		return nil
	}
	if e.Status == 503 {
		c.Set(fiber.HeaderRetryAfter, "1")
	}
	body := errorBody{Code: e.Code, Message: e.Message, Resource: resource, RequestID: reqID}
	// The extra elements S3 adds to some signature errors.
	var sv *sigv4.Error
	if errors.As(err, &sv) {
		body.HeadersNotSigned, body.Region = sv.HeadersNotSigned, sv.Region
	}
	return writeXML(c, e.Status, body)
}

// requestID is the id the server middleware gave this request (its X-Request-Id header).
func requestID(c *fiber.Ctx) string {
	return string(c.Response().Header.Peek("X-Request-Id"))
}

// slogDiscard is used when no logger is configured.
var slogDiscard = slog.New(slog.DiscardHandler)
