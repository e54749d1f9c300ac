package gateway

import (
	"context"
	"strings"
	"testing"
)

func TestValidS3BucketName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ok   bool
	}{
		{"abc", true},
		{"my.bucket-1", true},
		{strings.Repeat("a", 63), true},
		{"192.168.5.4x", true},
		{"ab", false},
		{strings.Repeat("a", 64), false},
		{"Upper", false},
		{"under_score", false},
		{"-lead", false},
		{".lead", false},
		{"trail-", false},
		{"trail.", false},
		{"two..dots", false},
		{"dot.-hyphen", false},
		{"hyphen-.dot", false},
		{"192.168.5.4", false},
		{"xn--abc", false},
		{"sthree-abc", false},
		{"amzn-s3-demo-abc", false},
		{"abc-s3alias", false},
		{"abc--ol-s3", false},
		{"abc.mrap", false},
		{"abc--x-s3", false},
		{"abc--table-s3", false},
		{"sp ace", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidS3BucketName(tc.name); got != tc.ok {
				t.Fatalf("ValidS3BucketName(%q) = %v, want %v", tc.name, got, tc.ok)
			}
		})
	}
}

// TestCreateBucketS3 covers S3's CreateBucket: its naming rules, and BucketAlreadyOwnedByYou
// for an owner (the service role owns every bucket; a user the ones they created), while
// the REST dialect keeps the reference's rules and BucketAlreadyExists.
func TestCreateBucketS3(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, q := range []string{
		`create policy "users create buckets" on storage.buckets for insert to authenticated with check (true)`,
		`create policy "users see buckets" on storage.buckets for select to authenticated using (true)`,
	} {
		if _, err := f.db.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s3 := func(c Caller, id string) error {
		_, err := f.e.CreateBucket(ctx, c, CreateBucket{ID: id, FileSizeLimit: NoLimit, S3Names: true})
		return err
	}
	_, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: "Legacy_Name", FileSizeLimit: NoLimit})
	if err != nil {
		t.Fatalf("REST keeps the reference's rules: %v", err)
	}
	// S3's rules are for new buckets: an existing one is answered as existing.
	wantCode(t, s3(service(), "Legacy_Name"), CodeBucketAlreadyOwnedByYou)
	wantCode(t, s3(service(), "New_Name"), CodeInvalidBucketName)
	wantCode(t, s3(service(), "ab"), CodeInvalidBucketName)
	if err := s3(service(), "svc-bucket"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s3(service(), "svc-bucket"), CodeBucketAlreadyOwnedByYou)
	_, err = f.e.CreateBucket(ctx, service(), CreateBucket{ID: "svc-bucket", FileSizeLimit: NoLimit})
	wantCode(t, err, CodeBucketAlreadyExists)

	const u1, u2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
	if err := s3(user(u1), "user-bucket"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s3(user(u1), "user-bucket"), CodeBucketAlreadyOwnedByYou)
	wantCode(t, s3(user(u2), "user-bucket"), CodeBucketAlreadyExists)
	wantCode(t, s3(user(u1), "svc-bucket"), CodeBucketAlreadyExists)
}
