package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/gateway/backend"
)

// The consistency check compares the rows that name store keys (objects, upload parts,
// resumable-upload tails, write and delete intents) with the keys the store lists, as a
// merge of two sorted streams: memory stays bounded whatever the number of objects, and a
// run can resume after any key it reported as a checkpoint. docs/fsck.md explains what it
// reports and why what --fix removes is safe to remove.

// DefaultFsckGrace is how old unreferenced bytes must be before Fsck reports or removes
// them, when FsckOptions.Grace is 0.
const DefaultFsckGrace = 24 * time.Hour

// FsckKind is the kind of a finding.
type FsckKind string

// Finding kinds.
const (
	// FsckMissingBytes: a row (object, upload part, resumable-upload tail) names a key
	// the store does not hold. Reported, never repaired: only an operator can tell
	// whether to restore the bytes from a backup or drop the row.
	FsckMissingBytes FsckKind = "missing_bytes"
	// FsckOrphanBytes: the store holds a key no row or intent names, older than the grace.
	FsckOrphanBytes FsckKind = "orphan_bytes"
	// FsckStaleIntent: a write or delete intent past its expiry by more than the grace;
	// the intent sweep is behind (or not running). Fix runs the sweep.
	FsckStaleIntent FsckKind = "stale_intent"
	// FsckExpiredUpload: a multipart or resumable upload past its expiry. Fix runs the
	// upload sweeps, which abort it the way the server's own sweeper does.
	FsckExpiredUpload FsckKind = "expired_upload"
)

// FsckOptions select what Fsck checks and whether it repairs.
type FsckOptions struct {
	// Bucket limits the check to one bucket's keys ("" all of the tenant's keys, including
	// keys under buckets that no longer exist).
	Bucket string
	// StartAfter resumes a check after this store key (a checkpoint of an earlier run).
	StartAfter string
	// Fix removes orphan bytes and runs the intent and upload sweeps.
	Fix bool
	// Grace: bytes modified more recently, and intents expired more recently, are left
	// alone (not reported). 0 means DefaultFsckGrace.
	Grace time.Duration
	// Progress, when set, is called every ProgressEvery store keys (default 10000) with
	// a checkpoint: every key up to it has been checked and its findings reported.
	Progress      func(FsckReport)
	ProgressEvery int
}

// FsckFinding is one inconsistency.
type FsckFinding struct {
	Kind FsckKind `json:"kind"`
	// Key is the store key (for an expired upload: the upload's object name).
	Key string `json:"key"`
	// Ref says what names the key: object, part, tail, intent-write, intent-delete,
	// multipart or resumable; "" for orphan bytes.
	Ref      string    `json:"ref,omitempty"`
	Bucket   string    `json:"bucket,omitempty"`
	UploadID string    `json:"upload_id,omitempty"`
	Size     int64     `json:"size,omitempty"`
	Time     time.Time `json:"time,omitzero"` // bytes: modified; intent: expired; upload: created or expired
	// Removed: Fix deleted the bytes (orphans) or the sweep dealt with it.
	Removed bool `json:"removed,omitempty"`
}

// FsckReport counts what a check saw.
type FsckReport struct {
	Blobs          int64 `json:"blobs"` // store keys listed
	Rows           int64 `json:"rows"`  // rows naming keys
	Missing        int64 `json:"missing_bytes"`
	Orphans        int64 `json:"orphan_bytes"`
	StaleIntents   int64 `json:"stale_intents"`
	ExpiredUploads int64 `json:"expired_uploads"`
	Removed        int64 `json:"removed"` // orphan blobs deleted
	Young          int64 `json:"young"`   // unreferenced blobs within the grace, left alone
	// Checkpoint: every key up to it has been checked ("" at the start).
	Checkpoint string `json:"checkpoint"`
	Done       bool   `json:"done"`
}

// Fsck checks the tenant's store keys against the rows that name them and calls fn for each
// finding, in key order (expired uploads last). An error from fn stops the check.
func (e *Engine) Fsck(ctx context.Context, opts FsckOptions, fn func(FsckFinding) error) (FsckReport, error) {
	lister, ok := e.store.(backend.Lister)
	if !ok {
		return FsckReport{}, &Error{Code: CodeInternal, Err: errors.New("fsck: the store cannot list its keys")}
	}
	if opts.Bucket != "" {
		if err := ValidateBucketName(opts.Bucket); err != nil {
			return FsckReport{}, err
		}
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultFsckGrace
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 10000
	}
	f := e.newFsck(opts, fn)
	err := lister.List(ctx, f.scope.prefix, opts.StartAfter, func(b backend.Listed) error { return f.blob(ctx, b) })
	if err == nil {
		err = f.rest(ctx)
	}
	if err != nil {
		return f.report, fsckErr(err)
	}
	if err := f.uploads(ctx); err != nil {
		return f.report, fsckErr(err)
	}
	if opts.Fix {
		if _, err := e.Sweep(ctx); err != nil {
			return f.report, err
		}
	}
	f.report.Done = true
	return f.report, nil
}

