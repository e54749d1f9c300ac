package gateway

import (
	"context"
	"errors"
	"strings"

	"github.com/stowage/stowage/db"
)

// ListVersions is the input of Engine.ListObjectVersions (S3 ListObjectVersions).
type ListVersions struct {
	Bucket    string
	Prefix    string
	Delimiter string
	// KeyMarker and VersionIDMarker continue a listing after that version; KeyMarker
	// alone continues after every version of that key (or, with a delimiter, after a
	// common prefix it names).
	KeyMarker       string
	VersionIDMarker string
	MaxKeys         int
}

// ObjectVersion is one entry of a version listing.
type ObjectVersion struct {
	Object
	IsLatest bool
}

// VersionList is one page of a version listing.
type VersionList struct {
	Versions       []ObjectVersion
	CommonPrefixes []string
	IsTruncated    bool
	// NextKeyMarker and NextVersionIDMarker continue the listing when IsTruncated.
	NextKeyMarker       string
	NextVersionIDMarker string
}

// ListObjectVersions lists every version and delete marker under a prefix, by key in byte
// order and newest first within a key; a never-versioned bucket's objects are each their
// key's only ("null") version. Only keys the caller may read are listed: the caller's
// SELECT policy judges each key's current row, or a stand-in row with the columns of its
// newest version when its latest is a delete marker (docs/versioning.md).
func (e *Engine) ListObjectVersions(ctx context.Context, c Caller, in ListVersions) (VersionList, error) {
	if err := ValidateBucketName(in.Bucket); err != nil {
		return VersionList{}, err
	}
	if in.MaxKeys <= 0 || in.MaxKeys > 1000 {
		in.MaxKeys = 1000
	}
	var out VersionList
	// As ListObjects: a bucket that exists is listed (its rows are what RLS judges).
	err := e.db.InTx(ctx, e.service(c), func(tx db.Tx) error {
		if _, err := tx.GetBucket(ctx, in.Bucket); err != nil {
			return err
		}
		var err error
		out, err = e.listVersions(ctx, tx, c, in)
		return err
	})
	return out, dbErr(err, CodeNoSuchBucket, in.Bucket, "")
}

// listPos is a position in a version listing: after version afterSeq of afterName
// (db.CurrentSeq: after its current row; -1: after all its versions), at or after from.
type listPos struct {
	afterName string
	afterSeq  int64
	from      string
}

func (e *Engine) listVersions(ctx context.Context, tx db.Tx, c Caller, in ListVersions) (VersionList, error) {
	pos, err := e.versionMarker(ctx, tx, in)
	if err != nil {
		return VersionList{}, err
	}
	var out VersionList
	count := 0
	lastPrefix := ""
	for {
		batch, err := tx.ListVersions(ctx, in.Bucket, in.Prefix, pos.from, pos.afterName, pos.afterSeq, listBatch)
		if err != nil {
			return VersionList{}, err
		}
		if len(batch) == 0 {
			return out, nil
		}
		visible, err := e.visibleVersions(ctx, tx, c, in.Bucket, batch)
		if err != nil {
			return VersionList{}, err
		}
		for _, v := range batch {
			pos = listPos{afterName: v.Name, afterSeq: v.Seq}
			if !visible[v.Name] {
				continue
			}
			cp := ""
			if in.Delimiter != "" {
				if i := strings.Index(v.Name[len(in.Prefix):], in.Delimiter); i >= 0 {
					cp = v.Name[:len(in.Prefix)+i+len(in.Delimiter)]
				}
			}
			if cp != "" && cp == lastPrefix {
				continue
			}
			if count == in.MaxKeys {
				out.IsTruncated = true
				return out, nil
			}
			count++
			if cp != "" {
				lastPrefix = cp
				out.CommonPrefixes = append(out.CommonPrefixes, cp)
				out.NextKeyMarker, out.NextVersionIDMarker = cp, ""
				// Skip the rest of the folder in one step.
				pos = listPos{afterSeq: -1, from: db.PrefixUpperBound(cp)}
				break
			}
			o := objectFromRow(v.Row())
			o.VersionID, o.DeleteMarker = v.VersionID, v.DeleteMarker
			out.Versions = append(out.Versions, ObjectVersion{Object: o, IsLatest: v.IsLatest})
			out.NextKeyMarker, out.NextVersionIDMarker = v.Name, v.VersionID
		}
		if pos.from == "" && len(batch) < listBatch {
			return out, nil
		}
	}
}

// versionMarker resolves key-marker and version-id-marker to a listing position.
func (e *Engine) versionMarker(ctx context.Context, tx db.Tx, in ListVersions) (listPos, error) {
	switch {
	case in.KeyMarker == "":
		return listPos{afterSeq: -1}, nil
	case in.VersionIDMarker == "" && in.Delimiter != "" && strings.HasSuffix(in.KeyMarker, in.Delimiter):
		return listPos{afterSeq: -1, from: db.PrefixUpperBound(in.KeyMarker)}, nil
	case in.VersionIDMarker == "":
		return listPos{afterName: in.KeyMarker, afterSeq: -1}, nil
	}
	cur, err := tx.GetObject(ctx, in.Bucket, in.KeyMarker)
	if err == nil {
		id, err := tx.CurrentVersionID(ctx, in.Bucket, in.KeyMarker, cur.Version)
		if err != nil {
			return listPos{}, err
		}
		if id == in.VersionIDMarker {
			return listPos{afterName: in.KeyMarker, afterSeq: db.CurrentSeq}, nil
		}
	} else if !errors.Is(err, db.ErrNotFound) {
		return listPos{}, err
	}
	v, err := tx.GetVersion(ctx, in.Bucket, in.KeyMarker, in.VersionIDMarker)
	if errors.Is(err, db.ErrNotFound) {
		return listPos{}, &Error{Code: CodeInvalidArgument, Bucket: in.Bucket, Message: "Invalid version id specified"}
	}
	return listPos{afterName: in.KeyMarker, afterSeq: v.Seq}, err
}

// visibleVersions judges which names of batch the caller may read (see ListObjectVersions).
func (e *Engine) visibleVersions(ctx context.Context, tx db.Tx, c Caller, bucket string, batch []db.Version) (map[string]bool, error) {
	var probes []db.Object
	seen := map[string]bool{}
	for _, v := range batch {
		if !seen[v.Name] {
			seen[v.Name] = true
			probes = append(probes, v.Row())
		}
	}
	return tx.VisibleKeys(ctx, e.service(c), c.scope(), bucket, probes, false)
}
