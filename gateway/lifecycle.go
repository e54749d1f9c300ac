package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stowage/stowage/db"
)

// LifecycleRule is one S3 lifecycle rule. A zero field is an action the rule does not take.
type LifecycleRule struct {
	ID      string `json:"id"`
	Enabled bool   `json:"enabled"`
	// Prefix and Tags filter the objects the rule applies to (all tags must match).
	Prefix string `json:"prefix,omitempty"`
	Tags   []Tag  `json:"tags,omitempty"`
	// ExpirationDays / ExpirationDate expire current versions (a delete, or a delete
	// marker in a versioned bucket); ExpiredObjectDeleteMarker removes delete markers that
	// are their key's only version.
	ExpirationDays            int        `json:"expirationDays,omitempty"`
	ExpirationDate            *time.Time `json:"expirationDate,omitempty"`
	ExpiredObjectDeleteMarker bool       `json:"expiredObjectDeleteMarker,omitempty"`
	// NoncurrentDays removes non-current versions that many days after they became
	// non-current, keeping the NewerNoncurrentVersions newest of each key.
	NoncurrentDays          int `json:"noncurrentDays,omitempty"`
	NewerNoncurrentVersions int `json:"newerNoncurrentVersions,omitempty"`
	// AbortDays aborts multipart uploads that many days after they started.
	AbortDays int `json:"abortDays,omitempty"`
}

// MaxLifecycleRules is S3's limit on the rules of one configuration.
const MaxLifecycleRules = 1000

// validateLifecycle checks rules as S3 does (InvalidArgument / MalformedXML-like messages).
func validateLifecycle(bucket string, rules []LifecycleRule) error {
	bad := func(msg string) error { return &Error{Code: CodeInvalidArgument, Bucket: bucket, Message: msg} }
	if len(rules) == 0 || len(rules) > MaxLifecycleRules {
		return bad("A lifecycle configuration holds 1 to 1000 rules")
	}
	ids := map[string]bool{}
	for _, r := range rules {
		if len(r.ID) > 255 {
			return bad("ID length should not exceed allowed limit of 255")
		}
		if r.ID != "" && ids[r.ID] {
			return bad("Rule ID must be unique. Found same ID for more than one rule")
		}
		ids[r.ID] = true
		if err := ValidateTagSet(r.Tags, MaxTags); err != nil {
			return err
		}
		if r.ExpirationDays < 0 || r.NoncurrentDays < 0 || r.AbortDays < 0 || r.NewerNoncurrentVersions < 0 || r.NewerNoncurrentVersions > 100 {
			return bad("'Days' in a lifecycle action must be a positive integer")
		}
		actions := 0
		for _, on := range []bool{r.ExpirationDays > 0, r.ExpirationDate != nil, r.ExpiredObjectDeleteMarker, r.NoncurrentDays > 0, r.AbortDays > 0} {
			if on {
				actions++
			}
		}
		if actions == 0 {
			return bad("At least one action needs to be specified in a rule")
		}
		if r.ExpirationDays > 0 && r.ExpirationDate != nil {
			return bad("Expiration may name Days or Date, not both")
		}
		if r.ExpiredObjectDeleteMarker && len(r.Tags) > 0 {
			return bad("ExpiredObjectDeleteMarker cannot be specified with tag-based filters")
		}
		if r.AbortDays > 0 && len(r.Tags) > 0 {
			return bad("AbortIncompleteMultipartUpload cannot be specified with tag-based filters")
		}
	}
	return nil
}