// newFsck prepares a run: the scope of keys and the database streams.
func (e *Engine) newFsck(opts FsckOptions, fn func(FsckFinding) error) *fsck {
	f := &fsck{e: e, opts: opts, fn: fn}
	f.scope.e = e
	if sf, ok := e.store.(backend.SegmentFolder); ok {
		f.scope.fold = sf.FoldsEmptySegments()
	}
	_, storeSide := e.store.(backend.Multipart)
	f.scope.parts = !storeSide
	f.scope.prefix = e.opts.TenantID + "/"
	objs := &objectRefs{s: &f.scope}
	if opts.Bucket != "" {
		f.scope.prefix += opts.Bucket + "/"
		objs.onlyBucket(opts.Bucket)
	}
	f.scope.after = opts.StartAfter
	f.report.Checkpoint = opts.StartAfter
	f.refs = &peeked{src: mergeRefs(objs, &otherRefs{s: &f.scope})}
	f.now = e.now()

	return f
}

func fsckErr(err error) error {
	var ge *Error
	if errors.As(err, &ge) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return storeErr(err, "", "")
}

// fsck is one run.
type fsck struct {
	e      *Engine
	opts   FsckOptions
	fn     func(FsckFinding) error
	scope  fsckScope
	refs   *peeked
	now    time.Time
	report FsckReport
	cands  []backend.Listed // unreferenced blobs awaiting the re-check
	since  int              // keys since the last progress call
}

// fsckBatch is how many unreferenced blobs one re-check transaction judges.
const fsckBatch = 100

// blob handles one listed key: rows before it have no bytes, rows at it are matched.
func (f *fsck) blob(ctx context.Context, b backend.Listed) error {
	f.report.Blobs++
	named := false
	for {
		r, err := f.refs.peek(ctx)
		if err != nil {
			return err
		}
		if r == nil || r.key > b.Key {
			break
		}
		f.refs.take()
		f.report.Rows++
		if r.key < b.Key {
			if err := f.unbacked(ctx, *r); err != nil {
				return err
			}
			continue
		}
		named = true
		if err := f.staleIntent(*r); err != nil {
			return err
		}
	}
	if !named {
		if f.now.Sub(b.Modified) < f.opts.Grace {
			f.report.Young++
		} else {
			f.cands = append(f.cands, b)
			if len(f.cands) >= fsckBatch {
				if err := f.flush(ctx); err != nil {
					return err
				}
			}
		}
	}
	f.since++
	if f.since >= f.opts.ProgressEvery {
		if err := f.flush(ctx); err != nil {
			return err
		}
		f.report.Checkpoint = b.Key
		f.since = 0
		if f.opts.Progress != nil {
			f.opts.Progress(f.report)
		}
	} else if len(f.cands) == 0 {
		f.report.Checkpoint = b.Key
	}
	return nil
}

// rest handles the rows after the last listed key, and the last candidates.
func (f *fsck) rest(ctx context.Context) error {
	if err := f.flush(ctx); err != nil {
		return err
	}
	for {
		r, err := f.refs.peek(ctx)
		if err != nil || r == nil {
			return err
		}
		f.refs.take()
		f.report.Rows++
		if err := f.unbacked(ctx, *r); err != nil {
			return err
		}
	}
}

// staleIntent reports an intent past its expiry by more than the grace.
func (f *fsck) staleIntent(r ref) error {
	if r.kind != db.RefWriteIntent && r.kind != db.RefDeleteIntent {
		return nil
	}
	if r.expires.IsZero() || f.now.Sub(r.expires) < f.opts.Grace {
		return nil
	}
	f.report.StaleIntents++
	return f.fn(FsckFinding{Kind: FsckStaleIntent, Key: r.key, Ref: r.kind, Bucket: f.bucketOf(r.key),
		Time: r.expires, Removed: f.opts.Fix})
}

// unbacked handles a row whose key the store did not list. An intent without bytes is a
// write that has not stored them yet or a delete that already removed them (stale only
// past its expiry); anything else is missing bytes, confirmed by a Stat and a fresh look
// at the rows, so a row written or deleted while the listing ran is not reported.
func (f *fsck) unbacked(ctx context.Context, r ref) error {
	if r.kind == db.RefWriteIntent || r.kind == db.RefDeleteIntent {
		return f.staleIntent(r)
	}
	_, err := f.e.store.Stat(ctx, r.key)
	switch {
	case err == nil:
		return nil // written after the listing passed its key
	case !errors.Is(err, backend.ErrNotFound):
		return err
	}
	var still map[string]bool
	err = f.scope.tx(ctx, func(tx db.Tx) error {
		var err error
		still, err = tx.FsckReferenced(ctx, f.e.opts.TenantID, f.scope.fold, f.scope.parts, []db.FsckCandidate{f.candidate(r.key)})
		return err
	})
	if err != nil || !still[r.key] {
		return err
	}
	f.report.Missing++
	return f.fn(FsckFinding{Kind: FsckMissingBytes, Key: r.key, Ref: r.kind, Bucket: f.bucketOf(r.key)})
}

