package gateway

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stowage/stowage/multipart"
)

// condBackend is an engine over one store kind, with a way to list the blobs it holds.
type condBackend struct {
	name  string
	e     *Engine
	blobs func(t *testing.T, bucket string) []string
}

// condBackends returns the engine over the file store and, unless -short, over MinIO.
func condBackends(t *testing.T) []condBackend {
	t.Helper()
	f := newFixture(t)
	out := []condBackend{{name: "file", e: f.e, blobs: func(t *testing.T, bucket string) []string {
		var keys []string
		for _, b := range f.blobs(t) {
			if strings.HasPrefix(b, "storage-single-tenant/"+bucket+"/") {
				keys = append(keys, b)
			}
		}
		return keys
	}}}
	if !testing.Short() {
		g := newS3Gateways(t)
		out = append(out, condBackend{name: "s3", e: g.e[0], blobs: func(t *testing.T, bucket string) []string {
			return g.upstream(t, "storage-single-tenant/"+bucket+"/")
		}})
	}
	for _, be := range out {
		if _, err := be.e.CreateBucket(context.Background(), service(), CreateBucket{ID: "cond", FileSizeLimit: NoLimit}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func condPut(e *Engine, key string, data []byte, cond WriteConditions) (Object, error) {
	return e.PutObject(context.Background(), service(), PutObject{Bucket: "cond", Key: key, Body: bytes.NewReader(data),
		Size: int64(len(data)), ContentType: "text/plain", Upsert: true, Conditions: cond})
}

// meetAtCommit makes n writers wait for each other just before their commit transaction,
// so every one of them has passed the early check and stored its bytes: the commit alone
// decides between them.
func meetAtCommit(e *Engine, n int) {
	var arrived sync.WaitGroup
	arrived.Add(n)
	e.hooks.beforeCommit = func() {
		arrived.Done()
		arrived.Wait()
	}
}

func TestConditionalPut(t *testing.T) {
	t.Parallel()
	for _, be := range condBackends(t) {
		t.Run(be.name, func(t *testing.T) {
			e := be.e
			orig, err := condPut(e, "k", []byte("original"), WriteConditions{})
			if err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name string
				key  string
				cond WriteConditions
				want Code // CodeInternal: success
			}{
				{"if-none-match on an existing key", "k", WriteConditions{IfAbsent: true}, CodePreconditionFailed},
				{"if-match with another etag", "k", WriteConditions{IfMatch: `"00000000000000000000000000000000"`}, CodePreconditionFailed},
				{"if-match on a missing key", "missing", WriteConditions{IfMatch: orig.ETag}, CodeNoSuchKey},
				{"if-match star on a missing key", "missing", WriteConditions{IfMatch: "*"}, CodeNoSuchKey},
				{"if-none-match on a new key", "new", WriteConditions{IfAbsent: true}, CodeInternal},
				{"if-match with the etag, unquoted", "k", WriteConditions{IfMatch: strings.Trim(orig.ETag, `"`)}, CodeInternal},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					before, _ := e.HeadObject(context.Background(), service(), "cond", tc.key, false)
					data := []byte("written by " + tc.name)
					_, err := condPut(e, tc.key, data, tc.cond)
					got, _ := e.HeadObject(context.Background(), service(), "cond", tc.key, false)
					if tc.want != CodeInternal {
						wantCode(t, err, tc.want)
						if got.ETag != before.ETag {
							t.Fatalf("refused write changed the object: %s -> %s", before.ETag, got.ETag)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(readObject(t, e, "cond", tc.key), data) {
						t.Fatal("the conditional write did not store its bytes")
					}
				})
			}
			// One blob per key ("k", "new"): refused writes left no bytes behind.
			if got := be.blobs(t, "cond"); len(got) != 2 {
				t.Fatalf("blobs %v, want 2", got)
			}
		})
	}
}

// TestConditionalPutRace: writers that all stored their bytes race to commit one new key
// with If-None-Match: *. Exactly one wins; the others get PreconditionFailed and their bytes
// are removed; the object is the winner's.
func TestConditionalPutRace(t *testing.T) {
	t.Parallel()
	const writers = 6
	for _, be := range condBackends(t) {
		t.Run(be.name, func(t *testing.T) {
			meetAtCommit(be.e, writers)
			defer func() { be.e.hooks.beforeCommit = nil }()
			payload := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 64<<10+i) }
			errs := make([]error, writers)
			var wg sync.WaitGroup
			for i := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = condPut(be.e, "race", payload(i), WriteConditions{IfAbsent: true})
				}()
			}
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Fatalf("writers %d and %d both succeeded", winner, i)
				case err == nil:
					winner = i
				case CodeOf(err) != CodePreconditionFailed:
					t.Fatalf("writer %d: %v, want PreconditionFailed", i, err)
				}
			}
			if winner < 0 {
				t.Fatal("no writer succeeded")
			}
			if got := readObject(t, be.e, "cond", "race"); !bytes.Equal(got, payload(winner)) {
				t.Fatalf("stored %d bytes, not writer %d's payload", len(got), winner)
			}
			if got := be.blobs(t, "cond"); len(got) != 1 {
				t.Fatalf("blobs %v, want only the winner's", got)
			}
		})
	}
}