// BucketLifecycle returns a visible bucket's rules; CodeNoSuchLifecycle without any.
func (e *Engine) BucketLifecycle(ctx context.Context, c Caller, bucket string) ([]LifecycleRule, error) {
	var raw json.RawMessage
	err := e.readBucketSetting(ctx, c, bucket, func(stx db.Tx) error {
		var err error
		raw, err = stx.Lifecycle(ctx, bucket)
		if errors.Is(err, db.ErrNotFound) {
			return &Error{Code: CodeNoSuchLifecycle, Bucket: bucket}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var rules []LifecycleRule
	if err := json.Unmarshal(raw, &rules); err != nil {
		return nil, &Error{Code: CodeInternal, Err: fmt.Errorf("lifecycle rules of %s: %w", bucket, err)}
	}
	return rules, nil
}

// SetBucketLifecycle replaces a bucket's rules (nil deletes them); the caller must be
// allowed to update the bucket, as for SetBucketVersioning.
func (e *Engine) SetBucketLifecycle(ctx context.Context, c Caller, bucket string, rules []LifecycleRule) error {
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	var raw json.RawMessage
	if rules != nil {
		if err := validateLifecycle(bucket, rules); err != nil {
			return err
		}
		raw, _ = json.Marshal(rules)
	}
	return e.writeBucketSetting(ctx, c, bucket, func(stx db.Tx) error { return stx.SetLifecycle(ctx, bucket, raw) })
}

// matches reports whether an object with key and tags falls under the rule's filter.
func (r LifecycleRule) matches(key string, tags []Tag) bool {
	if !strings.HasPrefix(key, r.Prefix) {
		return false
	}
	for _, want := range r.Tags {
		found := false
		for _, t := range tags {
			if t == want {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// day is how long "a day" of a lifecycle rule lasts (Options.LifecycleDay; tests shrink it).
func (e *Engine) day() time.Duration {
	if e.opts.LifecycleDay > 0 {
		return e.opts.LifecycleDay
	}
	return 24 * time.Hour
}

// expiresAt is when the rule expires a current object last modified at mod: S3 rounds
// "days after creation" up to the next midnight UTC (with a real day).
func (e *Engine) expiresAt(r LifecycleRule, mod time.Time) (time.Time, bool) {
	switch {
	case r.ExpirationDate != nil:
		return *r.ExpirationDate, true
	case r.ExpirationDays > 0:
		t := mod.Add(time.Duration(r.ExpirationDays) * e.day())
		if e.day() == 24*time.Hour {
			t = t.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		}
		return t, true
	}
	return time.Time{}, false
}

// Expiration is S3's x-amz-expiration for an object: the earliest expiry among the enabled
// rules that match it, and that rule's id.
type Expiration struct {
	Date   time.Time
	RuleID string
}

// objectExpiration computes obj's Expiration from raw rules ("" when none applies).
func (e *Engine) objectExpiration(raw json.RawMessage, obj Object) *Expiration {
	if len(raw) == 0 {
		return nil
	}
	var rules []LifecycleRule
	if json.Unmarshal(raw, &rules) != nil {
		return nil
	}
	var out *Expiration
	for _, r := range rules {
		if !r.Enabled || !r.matches(obj.Key, obj.Extra.Tags) {
			continue
		}
		if t, ok := e.expiresAt(r, obj.LastModified); ok && (out == nil || t.Before(out.Date)) {
			out = &Expiration{Date: t, RuleID: r.ID}
		}
	}
	return out
}

// lifecycleBatch bounds one statement of the lifecycle sweep; lifecycleLease is how long
// one node keeps a bucket (renewed per bucket; a crashed node's lease runs out).
const (
	lifecycleBatch = 100
	lifecycleLease = time.Minute
)

// SweepLifecycle applies every bucket's lifecycle rules once. A node leases one bucket at
// a time (stowage.bucket_lifecycle.lease_until), so many gateways sweep different buckets;
// a crashed node's lease expires and the bucket is swept again by whoever comes next.
// Each expiry is its own short transaction under the key's lock that re-checks the row
// it acts on, so a version written meanwhile is never removed. It returns the number of
// actions taken.
func (e *Engine) SweepLifecycle(ctx context.Context) (int, error) {
	c := e.ServiceCaller("")
	owner := uuid.NewString()
	var done []string
	total := 0
	for {
		var bucket string
		var raw json.RawMessage
		var ok bool
		err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
			var err error
			bucket, raw, ok, err = tx.LeaseLifecycleBucket(ctx, owner, e.now(), e.now().Add(lifecycleLease), append(done, ""))
			return err
		})
		if err != nil || !ok {
			return total, dbErr(err, CodeInternal, "", "")
		}
		done = append(done, bucket)
		var rules []LifecycleRule
		if json.Unmarshal(raw, &rules) != nil {
			continue
		}
		n, err := e.sweepBucketLifecycle(ctx, c, bucket, rules)
		total += n
		_ = e.db.InTx(context.WithoutCancel(ctx), e.service(c), func(tx db.Tx) error {
			return tx.ReleaseLifecycleLease(ctx, bucket, owner)
		})
		if err != nil {
			return total, err
		}
	}
}

func (e *Engine) sweepBucketLifecycle(ctx context.Context, c Caller, bucket string, rules []LifecycleRule) (int, error) {
	total := 0
	for _, r := range rules {
		if !r.Enabled {
			continue
		}
		for _, step := range []func(context.Context, Caller, string, LifecycleRule) (int, error){
			e.expireCurrent, e.expireNoncurrent, e.expireLoneMarkers, e.abortOldUploads} {
			n, err := step(ctx, c, bucket, r)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// expireCurrent applies Expiration Days/Date to current objects.
func (e *Engine) expireCurrent(ctx context.Context, c Caller, bucket string, r LifecycleRule) (int, error) {
	if r.ExpirationDays == 0 && r.ExpirationDate == nil {
		return 0, nil
	}
	cutoff := e.now().Add(time.Duration(-r.ExpirationDays) * e.day())
	if r.ExpirationDate != nil {
		if e.now().Before(*r.ExpirationDate) {
			return 0, nil
		}
		cutoff = e.now()
	}
	n, after := 0, ""
	for {
		var rows []db.Object
		err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
			var err error
			rows, err = tx.ObjectsModifiedBefore(ctx, bucket, r.Prefix, after, cutoff, lifecycleBatch)
			return err
		})
		if err != nil {
			return n, dbErr(err, CodeInternal, bucket, "")
		}
		for _, row := range rows {
			after = row.Name
			o := objectFromRow(row)
			if !r.matches(o.Key, o.Extra.Tags) {
				continue
			}
			if t, ok := e.expiresAt(r, o.LastModified); !ok || t.After(e.now()) {
				continue
			}
			if e.hooks.beforeExpire != nil {
				e.hooks.beforeExpire(row.Name)
			}
			done, err := e.expireObject(ctx, c, row)
			if err != nil {
				return n, err
			}
			if done {
				n++
			}
		}
		if len(rows) < lifecycleBatch {
			return n, nil
		}
	}
}

// expireObject deletes the current row `row` (a delete marker takes its place in a
// versioned bucket), only if the key still holds that very version: a version written
// after the sweep read the row is never expired by it.
func (e *Engine) expireObject(ctx context.Context, c Caller, row db.Object) (bool, error) {
	var blobs []string
	var done bool
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		blobs, done = nil, false
		cur, err := tx.LockObject(ctx, row.BucketID, row.Name)
		if errors.Is(err, db.ErrNotFound) || (err == nil && cur.Version != row.Version) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.DeleteObjects(ctx, row.BucketID, []string{row.Name}); err != nil {
			return err
		}
		status, err := tx.VersioningStatus(ctx, row.BucketID)
		if err != nil {
			return err
		}
		keep := false
		if status != "" {
			vd, err := e.versionDelete(ctx, tx, c, status, cur)
			if err != nil {
				return err
			}
			blobs, keep = vd.unlinked, vd.keepOld
		}
		if !keep && cur.Version != "" {
			k := e.blobKey(cur.BucketID, cur.Name, cur.Version)
			blobs = append(blobs, k)
			if err := tx.AddIntent(ctx, k, db.IntentDelete, e.now()); err != nil {
				return err
			}
		}
		done = true
		return nil
	})
	if err != nil {
		return false, dbErr(err, CodeInternal, row.BucketID, row.Name)
	}
	if len(blobs) > 0 {
		e.removeSuperseded(ctx, c, blobs...)
	}
	return done, nil
}

// expireNoncurrent applies NoncurrentVersionExpiration.
func (e *Engine) expireNoncurrent(ctx context.Context, c Caller, bucket string, r LifecycleRule) (int, error) {
	if r.NoncurrentDays == 0 {
		return 0, nil
	}
	cutoff := e.now().Add(time.Duration(-r.NoncurrentDays) * e.day())
	return e.removeVersions(ctx, c, bucket, r, func(tx db.Tx, after int64) ([]db.Version, error) {
		return tx.NoncurrentDue(ctx, bucket, r.Prefix, cutoff, r.NewerNoncurrentVersions, after, lifecycleBatch)
	})
}

// expireLoneMarkers applies ExpiredObjectDeleteMarker.
func (e *Engine) expireLoneMarkers(ctx context.Context, c Caller, bucket string, r LifecycleRule) (int, error) {
	if !r.ExpiredObjectDeleteMarker {
		return 0, nil
	}
	return e.removeVersions(ctx, c, bucket, r, func(tx db.Tx, after int64) ([]db.Version, error) {
		return tx.LoneDeleteMarkers(ctx, bucket, r.Prefix, after, lifecycleBatch)
	})
}

// removeVersions removes the non-current versions that list returns, batch by batch. Each
// removal re-checks under the key's lock that the version is still non-current (it was
// not made current again meanwhile) and, for a lone marker, still alone.
func (e *Engine) removeVersions(ctx context.Context, c Caller, bucket string, r LifecycleRule, list func(db.Tx, int64) ([]db.Version, error)) (int, error) {
	n := 0
	var after int64
	for {
		var vs []db.Version
		err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
			var err error
			vs, err = list(tx, after)
			return err
		})
		if err != nil {
			return n, dbErr(err, CodeInternal, bucket, "")
		}
		for _, v := range vs {
			after = v.Seq
			if !v.DeleteMarker && !r.matches(v.Name, extraFromMetadata(v.Metadata).Tags) {
				continue
			}
			var blob string
			err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
				blob = ""
				if err := tx.LockKey(ctx, bucket, v.Name); err != nil {
					return err
				}
				if v.DeleteMarker {
					newest, err := tx.NewestVersion(ctx, bucket, v.Name)
					if err != nil || newest.Seq != v.Seq {
						return ignoreNotFound(err)
					}
					if _, err := tx.GetObject(ctx, bucket, v.Name); !errors.Is(err, db.ErrNotFound) {
						return err
					}
				}
				gone, err := tx.DeleteVersion(ctx, bucket, v.Name, v.VersionID)
				if err != nil {
					return ignoreNotFound(err)
				}
				if gone.BlobVersion == "" {
					return nil
				}
				blob = e.blobKey(bucket, v.Name, gone.BlobVersion)
				return tx.AddIntent(ctx, blob, db.IntentDelete, e.now())
			})
			if err != nil {
				return n, dbErr(err, CodeInternal, bucket, v.Name)
			}
			n++
			if blob != "" {
				e.removeSuperseded(ctx, c, blob)
			}
		}
		if len(vs) < lifecycleBatch {
			return n, nil
		}
	}
}

