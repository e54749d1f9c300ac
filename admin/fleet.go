package admin

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway/tenants"
)

// failedPage is the page size of GET /migrations/failed, the reference's 50.
const failedPage = 50

// registerFleet mounts the fleet migration routes of multi-tenant mode. The reference
// runs the fleet job on its queue (pg-boss); Stowage runs it on the gateway holding the
// fleet lock, its progress in the control database (stowage_fleet_migrations).
func (h *Handler) registerFleet(g fiber.Router) {
	g.Post("/migrations/migrate/fleet", h.fleetStart)
	g.Post("/migrations/reset/fleet", h.fleetReset)
	g.Get("/migrations/active", h.fleetActive)
	g.Delete("/migrations/active", h.fleetCancel)
	g.Get("/migrations/progress", h.fleetProgress)
	g.Get("/migrations/failed", h.fleetFailed)
}

// fleetJobView is a fleet job in the admin answers.
type fleetJobView struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	State         string `json:"state"`
	TargetVersion string `json:"targetVersion"`
	CursorID      int    `json:"cursorId"`
	Migrated      int    `json:"migrated"`
	Failed        int    `json:"failed"`
	Error         string `json:"error,omitempty"`
}

func jobView(j tenants.FleetJob) fleetJobView {
	return fleetJobView{ID: j.ID, Name: "tenants-migrations", State: j.Status, TargetVersion: j.TargetVersion,
		CursorID: j.CursorID, Migrated: j.Migrated, Failed: j.Failed, Error: j.Error}
}

// fleetStart starts (or joins) the job migrating every tenant not at the latest
// migration: {"message":"Migrations scheduled"}, as the reference.
func (h *Handler) fleetStart(c *fiber.Ctx) error {
	if h.opts.MigrateTenant == nil {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"message": "Migrations are not available on this server"})
	}
	if _, _, err := h.opts.Tenants.StartFleet(c.UserContext(), h.opts.MigrateTenant); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"message": "Migrations scheduled"})
}

// fleetReset answers the reference's reset route: Stowage's migrations cannot be rolled
// back, so every request is refused the way the reference refuses an unknown migration.
func (h *Handler) fleetReset(c *fiber.Ctx) error {
	return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"message": "Invalid migration"})
}

// fleetActive lists the running job (an empty list when none runs).
func (h *Handler) fleetActive(c *fiber.Ctx) error {
	j, err := h.opts.Tenants.ActiveFleet(c.UserContext())
	if errors.Is(err, tenants.ErrNotFound) {
		return c.JSON([]fleetJobView{})
	}
	if err != nil {
		return err
	}
	return c.JSON([]fleetJobView{jobView(j)})
}

// fleetCancel stops the running job after its current tenant; the answer lists what was
// stopped.
func (h *Handler) fleetCancel(c *fiber.Ctx) error {
	j, err := h.opts.Tenants.ActiveFleet(c.UserContext())
	if errors.Is(err, tenants.ErrNotFound) {
		return c.JSON([]fleetJobView{})
	}
	if err != nil {
		return err
	}
	if _, err := h.opts.Tenants.CancelFleet(c.UserContext()); err != nil {
		return err
	}
	j.Status = "cancelled"
	return c.JSON([]fleetJobView{jobView(j)})
}

// fleetProgress answers {"remaining": n}: the tenants not yet at the latest migration,
// with the last job's state.
func (h *Handler) fleetProgress(c *fiber.Ctx) error {
	n, err := h.opts.Tenants.FleetRemaining(c.UserContext())
	if err != nil {
		return err
	}
	out := fiber.Map{"remaining": n}
	if j, err := h.opts.Tenants.LastFleet(c.UserContext()); err == nil {
		out["job"] = jobView(j)
	}
	return c.JSON(out)
}

// fleetFailed pages through tenants whose migrations failed:
// {"next_cursor_id": n|null, "data": [{"id","cursor_id"}]}, as the reference.
func (h *Handler) fleetFailed(c *fiber.Ctx) error {
	cursor, _ := strconv.Atoi(c.Query("cursor"))
	failed, err := h.opts.Tenants.FailedMigrations(c.UserContext(), cursor, failedPage)
	if err != nil {
		return err
	}
	type row struct {
		ID       string `json:"id"`
		CursorID int    `json:"cursor_id"`
	}
	data := make([]row, len(failed))
	var next any
	for i, f := range failed {
		data[i] = row{ID: f.ID, CursorID: f.CursorID}
		next = f.CursorID
	}
	return c.JSON(fiber.Map{"next_cursor_id": next, "data": data})
}
