package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stowage/stowage/gateway/auth"
)

// twoStepPublic is what the REST downloads did before GetObject.Public: read the bucket as
// the service, apply the rule, then read the object as the service or the caller.
func twoStepPublic(ctx context.Context, e *Engine, c Caller, bucket, key string, rule PublicRule) (Object, error) {
	b, err := e.GetBucketAsService(ctx, c, bucket)
	if err != nil {
		return Object{}, err
	}
	if !b.Public && rule == PublicOnly {
		return Object{}, &Error{Code: CodeNoSuchBucket, Bucket: bucket}
	}
	return e.HeadObject(ctx, c, bucket, key, b.Public)
}

// TestPublicRuleAnswersAsTwoSteps: the one-round-trip read under a public-bucket rule
// answers every caller, bucket and key exactly as reading the bucket first did: the object
// of a public bucket whoever asks, a private bucket's under RLS or NoSuchBucket, a missing
// bucket or key, names that fail validation, and a caller whose role the database lacks.
func TestPublicRuleAnswersAsTwoSteps(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: "pub", Public: true, FileSizeLimit: NoLimit}); err != nil {
		t.Fatal(err)
	}
	f.bucket(t, "priv")
	const owner = "6f0c1d7e-0000-4000-8000-0000000000a1"
	if _, err := f.db.Pool().Exec(ctx, `create policy priv_read on storage.objects for select to authenticated
		using (bucket_id = 'priv' and owner_id = auth.uid()::text)`); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"pub", "priv"} {
		if _, err := f.put(t, user(owner), b, "doc.txt", []byte("x"), false); err != nil {
			if _, err := f.put(t, service(), b, "doc.txt", []byte("x"), false); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The owner of priv/doc.txt is set by SQL: RLS policies for insert are not the point.
	if _, err := f.db.Pool().Exec(ctx, `update storage.objects set owner_id = $1 where bucket_id = 'priv'`, owner); err != nil {
		t.Fatal(err)
	}
	callers := map[string]Caller{
		"anon":     anon(),
		"owner":    user(owner),
		"stranger": user("6f0c1d7e-0000-4000-8000-0000000000b2"),
		"service":  service(),
		"no-role":  {Principal: auth.Principal{Role: "no_such_role", Claims: `{"role":"no_such_role"}`}},
	}
	buckets := []string{"pub", "priv", "missing", "Bad/Name"}
	keys := []string{"doc.txt", "none.txt", "", strings.Repeat("k", 2000)}
	checked := 0
	for cn, c := range callers {
		for _, b := range buckets {
			for _, k := range keys {
				for _, rule := range []PublicRule{PublicRead, PublicOnly} {
					name := fmt.Sprintf("%s %s/%.12s rule %d", cn, b, k, rule)
					want, wantErr := twoStepPublic(ctx, f.e, c, b, k, rule)
					r, err := f.e.StatObject(ctx, c, GetObject{Bucket: b, Key: k, Public: rule})
					if CodeOf(err) != CodeOf(wantErr) || (err == nil) != (wantErr == nil) {
						t.Errorf("%s: %v, want %v", name, err, wantErr)
						continue
					}
					if err == nil && (r.Object.ID != want.ID || r.Object.ETag != want.ETag) {
						t.Errorf("%s: object %s, want %s", name, r.Object.ID, want.ID)
					}
					checked++
				}
			}
		}
	}
	// The cases that matter are among them: a public object for anyone, a private one for
	// its owner only.
	for _, tc := range []struct {
		c      Caller
		bucket string
		rule   PublicRule
		want   string // "ok" or the error's code
	}{
		{anon(), "pub", PublicOnly, "ok"},
		{anon(), "priv", PublicOnly, fmt.Sprint(CodeNoSuchBucket)},
		{user(owner), "priv", PublicRead, "ok"},
		{callers["stranger"], "priv", PublicRead, fmt.Sprint(CodeNoSuchKey)},
		{callers["stranger"], "pub", PublicRead, "ok"},
		{callers["no-role"], "pub", PublicRead, "ok"},
	} {
		_, err := f.e.StatObject(ctx, tc.c, GetObject{Bucket: tc.bucket, Key: "doc.txt", Public: tc.rule})
		got := "ok"
		if err != nil {
			got = fmt.Sprint(CodeOf(err))
		}
		if got != tc.want {
			t.Errorf("%s on %s rule %d: %v, want %s", tc.c.Role, tc.bucket, tc.rule, err, tc.want)
		}
	}
	t.Logf("%d combinations answered as the two-step read", checked)
}
