package admin

import (
	"errors"
	"log/slog"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// apiError is the reference admin server's error body: a request-validation failure
// ({"statusCode":"400","error":"Bad Request","message":...}) or a storage error rendered
// with its code ({"statusCode","code","error","message"}).
type apiError struct {
	HTTP       int    `json:"-"`
	StatusCode string `json:"statusCode"`
	Code       string `json:"code,omitempty"`
	Err        string `json:"error"`
	Message    string `json:"message"`
}

func (e *apiError) Error() string { return e.Err + ": " + e.Message }

// validation is a request the reference's schema check refuses.
func validation(status int, msg string) *apiError {
	return &apiError{HTTP: status, StatusCode: strconv.Itoa(status), Err: "Bad Request", Message: msg}
}

// ErrorHandler renders errors of the admin app. As the reference, storage errors answer
// HTTP 400 (500 for internal ones) whatever their logical status.
func ErrorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		if err == errTenantNotFound {
			return tenantNotFound(c)
		}
		ae := toAPIError(c, err)
		if ae.HTTP >= 500 {
			log.ErrorContext(c.UserContext(), "admin request failed", "status", ae.HTTP, "path", c.Path(), "err", err)
		} else {
			log.DebugContext(c.UserContext(), "admin request rejected", "status", ae.HTTP, "err", err)
		}
		if ae.HTTP == fiber.StatusServiceUnavailable {
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		return c.Status(ae.HTTP).JSON(ae)
	}
}

func toAPIError(c *fiber.Ctx, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		if fe.Code == fiber.StatusNotFound && c != nil {
			// fastify's answer for a route it does not know.
			return &apiError{HTTP: 404, StatusCode: "404", Err: "Not Found", Message: "Route " + c.Method() + ":" + c.OriginalURL() + " not found"}
		}
		return &apiError{HTTP: fe.Code, StatusCode: strconv.Itoa(fe.Code), Err: "Error", Message: fe.Message}
	}
	var ge *gateway.Error
	if errors.As(err, &ge) {
		switch {
		case errors.Is(ge, gateway.ErrS3CredentialLimit):
			return &apiError{HTTP: 400, StatusCode: "400", Code: "MaximumCredentialsLimit", Err: "MaximumCredentialsLimit", Message: ge.Message}
		case ge.Code == gateway.CodeUnavailable || ge.Code == gateway.CodeLocked:
			return &apiError{HTTP: 503, StatusCode: "503", Code: "DatabaseTimeout", Err: "DatabaseTimeout", Message: "The database is not available right now"}
		case ge.Code == gateway.CodeInvalidArgument || ge.Code == gateway.CodeConflict:
			return &apiError{HTTP: 400, StatusCode: "400", Code: "InvalidRequest", Err: "InvalidRequest", Message: ge.Message}
		}
	}
	return &apiError{HTTP: 500, StatusCode: "500", Err: "Internal", Message: "Internal Server Error"}
}
