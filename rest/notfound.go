package rest

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// gatewayPrefix is where supabase-js reaches the API through the Supabase gateway, which
// strips it before the reference sees the request; its answers never mention it.
const gatewayPrefix = "/storage/v1"

// referenceURL is the request URL as the reference would see it behind the gateway: path
// and query as sent, without /storage/v1.
func referenceURL(c *fiber.Ctx) string {
	u := c.OriginalURL()
	if rest, ok := strings.CutPrefix(u, gatewayPrefix); ok && (rest == "" || rest[0] == '/' || rest[0] == '?') {
		u = rest
	}
	return u
}

// envelopePrefixes are the route groups whose unknown routes answer the reference's error
// envelope (statusCode as a string, code InvalidRequest). Everywhere else the reference
// answers its framework's own 404, with a numeric statusCode (rest-api.md §0.5).
var envelopePrefixes = []string{"/bucket", "/object", "/render/image", "/cdn"}

// routeNotFound is the reference's answer to a request no route takes.
func routeNotFound(c *fiber.Ctx) error {
	u := referenceURL(c)
	path, _, _ := strings.Cut(u, "?")
	msg := "Route " + c.Method() + ":" + u + " not found"
	for _, p := range envelopePrefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return newAPIError(404, 404, "Not Found", "InvalidRequest", msg)
		}
	}
	return &plainNotFound{Message: msg, Tag: "Not Found", StatusCode: 404}
}

// RouteNotFound answers a request no route of the REST, TUS or render dialects takes, as
// the reference does.
func RouteNotFound(c *fiber.Ctx) error { return routeNotFound(c) }

// plainNotFound is the reference framework's own 404 body: statusCode is a number here.
type plainNotFound struct {
	Message    string `json:"message"`
	Tag        string `json:"error"`
	StatusCode int    `json:"statusCode"`
}

func (e *plainNotFound) Error() string { return e.Message }

// unmatchedRoute reports whether err is fiber's answer for a request that matched no route
// (404, or 405 when the path exists under another method: the reference answers both as
// an unknown route).
func unmatchedRoute(err error) bool {
	var fe *fiber.Error
	return errors.As(err, &fe) && (fe.Code == fiber.StatusNotFound || fe.Code == fiber.StatusMethodNotAllowed)
}

// unknownRouteError replaces fiber's unmatched-route error with the reference's answer.
func unknownRouteError(c *fiber.Ctx, err error) error {
	if unmatchedRoute(err) {
		return routeNotFound(c)
	}
	return err
}

// writePlainNotFound renders the framework-style 404; it reports false when err is not one.
func writePlainNotFound(c *fiber.Ctx, err error) (bool, error) {
	var nf *plainNotFound
	if !errors.As(err, &nf) {
		return false, nil
	}
	c.Status(fiber.StatusNotFound)
	if c.Method() == fiber.MethodHead {
		return true, nil
	}
	return true, sendJSON(c, nf)
}
