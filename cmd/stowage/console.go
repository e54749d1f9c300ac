package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"time"

	"github.com/stowage/stowage/console"
	"github.com/stowage/stowage/console/traffic"
	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/gateway/tenants"
)

// trafficStore adapts db's traffic rows to the report's (the same fields: db imports
// nothing of ours, so the types are converted here).
type trafficStore struct{ d *db.DB }

func (s trafficStore) SaveTraffic(ctx context.Context, rows []traffic.Row) error {
	out := make([]db.TrafficRow, len(rows))
	for i, r := range rows {
		out[i] = db.TrafficRow(r)
	}
	return s.d.SaveTraffic(ctx, out)
}

func (s trafficStore) TrafficSeries(ctx context.Context, since time.Time) ([]traffic.Row, error) {
	return convertRows(s.d.TrafficSeries(ctx, since))
}

func (s trafficStore) TrafficTops(ctx context.Context, since time.Time, n int) ([]traffic.Row, error) {
	return convertRows(s.d.TrafficTops(ctx, since, n))
}

func (s trafficStore) PruneTraffic(ctx context.Context, before time.Time) error {
	return s.d.PruneTraffic(ctx, before)
}

func convertRows(rows []db.TrafficRow, err error) ([]traffic.Row, error) {
	out := make([]traffic.Row, len(rows))
	for i, r := range rows {
		out[i] = traffic.Row(r)
	}
	return out, err
}

// gatewayID names this process in the fleet's rows: host name and a random suffix (two
// gateways on one host, or a restart within the same minute, must not merge silently).
func gatewayID() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// consoleRoutes builds /console and starts writing this gateway's per-minute figures for
// the fleet report, until ctx ends. nil when the console is off (the traffic recorder
// still feeds nothing then: the report has no reader).
func consoleRoutes(ctx context.Context, cfg Config, d *db.DB, v *auth.Verifier, roles auth.Roles, ver string,
	log *slog.Logger) (*console.Handler, *traffic.Recorder) {
	if !cfg.ConsoleOn() {
		return nil, nil
	}
	rec := traffic.New(time.Now)
	store := trafficStore{d}
	go rec.Run(ctx, store, gatewayID(), time.Minute, log)
	region := cfg.S3Region
	if region == "" {
		region = cfg.Region
	}
	return console.New(console.Options{Verifier: v, Roles: roles, Traffic: rec, Fleet: store, Logger: log,
		Info: console.Info{S3Path: "/s3", S3Port: cfg.S3Port, Region: region, AccessKeyID: cfg.S3AccessKeyID,
			RenderImages: cfg.ImageTransform, Version: ver}}), rec
}

// tenantConsole is /console for tenant t in multi-tenant mode (nil when the console is
// off: only STOWAGE_CONSOLE=true turns it on there, "auto" means embedded development
// mode). It is the same app, served on the tenant's stack behind the tenant's host, so it
// calls that tenant's API with that tenant's keys. Its info names the tenant and no access
// key id (S3_PROTOCOL_ACCESS_KEY_ID belongs to no tenant: S3 credentials are created
// through the admin API); S3 is shown only when the tenant's s3Protocol feature is on. The
// storage report is not served (the gateway's figures mix every tenant).
func tenantConsole(cfg Config, t *tenants.Tenant, v *auth.Verifier, roles auth.Roles, renders bool,
	log *slog.Logger) *console.Handler {
	if cfg.Console != "true" {
		return nil
	}
	ver := cfg.Version
	if ver == "" {
		ver = version
	}
	region := cfg.S3Region
	if region == "" {
		region = cfg.Region
	}
	info := console.Info{Region: region, RenderImages: renders, Version: ver, Tenant: t.ID}
	if t.S3Protocol {
		info.S3Path, info.S3Port = "/s3", cfg.S3Port
	}
	return console.New(console.Options{Verifier: v, Roles: roles, Logger: log, Info: info})
}
