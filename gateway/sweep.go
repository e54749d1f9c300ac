package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/inline"
)

// SweepStats reports one sweep.
type SweepStats struct {
	Removed int // blobs deleted
	Kept    int // intents dropped because a row still points at the blob
}

// sweepBatch bounds one sweep transaction.
const sweepBatch = 100

// Sweep removes what interrupted operations left behind: bytes of writes that never
// committed (their write intent expired) and superseded bytes whose removal after commit did
// not happen. Intent rows are locked with SKIP LOCKED, so many gateways may sweep at once
// without double work, and a blob that a row still points at is never deleted.
func (e *Engine) Sweep(ctx context.Context) (SweepStats, error) {
	var st SweepStats
	c := e.ServiceCaller("")
	for {
		n := 0
		err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
			due, err := tx.DueIntents(ctx, e.now(), sweepBatch)
			if err != nil {
				return err
			}
			n = len(due)
			for _, in := range due {
				live, err := e.blobReferenced(ctx, tx, in.Key)
				if err != nil {
					return err
				}
				if live {
					st.Kept++
				} else {
					if err := e.deleteBlobInTx(ctx, tx, in.Key); err != nil {
						// Typed here, so dbErr below keeps it: a read-only disk is not a
						// database error.
						return storeErr(err, "", "")
					}
					st.Removed++
				}
				if err := tx.RemoveIntents(ctx, in.Key); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return st, dbErr(err, CodeInternal, "", "")
		}
		if n < sweepBatch {
			break
		}
	}
	if ts, ok := e.store.(backend.TempSweeper); ok {
		if _, err := ts.SweepTemp(ctx, e.opts.WriteTimeout+e.opts.WriteTimeout/4); err != nil {
			return st, storeErr(fmt.Errorf("sweep temporary files: %w", err), "", "")
		}
	}
	return st, nil
}

// blobReferenced parses <tenant>/<bucket>/<name>/<version> and asks whether that row exists.
func (e *Engine) blobReferenced(ctx context.Context, tx db.Tx, key string) (bool, error) {
	bucket, name, version, ok := e.blobObject(key)
	if !ok {
		return false, nil
	}
	return tx.VersionReferenced(ctx, bucket, name, version)
}

// blobObject is blobKey read backwards: the bucket, name and version of an object's blob key
// of this tenant; ok is false for any other key (a part, another tenant's).
func (e *Engine) blobObject(key string) (bucket, name, version string, ok bool) {
	rest, ok := strings.CutPrefix(key, e.opts.TenantID+"/")
	if !ok {
		return "", "", "", false
	}
	bucket, rest, ok = strings.Cut(rest, "/")
	i := strings.LastIndexByte(rest, '/')
	if !ok || i < 0 {
		return "", "", "", false
	}
	return bucket, rest[:i], rest[i+1:], true
}

// RunSweeper sweeps every interval until ctx ends.
func (e *Engine) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.sweepOnce(ctx)
		}
	}
}

// sweepOnce is one round of RunSweeper. Failures are logged with their engine code, so an
// operator reads a full or read-only disk as InsufficientStorage, not as a database error.
func (e *Engine) sweepOnce(ctx context.Context) {
	// Expired resumable uploads first: their multipart rows are theirs to drop.
	if n, err := e.SweepTusUploads(ctx); err != nil && ctx.Err() == nil {
		e.log.Warn("sweep resumable uploads", "code", CodeOf(err).String(), "err", err)
	} else if n > 0 {
		e.log.Info("sweep resumable uploads", "removed", n)
	}
	if n, err := e.SweepUploads(ctx); err != nil && ctx.Err() == nil {
		e.log.Warn("sweep uploads", "code", CodeOf(err).String(), "err", err)
	} else if n > 0 {
		e.log.Info("sweep uploads", "aborted", n)
	}
	if n, err := e.sweepLifecycleIfDue(ctx); err != nil && ctx.Err() == nil {
		e.log.Warn("sweep lifecycle", "code", CodeOf(err).String(), "err", err)
	} else if n > 0 {
		e.log.Info("sweep lifecycle", "actions", n)
	}
	if _, err := e.SweepCompletedUploads(ctx); err != nil && ctx.Err() == nil {
		e.log.Warn("sweep completed uploads", "code", CodeOf(err).String(), "err", err)
	}
	st, err := e.Sweep(ctx)
	if err != nil && ctx.Err() == nil {
		e.log.Warn("sweep", "code", CodeOf(err).String(), "err", err)
	} else if st.Removed > 0 {
		e.log.Info("sweep", "removed", st.Removed, "kept", st.Kept)
	}
}

// deleteBlobInTx removes key's bytes for a transaction that holds its intent: a small blob
// kept in Postgres (inline.Store) is deleted in tx itself rather than on a connection of
// its own beside it.
func (e *Engine) deleteBlobInTx(ctx context.Context, tx db.Tx, key string) error {
	if s, ok := e.store.(*inline.Store); ok {
		return s.DeleteThen(ctx, []string{key}, func() error { return tx.DeleteSmallBlob(ctx, key) })
	}
	return e.store.Delete(ctx, key)
}