func ignoreNotFound(err error) error {
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	return err
}

// abortOldUploads applies AbortIncompleteMultipartUpload.
func (e *Engine) abortOldUploads(ctx context.Context, c Caller, bucket string, r LifecycleRule) (int, error) {
	if r.AbortDays == 0 {
		return 0, nil
	}
	var ups []db.Upload
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		var err error
		ups, err = tx.UploadsStartedBefore(ctx, bucket, r.Prefix, e.now().Add(time.Duration(-r.AbortDays)*e.day()), lifecycleBatch)
		return err
	})
	if err != nil {
		return 0, dbErr(err, CodeInternal, bucket, "")
	}
	n := 0
	for _, u := range ups {
		err := e.AbortMultipartUpload(ctx, c, bucket, u.Key, u.ID)
		if err != nil && CodeOf(err) != CodeNoSuchUpload {
			return n, err
		}
		if err == nil {
			n++
		}
	}
	return n, nil
}

// sweepLifecycleIfDue runs SweepLifecycle at most once per 1/24 of a lifecycle day (an
// hour) on this node: rules count in days, and a sweep reads every bucket with rules.
func (e *Engine) sweepLifecycleIfDue(ctx context.Context) (int, error) {
	now := e.now().UnixNano()
	if last := e.lifecycleAt.Load(); last != 0 && now-last < int64(e.day()/24) {
		return 0, nil
	}
	e.lifecycleAt.Store(now)
	return e.SweepLifecycle(ctx)
}