// flush judges the candidates: a fresh transaction looks for any row naming them (a write
// that recorded its intent after the row pages were read); the rest are orphans. With
// Fix, the same transaction records delete intents for them (skipping any key that got an
// intent meanwhile), the bytes are deleted after commit and the intents removed; a crash
// in between leaves the intents to the sweep.
func (f *fsck) flush(ctx context.Context) error {
	if len(f.cands) == 0 {
		return nil
	}
	cands := make([]db.FsckCandidate, len(f.cands))
	for i, b := range f.cands {
		cands[i] = f.candidate(b.Key)
	}
	var orphans, claimed []string
	err := f.scope.tx(ctx, func(tx db.Tx) error {
		still, err := tx.FsckReferenced(ctx, f.e.opts.TenantID, f.scope.fold, f.scope.parts, cands)
		if err != nil {
			return err
		}
		orphans, claimed = orphans[:0], nil
		for _, c := range cands {
			if !still[c.Key] {
				orphans = append(orphans, c.Key)
			}
		}
		if !f.opts.Fix || len(orphans) == 0 {
			return nil
		}
		claimed, err = tx.ClaimOrphans(ctx, orphans, f.now)
		return err
	})
	if err != nil {
		return err
	}
	removed := map[string]bool{}
	if len(claimed) > 0 {
		if err := f.e.store.Delete(ctx, claimed...); err != nil {
			return storeErr(fmt.Errorf("fsck: delete orphans: %w", err), "", "")
		}
		err := f.scope.tx(ctx, func(tx db.Tx) error { return tx.RemoveIntents(ctx, claimed...) })
		if err != nil {
			return err
		}
		for _, k := range claimed {
			removed[k] = true
		}
		f.report.Removed += int64(len(claimed))
	}
	isOrphan := map[string]bool{}
	for _, k := range orphans {
		isOrphan[k] = true
	}
	for _, b := range f.cands {
		if !isOrphan[b.Key] {
			continue
		}
		f.report.Orphans++
		err := f.fn(FsckFinding{Kind: FsckOrphanBytes, Key: b.Key, Bucket: f.bucketOf(b.Key), Size: b.Size,
			Time: b.Modified, Removed: removed[b.Key]})
		if err != nil {
			return err
		}
	}
	f.report.Checkpoint = f.cands[len(f.cands)-1].Key
	f.cands = f.cands[:0]
	return nil
}

// candidate splits a key as an object key: <tenant>/<bucket>/<name>/<version>.
func (f *fsck) candidate(key string) db.FsckCandidate {
	c := db.FsckCandidate{Key: key}
	rest, _ := strings.CutPrefix(key, f.e.opts.TenantID+"/")
	c.Bucket, rest, _ = strings.Cut(rest, "/")
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		c.Name, c.Version = rest[:i], rest[i+1:]
	}
	return c
}

func (f *fsck) bucketOf(key string) string { return f.candidate(key).Bucket }

// uploads reports multipart and resumable uploads past their expiry and, with Fix, runs
// the sweeps that abort them (the same code as the server's background sweeper: rows are
// claimed with SKIP LOCKED, so an upload being completed right now is left alone).
func (f *fsck) uploads(ctx context.Context) error {
	after := ""
	for {
		var page []db.ExpiredUpload
		err := f.scope.tx(ctx, func(tx db.Tx) error {
			var err error
			page, err = tx.FsckExpiredUploads(ctx, f.opts.Bucket, f.now.Add(-f.e.opts.UploadExpiry), f.now, after, fsckPage)
			return err
		})
		if err != nil {
			return err
		}
		for _, u := range page {
			f.report.ExpiredUploads++
			kind, id := "multipart", u.ID
			if u.Resumable {
				kind = "resumable"
			}
			err := f.fn(FsckFinding{Kind: FsckExpiredUpload, Key: u.Key, Ref: kind, Bucket: u.BucketID, UploadID: id,
				Time: u.Since, Removed: f.opts.Fix})
			if err != nil {
				return err
			}
			after = u.ID
		}
		if len(page) < fsckPage {
			break
		}
	}
	if !f.opts.Fix || f.report.ExpiredUploads == 0 {
		return nil
	}
	if _, err := f.e.SweepTusUploads(ctx); err != nil {
		return err
	}
	_, err := f.e.SweepUploads(ctx)
	return err
}