// condUpload starts an upload of key with two parts and returns it and its part list.
func condUpload(t *testing.T, e *Engine, key string, seed int64) (MultipartUpload, []multipart.CompletedPart, []byte) {
	t.Helper()
	ctx := context.Background()
	u, err := e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: "cond", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	var list []multipart.CompletedPart
	var all []byte
	for n, data := range [][]byte{testData(seed, int(multipart.MinPartSize)), testData(seed+1, 100)} {
		p, err := e.UploadPart(ctx, service(), UploadPart{Bucket: "cond", Key: key, UploadID: u.ID, PartNumber: n + 1,
			Body: bytes.NewReader(data), Size: int64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, multipart.CompletedPart{PartNumber: p.Number, ETag: p.ETag})
		all = append(all, data...)
	}
	return u, list, all
}

func condComplete(e *Engine, u MultipartUpload, parts []multipart.CompletedPart, cond WriteConditions) (Object, error) {
	return e.CompleteMultipartUpload(context.Background(), service(), CompleteMultipartUpload{Bucket: u.Bucket, Key: u.Key,
		UploadID: u.ID, Parts: parts, Conditions: cond})
}

func uploadIDs(t *testing.T, e *Engine) []string {
	t.Helper()
	l, err := e.ListMultipartUploads(context.Background(), service(), ListMultipartUploads{Bucket: "cond", MaxUploads: 100})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range l.Uploads {
		ids = append(ids, u.ID)
	}
	sort.Strings(ids)
	return ids
}

func TestConditionalComplete(t *testing.T) {
	t.Parallel()
	for _, be := range condBackends(t) {
		t.Run(be.name, func(t *testing.T) {
			e := be.e
			existing, err := condPut(e, "taken", []byte("here first"), WriteConditions{})
			if err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name string
				key  string
				cond WriteConditions
				want Code
			}{
				{"if-none-match on an existing key", "taken", WriteConditions{IfAbsent: true}, CodePreconditionFailed},
				{"if-match with another etag", "taken", WriteConditions{IfMatch: `"0123"`}, CodePreconditionFailed},
				{"if-match on a missing key", "absent", WriteConditions{IfMatch: existing.ETag}, CodeNoSuchKey},
			}
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					u, parts, data := condUpload(t, e, tc.key, int64(10*i))
					_, err := condComplete(e, u, parts, tc.cond)
					wantCode(t, err, tc.want)
					// Refused before anything was assembled: the upload is intact and completes.
					obj, err := condComplete(e, u, parts, WriteConditions{})
					if err != nil {
						t.Fatalf("complete after the refusal: %v", err)
					}
					if !bytes.Equal(readObject(t, e, "cond", tc.key), data) || obj.Size != int64(len(data)) {
						t.Fatal("object is not the upload's bytes")
					}
				})
			}
			t.Run("if-match with the etag", func(t *testing.T) {
				cur, _ := e.HeadObject(context.Background(), service(), "cond", "taken", false)
				u, parts, data := condUpload(t, e, "taken", 99)
				if _, err := condComplete(e, u, parts, WriteConditions{IfMatch: cur.ETag}); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(readObject(t, e, "cond", "taken"), data) {
					t.Fatal("object is not the upload's bytes")
				}
			})
			if ids := uploadIDs(t, e); len(ids) != 0 {
				t.Fatalf("uploads left: %v", ids)
			}
			if got := be.blobs(t, "cond"); len(got) != 2 {
				t.Fatalf("blobs %v, want one per key", got)
			}
		})
	}
}

