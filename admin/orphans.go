package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// The orphan-object routes run the consistency check (gateway.Engine.Fsck, the code behind
// `stowage fsck`) over one bucket and stream what it finds as the reference does: NDJSON
// lines {"type":"s3Orphans"|"dbOrphans","value":[...],"event":"data"}, a {"event":"ping"}
// after a stretch of silence, {"event":"error","error":...} when the check fails.
// s3Orphans are bytes no row names (FsckOrphanBytes), dbOrphans are object rows whose
// bytes the store lacks (FsckMissingBytes). docs/admin.md has the details.

const (
	// orphanBatch caps the entries of one data line (the reference pages by 1000).
	orphanBatch = 1000
	// orphanPing is how often a silent stream gets a ping line.
	orphanPing = 10 * time.Second
	// orphanDefaultAge is the reference's default `before`: an hour ago.
	orphanDefaultAge = time.Hour
)

// orphanObject is one entry of a data line: the name within the bucket, the store key's
// last segment as version, and the size in bytes (0 for a row without bytes).
type orphanObject struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	Version string `json:"version,omitempty"`
}

type orphanLine struct {
	Type  string         `json:"type,omitempty"`
	Value []orphanObject `json:"value,omitempty"`
	Event string         `json:"event"`
	Error *apiError      `json:"error,omitempty"`
}

// orphanScan is what one request asks of the check.
type orphanScan struct {
	bucket     string
	before     time.Time
	fix        bool // deleteS3Keys: remove orphan bytes
	s3, dbKeys bool // which kinds to report
}

// listOrphans answers GET .../orphan-objects?before=DATE.
func (h *Handler) listOrphans(c *fiber.Ctx) error {
	e, release, err := h.engineFor(c)
	if err != nil {
		return err
	}
	before, ok := parseBefore(c.Query("before"))
	if !ok {
		release()
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "Invalid date format"})
	}
	return h.streamOrphans(c, e, release, orphanScan{bucket: c.Params("bucketId"), before: before, s3: true, dbKeys: true})
}

// syncOrphans answers DELETE .../orphan-objects with a JSON body {deleteDbKeys,
// deleteS3Keys, before}.
func (h *Handler) syncOrphans(c *fiber.Ctx) error {
	e, release, err := h.engineFor(c)
	if err != nil {
		return err
	}
	streamed := false
	defer func() {
		if !streamed {
			release()
		}
	}()
	var body struct {
		DeleteDBKeys bool   `json:"deleteDbKeys"`
		DeleteS3Keys bool   `json:"deleteS3Keys"`
		Before       string `json:"before"`
	}
	if err := h.readJSON(c, &body); err != nil {
		return err
	}
	if !body.DeleteDBKeys && !body.DeleteS3Keys {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "At least one of deleteDbKeys or deleteS3Keys must be set to true"})
	}
	before, ok := parseBefore(body.Before)
	if !ok {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": "Invalid date format"})
	}
	// deleteDbKeys reports the rows without bytes but does not delete them (see
	// docs/compatibility.md): only an operator can tell a lost file from a late restore.
	streamed = true // the stream's writer releases e when the scan ends
	return h.streamOrphans(c, e, release, orphanScan{bucket: c.Params("bucketId"), before: before,
		fix: body.DeleteS3Keys, s3: body.DeleteS3Keys, dbKeys: body.DeleteDBKeys})
}

