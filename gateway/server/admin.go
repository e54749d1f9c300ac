package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/admin"
)

// NewAdmin builds the admin listener's application (ADMIN_PORT): the admin dialect's
// routes behind their apikey check, plus /status, /version and /metrics without one, as
// the reference's admin app. It shares main's metrics, so /metrics here reports the
// public listeners too.
func NewAdmin(main *Server, h *admin.Handler) *Server {
	s := &Server{engine: main.engine, opts: main.opts, metrics: main.metrics, dialect: "admin"}
	app := s.newApp(admin.ErrorHandler(s.opts.Logger))
	app.Get("/status", func(c *fiber.Ctx) error { return c.Status(fiber.StatusOK).Send(nil) })
	app.Get("/version", func(c *fiber.Ctx) error { return c.SendString(s.opts.Version) })
	if s.opts.Metrics {
		app.Get("/metrics", s.metrics.handler())
	}
	h.Register(app)
	s.App = app
	return s
}