// TestConditionalCompleteRace: two uploads of one new key, both assembled, race to commit
// with If-None-Match: *. One wins; the loser gets PreconditionFailed and its assembled bytes
// are removed. On the file store the loser's upload stays (its parts are untouched); on a
// store with its own multipart uploads the assembly spent the store's upload, so the
// loser's upload is gone too.
func TestConditionalCompleteRace(t *testing.T) {
	t.Parallel()
	for _, be := range condBackends(t) {
		t.Run(be.name, func(t *testing.T) {
			e := be.e
			var ups [2]MultipartUpload
			var lists [2][]multipart.CompletedPart
			var datas [2][]byte
			for i := range ups {
				ups[i], lists[i], datas[i] = condUpload(t, e, "race-mp", int64(100+10*i))
			}
			meetAtCommit(e, 2)
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i := range ups {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = condComplete(e, ups[i], lists[i], WriteConditions{IfAbsent: true})
				}()
			}
			wg.Wait()
			e.hooks.beforeCommit = nil
			winner, loser := 0, 1
			if errs[0] != nil {
				winner, loser = 1, 0
			}
			if errs[winner] != nil {
				t.Fatalf("no completion won: %v / %v", errs[0], errs[1])
			}
			wantCode(t, errs[loser], CodePreconditionFailed)
			if !bytes.Equal(readObject(t, e, "cond", "race-mp"), datas[winner]) {
				t.Fatal("object is not the winner's bytes")
			}
			ids := uploadIDs(t, e)
			if be.name == "file" {
				if fmt.Sprint(ids) != fmt.Sprint([]string{ups[loser].ID}) {
					t.Fatalf("uploads %v, want the loser's %s kept", ids, ups[loser].ID)
				}
				if err := e.AbortMultipartUpload(context.Background(), service(), "cond", "race-mp", ups[loser].ID); err != nil {
					t.Fatal(err)
				}
			} else if len(ids) != 0 {
				t.Fatalf("uploads %v, want none", ids)
			}
			if got := be.blobs(t, "cond"); len(got) != 1 {
				t.Fatalf("blobs %v, want only the winner's object", got)
			}
		})
	}
}

func TestConditionalCopy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bucket(t, "cond")
	ctx := context.Background()
	src, err := condPut(f.e, "src", []byte("source bytes"), WriteConditions{})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := condPut(f.e, "dst", []byte("destination"), WriteConditions{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		key  string
		cond WriteConditions
		want Code
	}{
		{"if-none-match on an existing destination", "dst", WriteConditions{IfAbsent: true}, CodePreconditionFailed},
		{"if-match with the source's etag", "dst", WriteConditions{IfMatch: src.ETag}, CodePreconditionFailed},
		{"if-match on a missing destination", "none", WriteConditions{IfMatch: "*"}, CodeNoSuchKey},
		{"if-match with the destination's etag", "dst", WriteConditions{IfMatch: dst.ETag}, CodeInternal},
		{"if-none-match on a new destination", "fresh", WriteConditions{IfAbsent: true}, CodeInternal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.e.CopyObject(ctx, service(), CopyObject{SrcBucket: "cond", SrcKey: "src", DstBucket: "cond", DstKey: tc.key,
				Upsert: true, Conditions: tc.cond})
			if tc.want != CodeInternal {
				wantCode(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := readObject(t, f.e, "cond", tc.key); string(got) != "source bytes" {
				t.Fatalf("destination holds %q", got)
			}
		})
	}
	if got := f.blobs(t); len(got) != 3 { // src, dst (copied over), fresh
		t.Fatalf("blobs %v, want 3", got)
	}
}

// TestConditionalPutUnderRLS: a caller RLS does not let write a key learns nothing about
// it from a condition: Forbidden, as without one, not PreconditionFailed.
func TestConditionalPutUnderRLS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bucket(t, "cond")
	f.ownFolderPolicies(t, "cond", "select", "insert", "update")
	owner, other := "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
	key := owner + "/mine"
	if _, err := condPut(f.e, key, []byte("exists"), WriteConditions{}); err != nil {
		t.Fatal(err)
	}
	for _, cond := range []WriteConditions{{IfAbsent: true}, {IfMatch: `"0123"`}} {
		_, err := f.e.PutObject(context.Background(), user(other), PutObject{Bucket: "cond", Key: key, Body: bytes.NewReader([]byte("x")),
			Size: 1, Upsert: true, Conditions: cond})
		wantCode(t, err, CodeForbidden)
	}
	_, err := f.e.PutObject(context.Background(), user(owner), PutObject{Bucket: "cond", Key: key, Body: bytes.NewReader([]byte("x")),
		Size: 1, Upsert: true, Conditions: WriteConditions{IfAbsent: true}})
	wantCode(t, err, CodePreconditionFailed)
}
