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
