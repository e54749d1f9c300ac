package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
)

// Exit codes of `stowage fsck`.
const (
	fsckClean    = 0 // nothing found, or everything found was removed
	fsckFailed   = 1 // the check could not run to its end (the last checkpoint is printed)
	fsckUsage    = 2
	fsckFindings = 3 // findings remain (missing bytes; orphans without --fix; ...)
)

const fsckUsageText = `Usage: stowage fsck [--bucket B] [--fix] [--json] [--start-after KEY] [--grace 24h]

Compares the rows that name store keys (objects, upload parts, resumable-upload tails, write
and delete intents) with the keys the store (STORAGE_BACKEND) lists, and reports rows without
bytes, bytes without rows, intents past expiry and uploads past expiry. With --fix it removes
orphan bytes older than the grace and runs the intent and upload sweeps. It reads the same
environment as the server (see stowage --help). Details: docs/fsck.md.

`

// fsckLine is one line of --json output.
type fsckLine struct {
	Type string `json:"type"` // finding, checkpoint, summary
	*gateway.FsckFinding
	Report *gateway.FsckReport `json:"report,omitempty"`
}

func runFsck(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fsck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, fsckUsageText); fs.PrintDefaults() }
	bucket := fs.String("bucket", "", "check only this bucket's keys")
	fix := fs.Bool("fix", false, "remove orphan bytes and run the intent and upload sweeps")
	asJSON := fs.Bool("json", false, "one JSON object per line instead of text")
	startAfter := fs.String("start-after", "", "resume after this store key (a printed checkpoint)")
	grace := fs.Duration("grace", gateway.DefaultFsckGrace, "leave bytes modified, and intents expired, more recently than this alone")
	every := fs.Int("checkpoint-every", 10000, "print a checkpoint every this many store keys")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return fsckClean
		}
		return fsckUsage
	}
	if fs.NArg() > 0 || *grace <= 0 || *every <= 0 {
		fs.Usage()
		return fsckUsage
	}
	cfg, err := LoadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "stowage: invalid configuration:\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return fsckUsage
	}
	log := newLogger(stderr, cfg.LogLevel) // stdout is the report's
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	engine, closeAll, err := fsckEngine(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "stowage fsck: %v\n", err)
		return fsckFailed
	}
	defer closeAll()

	out := fsckPrinter{w: stdout, json: *asJSON}
	unfixed := 0
	rep, err := engine.Fsck(ctx, gateway.FsckOptions{Bucket: *bucket, StartAfter: *startAfter, Fix: *fix, Grace: *grace,
		ProgressEvery: *every, Progress: out.checkpoint},
		func(f gateway.FsckFinding) error {
			if !f.Removed {
				unfixed++
			}
			return out.finding(f)
		})
	out.summary(rep)
	if err != nil {
		fmt.Fprintf(stderr, "stowage fsck: %v\n", err)
		if rep.Checkpoint != "" {
			fmt.Fprintf(stderr, "stowage fsck: resume with --start-after '%s'\n", strings.ReplaceAll(rep.Checkpoint, "'", `'\''`))
		}
		return fsckFailed
	}
	if unfixed > 0 {
		return fsckFindings
	}
	return fsckClean
}

// fsckEngine opens the database (migrated, as the server does) and the store.
func fsckEngine(ctx context.Context, cfg Config, log *slog.Logger) (*gateway.Engine, func(), error) {
	roles := auth.Roles{Anon: cfg.DBAnonRole, Authenticated: cfg.DBAuthRole, Service: cfg.DBServiceRole}
	_, _, serviceKey, err := credentials(&cfg, roles)
	if err != nil {
		return nil, nil, err
	}
	d, stopDB, err := database(ctx, &cfg, log)
	if err != nil {
		return nil, nil, err
	}
	store, err := newStore(ctx, cfg, log)
	if err != nil {
		stopDB()
		return nil, nil, err
	}
	e := gateway.New(d, store, gateway.Options{TenantID: cfg.TenantID, Roles: roles, ServiceKey: serviceKey,
		WriteTimeout: time.Duration(cfg.RequestTimeout) * time.Second,
		UploadExpiry: time.Duration(cfg.MultipartExpiry) * time.Second, Logger: log})
	return e, stopDB, nil
}

// fsckPrinter writes findings, checkpoints and the summary as text or JSON lines.
type fsckPrinter struct {
	w    io.Writer
	json bool
}

func (p fsckPrinter) line(l fsckLine) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(p.w, "%s\n", b)
	return err
}

func (p fsckPrinter) finding(f gateway.FsckFinding) error {
	if p.json {
		return p.line(fsckLine{Type: "finding", FsckFinding: &f})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-15s %s", f.Kind, f.Key)
	if f.Ref != "" {
		fmt.Fprintf(&b, " ref=%s", f.Ref)
	}
	if f.UploadID != "" {
		fmt.Fprintf(&b, " bucket=%s upload_id=%s", f.Bucket, f.UploadID)
	}
	if f.Kind == gateway.FsckOrphanBytes {
		fmt.Fprintf(&b, " size=%d", f.Size)
	}
	if !f.Time.IsZero() {
		fmt.Fprintf(&b, " time=%s", f.Time.UTC().Format(time.RFC3339))
	}
	if f.Removed {
		b.WriteString(" removed")
	}
	_, err := fmt.Fprintln(p.w, b.String())
	return err
}

func (p fsckPrinter) checkpoint(r gateway.FsckReport) {
	if p.json {
		_ = p.line(fsckLine{Type: "checkpoint", Report: &r})
		return
	}
	fmt.Fprintf(p.w, "# checkpoint %s (blobs %d, rows %d)\n", r.Checkpoint, r.Blobs, r.Rows)
}

func (p fsckPrinter) summary(r gateway.FsckReport) {
	if p.json {
		_ = p.line(fsckLine{Type: "summary", Report: &r})
		return
	}
	fmt.Fprintf(p.w, "# %s: blobs %d, rows %d, missing bytes %d, orphan bytes %d (removed %d, %d within the grace), stale intents %d, expired uploads %d\n",
		map[bool]string{true: "done", false: "stopped at " + r.Checkpoint}[r.Done],
		r.Blobs, r.Rows, r.Missing, r.Orphans, r.Removed, r.Young, r.StaleIntents, r.ExpiredUploads)
}
