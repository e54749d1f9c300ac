package render

import (
	"errors"
	"log/slog"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/rest"
)

// Error is a render-specific failure in the reference's REST envelope (rest-api.md §0.5).
// Engine errors (NoSuchBucket, NoSuchKey, AccessDenied, ...) are not wrapped in it: they
// go back to the REST error handler so both dialect paths render them identically.
type Error struct {
	HTTP       int    `json:"-"`
	StatusCode string `json:"statusCode"`
	Err        string `json:"error"`
	Message    string `json:"message"`
	Code       string `json:"code"`
	cause      error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Code + ": " + e.Message + ": " + e.cause.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.cause }

func newError(httpStatus, logical int, tag, code, msg string) *Error {
	return &Error{HTTP: httpStatus, StatusCode: strconv.Itoa(logical), Err: tag, Code: code, Message: msg}
}

// validation is a request validation failure (rest-api.md §0.6).
func validation(msg string) *Error { return newError(400, 400, "Error", "InvalidRequest", msg) }

// The render errors. Messages of the imgproxy-backed reference are kept where one exists.
var (
	// ErrNotEnabled answers when neither libvips (a cgo build) nor IMGPROXY_URL is available;
	// it is the reference's tenant feature gate answer.
	ErrNotEnabled = newError(403, 403, "FeatureNotEnabled", "FeatureNotEnabled",
		"Image transformation is not enabled: this binary was built without libvips and IMGPROXY_URL is unset")
	errInvalidImage = newError(400, 400, "InvalidRequest", "InvalidRequest",
		"The source image is invalid or unsupported for rendering")
	errTooLarge = newError(400, 413, "Payload too large", "EntityTooLarge",
		"The source image exceeds the size or resolution limit for rendering")
	errBusy = newError(429, 429, "Too Many Requests", "SlowDown",
		"Too many image transformations in progress, retry later")
	errTimeout = newError(503, 503, "Service Unavailable", "SlowDown",
		"The image transformation did not finish in time, retry later")
	errImgproxy = newError(400, 400, "InvalidRequest", "InvalidRequest", "Invalid image request")
	errInternal = newError(500, 500, "Internal", "InternalError", "Internal error")
)

// restError turns a render *Error into the REST dialect's envelope, for errors returned by
// REST handlers (POST /object/sign's transform), whose error handler does not know *Error.
func restError(err error) error {
	var re *Error
	if !errors.As(err, &re) {
		return err
	}
	logical, _ := strconv.Atoi(re.StatusCode)
	return rest.NewError(re.HTTP, logical, re.Err, re.Code, re.Message)
}

// wrap returns a copy of e that logs cause.
func wrap(e *Error, cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

// writeErrors renders *Error values itself and hands every other error (engine errors) to
// the application's error handler, the REST one.
func writeErrors(log *slog.Logger, h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := h(c)
		var re *Error
		if err == nil || !errors.As(err, &re) {
			return err
		}
		if re.HTTP >= 500 {
			log.ErrorContext(c.UserContext(), "render failed", "status", re.HTTP, "path", c.Path(), "err", err)
		} else {
			log.DebugContext(c.UserContext(), "render rejected", "status", re.HTTP, "code", re.Code, "err", err)
		}
		c.Status(re.HTTP)
		return c.JSON(re)
	}
}
