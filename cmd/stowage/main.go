// Command stowage is the Stowage storage gateway: `serve` (the default), `migrate`,
// `version`. All settings come from environment variables (see --help).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, version)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage())
		return 0
	case "config-table":
		fmt.Fprint(stdout, ConfigTable())
		return 0
	case "fsck":
		return runFsck(args[1:], getenv, stdout, stderr)
	case "spill":
		return runSpill(args[1:], getenv, stdout, stderr)
	case "serve", "migrate", "events":
	default:
		fmt.Fprintf(stderr, "stowage: unknown command %q\n\n%s", cmd, usage())
		return 2
	}
	cfg, err := LoadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "stowage: invalid configuration:\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return 2
	}
	log := newLogger(stdout, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if cmd == "migrate" {
		err = migrateOnly(ctx, cfg, log)
	} else if cmd == "events" {
		if err = eventsCommand(ctx, cfg, args[1:], log, stdout); err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "stowage: %v\n", err)
			return 1
		}
	} else {
		err = serve(ctx, cfg, log, stdout)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("stowage stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func usage() string {
	var b strings.Builder
	b.WriteString(`Stowage — a Supabase Storage compatible gateway (REST, S3, TUS) in one binary.

Usage:
  stowage [serve]     start the server (default); with DATABASE_URL unset it starts a
                      private Postgres under STOWAGE_DATA_DIR and prints dev keys
  stowage migrate     apply database migrations and exit
  stowage fsck        check (and with --fix repair) rows against the store's keys;
                      stowage fsck --help for its flags
  stowage spill       move the bytes of small objects kept in Postgres into the file
                      backend's folders (the reference server's layout); run it with
                      STOWAGE_INLINE_MAX_BYTES=0 on every gateway
  stowage events dead [LIMIT]            list dead-lettered event deliveries
  stowage events redrive all|SEQ...      deliver dead-lettered events again
  stowage version     print the version
  stowage --help      this text

Configuration (environment variables; legacy names in parentheses):
`)
	for _, tag := range configFields() {
		name := tag.names[0]
		if len(tag.names) > 1 {
			name += " (" + strings.Join(tag.names[1:], ", ") + ")"
		}
		def := tag.def
		if def == "" {
			def = "unset"
		}
		help := tag.help
		if tag.enum != nil {
			help += " [" + strings.Join(tag.enum, "|") + "]"
		}
		fmt.Fprintf(&b, "  %s\n      %s (default: %s)\n", name, help, def)
	}
	return b.String()
}
