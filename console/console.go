// Package console is the built-in web console (issue 18): a small self-written JS app
// embedded in the binary that talks to nothing but the public REST API (/bucket, /object,
// /upload/resumable, /render/image, signed URLs) with the key the user signs in with, so it
// can do nothing that key could not do with curl. Beside it, the storage report's JSON
// (/console/api/report), which only the service role may read.
package console

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/console/traffic"
	"github.com/stowage/stowage/gateway/auth"
)

//go:embed static
var static embed.FS

// Options configure the console.
type Options struct {
	Verifier *auth.Verifier
	Roles    auth.Roles
	// Traffic is this gateway's in-memory aggregator; Fleet, when set, the database rows
	// every gateway writes (the fleet-wide report).
	Traffic *traffic.Recorder
	Fleet   traffic.Store
	// Info is shown on the S3 access page (no secrets).
	Info   Info
	Logger *slog.Logger
}

// Info is what the browser app is told about this server: where S3 is and its region.
type Info struct {
	S3Path       string `json:"s3_path"`        // "/s3", relative to the console's origin; "" = no S3
	S3Port       int    `json:"s3_port"`        // the dedicated S3 listener, 0 = none
	Region       string `json:"region"`         // the S3 region clients sign for
	AccessKeyID  string `json:"access_key_id"`  // the service S3 access key id (not the secret)
	RenderImages bool   `json:"render_enabled"` // /render/image is mounted
	Version      string `json:"version"`
	// Tenant is the tenant the console is served for in multi-tenant mode ("" otherwise):
	// there is no server-wide access key (S3 credentials are created per tenant through the
	// admin API) and no storage report.
	Tenant string `json:"tenant,omitempty"`
}

// Handler serves /console.
type Handler struct {
	opts  Options
	files fs.FS
}

// New returns the console handler.
func New(opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	files, _ := fs.Sub(static, "static")
	return &Handler{opts: opts, files: files}
}

// Register mounts the routes on r.
func (h *Handler) Register(r fiber.Router) {
	r.Get("/console", h.file)
	r.Get("/console/api/info", h.info)
	r.Get("/console/api/report", h.report)
	r.Get("/console/*", h.file)
}

// file serves an embedded asset; every other path is the app's page (it routes itself).
func (h *Handler) file(c *fiber.Ctx) error {
	name := path.Clean("/" + c.Params("*"))[1:]
	if !strings.HasPrefix(name, "assets/") {
		name = "index.html"
	}
	data, err := fs.ReadFile(h.files, name)
	if err != nil {
		return c.Status(fiber.StatusNotFound).SendString("not found")
	}
	ct := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
		".html": "text/html; charset=utf-8", ".svg": "image/svg+xml"}[path.Ext(name)]
	c.Set(fiber.HeaderContentType, ct)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "no-referrer")
	// The app loads nothing from elsewhere: a strict policy keeps it that way.
	c.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.Send(data)
}

func (h *Handler) info(c *fiber.Ctx) error {
	return c.JSON(h.opts.Info)
}

// report answers the storage report's figures. It reveals traffic of every bucket, so only
// the service role may read it.
func (h *Handler) report(c *fiber.Ctx) error {
	if h.opts.Info.Tenant != "" {
		// The gateway's figures mix every tenant it serves, and no per-tenant recorder is
		// kept: a tenant's service key reads no report (docs/console.md).
		return c.Status(fiber.StatusNotImplemented).JSON(fiber.Map{"statusCode": "501", "error": "NotSupported",
			"message": "the storage report is not available in multi-tenant mode"})
	}
	p, err := h.opts.Verifier.Verify(auth.BearerToken(c.Get(fiber.HeaderAuthorization)))
	if err != nil || p.Role != h.opts.Roles.Service {
		return c.Status(fiber.StatusForbidden).JSON(fiber.Map{"statusCode": "403", "error": "Unauthorized",
			"message": "the storage report needs the service key"})
	}
	window := c.Query("window", "hour")
	if _, ok := traffic.Windows[window]; !ok {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"statusCode": "400", "error": "InvalidParameter",
			"message": "window must be hour or day"})
	}
	switch scope := c.Query("scope", "gateway"); {
	case scope == "gateway" && h.opts.Traffic != nil:
		return c.JSON(h.opts.Traffic.Local(window))
	case scope == "fleet" && h.opts.Fleet != nil:
		ctx, cancel := context.WithTimeout(c.UserContext(), 10*time.Second)
		defer cancel()
		rep, err := traffic.Fleet(ctx, h.opts.Fleet, window, time.Now())
		if err != nil {
			h.opts.Logger.Error("storage report: fleet query", "err", err)
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"statusCode": "503", "error": "DatabaseError",
				"message": "the fleet report is unavailable"})
		}
		return c.JSON(rep)
	default:
		return c.Status(http.StatusBadRequest).JSON(fiber.Map{"statusCode": "400", "error": "InvalidParameter",
			"message": "scope must be gateway or fleet (fleet needs the database)"})
	}
}
