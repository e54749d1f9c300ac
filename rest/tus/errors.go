package tus

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// protoError is a TUS protocol error: a status and a plain-text message.
type protoError struct {
	status int
	msg    string
}

func (e *protoError) Error() string { return e.msg }

func protocol(status int, msg string) *protoError { return &protoError{status: status, msg: msg} }

// errorTable maps every engine code to the status and default message of the reference's
// TUS flow, which keeps the logical status (404, 409, 413, 415, …) instead of folding it
// to 400 as the REST envelope does. A test fails when a code lacks an entry.
var errorTable = map[gateway.Code]protoError{
	gateway.CodeInternal:                {500, "Internal Server Error"},
	gateway.CodeNoSuchBucket:            {404, "Bucket not found"},
	gateway.CodeNoSuchKey:               {404, "Object not found"},
	gateway.CodeNoSuchUpload:            {404, "The file for this url was not found"},
	gateway.CodeBucketAlreadyExists:     {409, "The resource already exists"},
	gateway.CodeKeyAlreadyExists:        {409, "The resource already exists"},
	gateway.CodeBucketNotEmpty:          {409, "The bucket you tried to delete is not empty"},
	gateway.CodeForbidden:               {403, "new row violates row-level security policy"},
	gateway.CodeInvalidBucketName:       {400, "Bucket name invalid"},
	gateway.CodeInvalidKey:              {400, "Invalid key"},
	gateway.CodeInvalidMimeType:         {415, "mime type is not supported"},
	gateway.CodeTooLarge:                {413, "Maximum size exceeded"},
	gateway.CodeInvalidRange:            {416, "invalid range provided"},
	gateway.CodeInvalidArgument:         {400, "Invalid request"},
	gateway.CodeIncompleteBody:          {400, "The request body ended before it was complete"},
	gateway.CodeLocked:                  {423, "The upload is in use by another request"},
	gateway.CodeUnavailable:             {503, "Service unavailable, please retry"},
	gateway.CodeDatabaseError:           {500, "Internal Server Error"},
	gateway.CodeBadDigest:               {400, "Checksum mismatch"},
	gateway.CodePreconditionFailed:      {412, "Precondition failed"},
	gateway.CodeNotModified:             {400, "Invalid request"},
	gateway.CodeInvalidPart:             {409, "Upload-Offset conflict"},
	gateway.CodeInvalidPartOrder:        {409, "Upload-Offset conflict"},
	gateway.CodeEntityTooSmall:          {400, "Chunk too small"},
	gateway.CodeConflict:                {409, "Upload-Offset conflict"},
	gateway.CodeGone:                    {410, "The file for this url no longer exists"},
	gateway.CodeInsufficientStorage:     {507, "Insufficient storage"},
	gateway.CodeBucketAlreadyOwnedByYou: {409, "The resource already exists"},
	gateway.CodeDatabaseTimeout:         {503, "Service unavailable, please retry"},
	gateway.CodeResourceReferenced:      {409, "The resource is still referenced"},
	gateway.CodeTooManyConnections:      {429, "Too many connections issued to the database"},
	gateway.CodeNoSuchVersion:           {404, "Object not found"},
	gateway.CodeMethodNotAllowed:        {405, "The specified method is not allowed against this resource"},
	gateway.CodeNoSuchLifecycle:         {404, "The lifecycle configuration does not exist"},
}

// toProto renders any error as a status and message; unknown errors are 500s whose cause
// is logged, never shown.
func toProto(err error) protoError {
	var pe *protoError
	if errors.As(err, &pe) {
		return *pe
	}
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		return errorTable[gateway.CodeInternal]
	}
	v, ok := errorTable[ge.Code]
	if !ok {
		v = errorTable[gateway.CodeInternal]
	}
	if ge.Message != "" && (v.status < 500 || ge.Code == gateway.CodeInsufficientStorage) {
		v.msg = ge.Message // the engine words a full store without host paths
	}
	return v
}

// writeError answers err in plain text (no body on HEAD), logging 5xx causes.
func writeError(c *fiber.Ctx, log *slog.Logger, err error) error {
	pe := toProto(err)
	if pe.status >= 500 {
		log.ErrorContext(c.UserContext(), "tus request failed", "status", pe.status, "path", c.Path(), "err", err)
	} else {
		log.DebugContext(c.UserContext(), "tus request rejected", "status", pe.status, "err", err)
	}
	// A refused PATCH leaves its body unread on the connection: close it after the reply
	// instead of parsing chunk bytes as the next request.
	if cl := c.Request().Header.ContentLength(); cl > 0 || cl == -1 {
		c.Context().SetConnectionClose()
	}
	c.Status(pe.status)
	if c.Method() == fiber.MethodHead {
		return nil
	}
	c.Set(fiber.HeaderContentType, "text/plain;charset=UTF-8")
	msg := pe.msg
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	return c.SendString(msg)
}
