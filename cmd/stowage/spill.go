package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
)

// runSpill is `stowage spill`: the bytes of small objects kept in Postgres
// (STOWAGE_INLINE_MAX_BYTES, stowage.small_blobs) move into the file backend's folders, so
// that the reference server, which reads only files, finds every object again. Each blob is
// written and flushed before its row goes; reads look in the files first, so nothing is
// unreadable meanwhile. Exit 0 when every blob moved, 1 on failure or when a blob being
// written or deleted was left (run it again: it goes on where it stopped), 2 on bad usage.
func runSpill(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "Usage: stowage spill\n\nMoves the bytes of small objects kept in Postgres into the file backend's folders.\n")
		if args[0] == "--help" || args[0] == "-h" {
			return 0
		}
		return 2
	}
	cfg, err := LoadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "stowage: invalid configuration:\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return 2
	}
	if cfg.MultiTenant {
		// One engine serves one database: spill each tenant's on its own (the keys carry the
		// tenant, so the files land where the multi-tenant server reads them).
		fmt.Fprintf(stderr, "stowage spill: MULTI_TENANT is set; spill one tenant at a time, with MULTI_TENANT=false and DATABASE_URL set to that tenant's database\n")
		return 2
	}
	if cfg.Backend != "file" {
		fmt.Fprintf(stderr, "stowage spill: STORAGE_BACKEND=%s keeps no small objects in Postgres\n", cfg.Backend)
		return 2
	}
	if cfg.InlineMax != 0 {
		// The same setting as the gateways': one that still keeps small objects in Postgres
		// would write new rows behind the spill, and "moved N" would not mean "done".
		fmt.Fprintf(stderr, "stowage spill: STOWAGE_INLINE_MAX_BYTES=%d; set it to 0 here and on every gateway first\n", cfg.InlineMax)
		return 2
	}
	log := newLogger(stderr, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	engine, closeAll, err := fsckEngine(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "stowage spill: %v\n", err)
		return 1
	}
	defer closeAll()
	var total int64
	n, left, err := engine.SpillSmallBlobs(ctx, func(_ string, size int64) error {
		total += size
		return nil
	})
	fmt.Fprintf(stdout, "moved %d blobs (%d bytes) from Postgres to the file backend\n", n, total)
	if err != nil {
		fmt.Fprintf(stderr, "stowage spill: %v\n", err)
		return 1
	}
	if left > 0 {
		fmt.Fprintf(stderr, "stowage spill: %d blobs left in Postgres: a write or delete of them was under way; run stowage spill again\n", left)
		return 1
	}
	return 0
}
