package rest

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// apiError is the reference's JSON error envelope. StatusCode is the logical status as a
// string; the HTTP status is usually 400 whatever the logical one (rest-api.md §0.5).
type apiError struct {
	HTTP       int    `json:"-"`
	StatusCode string `json:"statusCode"`
	Err        string `json:"error"`
	Message    string `json:"message"`
	Code       string `json:"code"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newAPIError(httpStatus int, logical int, errTag, code, msg string) *apiError {
	return &apiError{HTTP: httpStatus, StatusCode: strconv.Itoa(logical), Err: errTag, Message: msg, Code: code}
}

// NewError returns an error ErrorHandler renders as the reference's envelope, for routes
// served beside the REST ones (rest/render): httpStatus is the HTTP status, logical the
// envelope's statusCode.
func NewError(httpStatus, logical int, tag, code, msg string) error {
	return newAPIError(httpStatus, logical, tag, code, msg)
}

// Errors of the dialect itself (validation, tokens), not raised by the engine.
func validationError(msg string) *apiError {
	return newAPIError(400, 400, "Error", "InvalidRequest", msg)
}

func accessDenied(msg string) *apiError {
	return newAPIError(400, 403, "Unauthorized", "AccessDenied", msg)
}

func invalidJWT(msg string) *apiError { return newAPIError(400, 400, "InvalidJWT", "InvalidJWT", msg) }

func invalidSignature(msg string) *apiError {
	return newAPIError(400, 400, "InvalidSignature", "InvalidSignature", msg)
}

func invalidParameter(name string) *apiError {
	return newAPIError(400, 400, "InvalidParameter", "InvalidParameter", "Invalid Parameter "+name)
}

// invalidMetadata refuses user metadata that is not a JSON object, worded like the
// reference's x-robots-tag refusal (error invalid_x_robots_tag, code InvalidRequest).
func invalidMetadata(msg string) *apiError {
	return newAPIError(400, 400, "invalid_metadata", "InvalidRequest", msg)
}

func invalidRequest(msg string) *apiError {
	return newAPIError(400, 400, "InvalidRequest", "InvalidRequest", msg)
}

// errorTable maps every engine code to the reference's envelope. A test fails when a code
// has no entry.
var errorTable = map[gateway.Code]apiError{
	gateway.CodeInternal:            {HTTP: 500, StatusCode: "500", Err: "Internal", Code: "InternalError", Message: "Internal Server Error"},
	gateway.CodeNoSuchBucket:        {HTTP: 400, StatusCode: "404", Err: "Bucket not found", Code: "NoSuchBucket", Message: "Bucket not found"},
	gateway.CodeNoSuchKey:           {HTTP: 400, StatusCode: "404", Err: "not_found", Code: "NoSuchKey", Message: "Object not found"},
	gateway.CodeNoSuchUpload:        {HTTP: 400, StatusCode: "404", Err: "NoSuchUpload", Code: "NoSuchUpload", Message: "Upload not found"},
	gateway.CodeBucketAlreadyExists: {HTTP: 400, StatusCode: "409", Err: "Duplicate", Code: "BucketAlreadyExists", Message: "The resource already exists"},
	gateway.CodeKeyAlreadyExists:    {HTTP: 400, StatusCode: "409", Err: "Duplicate", Code: "KeyAlreadyExists", Message: "The resource already exists"},
	gateway.CodeBucketNotEmpty:      {HTTP: 400, StatusCode: "409", Err: "ResourceNotEmpty", Code: "ResourceNotEmpty", Message: "The bucket you tried to delete is not empty"},
	gateway.CodeForbidden:           {HTTP: 400, StatusCode: "403", Err: "Unauthorized", Code: "AccessDenied", Message: "Access denied"},
	gateway.CodeInvalidBucketName:   {HTTP: 400, StatusCode: "400", Err: "Invalid Input", Code: "InvalidBucketName", Message: "Bucket name invalid"},
	gateway.CodeInvalidKey:          {HTTP: 400, StatusCode: "400", Err: "InvalidKey", Code: "InvalidKey", Message: "Invalid key"},
	gateway.CodeInvalidMimeType:     {HTTP: 400, StatusCode: "415", Err: "invalid_mime_type", Code: "InvalidMimeType", Message: "mime type is not supported"},
	gateway.CodeTooLarge:            {HTTP: 400, StatusCode: "413", Err: "Payload too large", Code: "EntityTooLarge", Message: "The object exceeded the maximum allowed size"},
	gateway.CodeInvalidRange:        {HTTP: 416, StatusCode: "416", Err: "invalid_range", Code: "InvalidRange", Message: "invalid range provided"},
	gateway.CodeInvalidArgument:     {HTTP: 400, StatusCode: "400", Err: "InvalidRequest", Code: "InvalidRequest", Message: "Invalid request"},
	gateway.CodeIncompleteBody:      {HTTP: 400, StatusCode: "400", Err: "FastifyError", Code: "InvalidRequest", Message: "The request body ended before it was complete"},
	gateway.CodeLocked:              {HTTP: 400, StatusCode: "423", Err: "ResourceLocked", Code: "ResourceLocked", Message: "The resource is locked"},
	// The store (upstream S3) is unreachable: retryable.
	gateway.CodeUnavailable:        {HTTP: 503, StatusCode: "503", Err: "DatabaseTimeout", Code: "DatabaseTimeout", Message: "The connection to the database timed out"},
	gateway.CodeDatabaseError:      {HTTP: 500, StatusCode: "500", Err: "DatabaseError", Code: "DatabaseError", Message: "database error"},
	gateway.CodeBadDigest:          {HTTP: 400, StatusCode: "400", Err: "BadDigest", Code: "BadDigest", Message: "The checksum you specified did not match the calculated checksum"},
	gateway.CodePreconditionFailed: {HTTP: 412, StatusCode: "412", Err: "PreconditionFailed", Code: "PreconditionFailed", Message: "At least one of the pre-conditions you specified did not hold"},
	gateway.CodeNotModified:        {HTTP: 304, StatusCode: "304", Err: "NotModified", Code: "NotModified", Message: "Not Modified"},
	gateway.CodeInvalidPart:        {HTTP: 400, StatusCode: "400", Err: "InvalidPart", Code: "InvalidPart", Message: "One or more of the specified parts could not be found"},
	gateway.CodeInvalidPartOrder:   {HTTP: 400, StatusCode: "400", Err: "InvalidPartOrder", Code: "InvalidPartOrder", Message: "The list of parts was not in ascending order"},
	gateway.CodeEntityTooSmall:     {HTTP: 400, StatusCode: "400", Err: "EntityTooSmall", Code: "EntityTooSmall", Message: "Your proposed upload is smaller than the minimum allowed object size"},
	gateway.CodeConflict:           {HTTP: 409, StatusCode: "409", Err: "Conflict", Code: "Conflict", Message: "The request conflicts with the current state of the resource"},
	gateway.CodeGone:               {HTTP: 410, StatusCode: "410", Err: "Gone", Code: "Gone", Message: "The resource no longer exists"},
	// Deviation: the reference answers a full disk with 500 InternalError, which clients
	// retry straight into the full disk; 507 says what is wrong and is not retried.
	gateway.CodeInsufficientStorage: {HTTP: 507, StatusCode: "507", Err: "InsufficientStorage", Code: "InsufficientStorage", Message: "Insufficient storage"},
	// Only S3's CreateBucket tells an owner apart; for REST it is the reference's duplicate.
	gateway.CodeBucketAlreadyOwnedByYou: {HTTP: 400, StatusCode: "409", Err: "Duplicate", Code: "BucketAlreadyExists", Message: "The resource already exists"},
	// The reference's answer to a statement timeout, a pool wait or connect timeout and,
	// here, every other retryable database failure: HTTP 544.
	gateway.CodeDatabaseTimeout: {HTTP: 544, StatusCode: "544", Err: "DatabaseTimeout", Code: "DatabaseTimeout", Message: "The connection to the database timed out"},
	// The message is the engine's: Postgres's foreign key detail, as the reference shows it.
	gateway.CodeResourceReferenced: {HTTP: 400, StatusCode: "409", Err: "ResourceReferenced", Code: "ResourceReferenced", Message: "The resource is still referenced"},
	// The reference's answer to too many connections.
	gateway.CodeTooManyConnections: {HTTP: 429, StatusCode: "429", Err: "too_many_connections", Code: "SlowDown", Message: "Too many connections issued to the database"},
	gateway.CodeNoSuchVersion:      {HTTP: 400, StatusCode: "404", Err: "not_found", Code: "NoSuchKey", Message: "Object not found"},
	gateway.CodeMethodNotAllowed:   {HTTP: 400, StatusCode: "405", Err: "MethodNotAllowed", Code: "MethodNotAllowed", Message: "The specified method is not allowed against this resource"},
	gateway.CodeNoSuchLifecycle:    {HTTP: 400, StatusCode: "404", Err: "not_found", Code: "NoSuchLifecycleConfiguration", Message: "The lifecycle configuration does not exist"},
}

// statusDatabaseTimeout is the reference's own HTTP status for a database that did not
// answer in time.
const statusDatabaseTimeout = 544

// toAPIError renders any error as the envelope; unknown errors are 500s.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		if fe.Code == fiber.StatusBadRequest && strings.Contains(fe.Message, "EOF") {
			// The server read a small body ahead of the handler and it ended early.
			v := errorTable[gateway.CodeIncompleteBody]
			return &v
		}
		return newAPIError(fe.Code, fe.Code, http.StatusText(fe.Code), "InvalidRequest", fe.Message)
	}
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		v := errorTable[gateway.CodeInternal]
		return &v
	}
	v, ok := errorTable[ge.Code]
	if !ok {
		v = errorTable[gateway.CodeInternal]
	}
	if ge.Message != "" && (v.HTTP < 500 || ge.Code == gateway.CodeInsufficientStorage || ge.Code == gateway.CodeDatabaseError) {
		v.Message = ge.Message // the engine words a full store without host paths
	}
	if ge.Code == gateway.CodeNoSuchKey && ge.Message == "The resource was not found" {
		v.Err = "Not found"
	}
	return &v
}

// ErrorHandler writes errors of the REST routes: the envelope once, HEAD without a body, the
// cause logged at error level only for 5xx.
func ErrorHandler(log *slog.Logger) func(c *fiber.Ctx, err error) error {
	return func(c *fiber.Ctx, err error) error {
		err = unknownRouteError(c, err)
		if done, werr := writePlainNotFound(c, err); done {
			return werr
		}
		ae := toAPIError(err)
		if ae.HTTP >= 500 {
			log.ErrorContext(c.UserContext(), "request failed", "status", ae.HTTP, "path", c.Path(), "err", err)
		} else {
			log.DebugContext(c.UserContext(), "request rejected", "status", ae.HTTP, "code", ae.Code, "err", err)
		}
		if ae.Code == "NoSuchKey" && ae.Err == "Not found" {
			c.Set(fiber.HeaderCacheControl, "no-store")
		}
		// A rejected upload leaves the rest of its body unread on the connection.
		releaseBody(c)
		c.Status(ae.HTTP)
		if ae.HTTP == fiber.StatusServiceUnavailable || ae.HTTP == statusDatabaseTimeout {
			// Database or upstream store unavailable: worth retrying shortly (as S3 SlowDown).
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		if c.Method() == fiber.MethodHead {
			return nil
		}
		return sendJSON(c, ae)
	}
}