// parseBefore reads a date as JavaScript's Date constructor reads the common forms; "" is
// an hour ago, as in the reference.
func parseBefore(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Now().Add(-orphanDefaultAge), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02",
		time.RFC1123, time.RFC1123Z, "Mon Jan 02 2006 15:04:05 GMT-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// orphanItem is a finding on its way from the check to the response writer.
type orphanItem struct {
	db  bool
	obj orphanObject
}

// streamOrphans runs the check and streams its findings. The check runs in its own
// goroutine and hands findings over an unbuffered channel, so memory stays at two
// batches whatever the bucket's size; a failed write (the client went away) cancels it.
// release (of e) is called once the check has ended: the scan outlives the handler, and
// the tenant's pool must stay open under it however long it runs.
func (h *Handler) streamOrphans(c *fiber.Ctx, e *gateway.Engine, release func(), scan orphanScan) error {
	c.Set(fiber.HeaderContentType, "application/x-ndjson; charset=utf-8")
	if gateway.ValidateBucketName(scan.bucket) != nil {
		release()
		// No bucket can have this name, so nothing is stored under it: an empty stream,
		// as the reference answers for a bucket it does not know.
		return c.Status(fiber.StatusOK).Send(nil)
	}
	grace := time.Since(scan.before)
	if grace <= 0 {
		grace = time.Nanosecond // before in the future: everything not named is an orphan
	}
	log := h.opts.Logger
	prefix := e.TenantID() + "/" + scan.bucket + "/"
	c.Status(fiber.StatusOK).Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer release() // runs after the check's goroutine reported done
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		items := make(chan orphanItem)
		done := make(chan error, 1)
		go func() {
			_, err := e.Fsck(ctx, gateway.FsckOptions{Bucket: scan.bucket, Fix: scan.fix, Grace: grace}, func(f gateway.FsckFinding) error {
				it, ok := orphanOf(f, prefix, scan)
				if !ok {
					return nil
				}
				select {
				case items <- it:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			done <- err
		}()

		var s3Batch, dbBatch []orphanObject
		broken := false
		write := func(l orphanLine) {
			if broken {
				return
			}
			b, _ := json.Marshal(l)
			b = append(b, '\n')
			if _, err := w.Write(b); err != nil {
				broken = true
			} else if err := w.Flush(); err != nil {
				broken = true
			}
			if broken {
				cancel() // the client went away: stop the check
			}
		}
		flush := func() bool {
			wrote := len(s3Batch)+len(dbBatch) > 0
			if len(s3Batch) > 0 {
				write(orphanLine{Type: "s3Orphans", Value: s3Batch, Event: "data"})
				s3Batch = s3Batch[:0]
			}
			if len(dbBatch) > 0 {
				write(orphanLine{Type: "dbOrphans", Value: dbBatch, Event: "data"})
				dbBatch = dbBatch[:0]
			}
			return wrote
		}
		tick := time.NewTicker(orphanPing)
		defer tick.Stop()
		silent := true // nothing written since the last tick
		for {
			select {
			case it := <-items:
				if it.db {
					dbBatch = append(dbBatch, it.obj)
				} else {
					s3Batch = append(s3Batch, it.obj)
				}
				if len(s3Batch) >= orphanBatch || len(dbBatch) >= orphanBatch {
					flush()
					silent = false
				}
			case <-tick.C:
				// Findings wait at most one tick; a stream with nothing to say pings.
				if !flush() && silent {
					write(orphanLine{Event: "ping"})
				}
				silent = true
			case err := <-done:
				flush()
				if err != nil && !broken {
					log.Error("admin: orphan-object scan failed", "bucket", scan.bucket, "err", err)
					write(orphanLine{Event: "error", Error: toAPIError(nil, err)})
				}
				return
			}
		}
	})
	return nil
}

// orphanOf turns a finding into a data entry, or reports false for findings the routes do
// not show (rows of uploads, intents, expired uploads, or removal that did not happen).
func orphanOf(f gateway.FsckFinding, prefix string, scan orphanScan) (orphanItem, bool) {
	rest, ok := strings.CutPrefix(f.Key, prefix)
	if !ok {
		return orphanItem{}, false
	}
	var obj orphanObject
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		obj.Name, obj.Version = rest[:i], rest[i+1:]
	} else {
		obj.Name = rest
	}
	switch f.Kind {
	case gateway.FsckOrphanBytes:
		if !scan.s3 || (scan.fix && !f.Removed) {
			return orphanItem{}, false
		}
		obj.Size = f.Size
		return orphanItem{obj: obj}, true
	case gateway.FsckMissingBytes:
		if !scan.dbKeys || f.Ref != "object" {
			return orphanItem{}, false
		}
		return orphanItem{db: true, obj: obj}, true
	}
	return orphanItem{}, false
}
