package s3proto

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
	"time"
)

func TestDeleteObjectMissingBucketOrKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/dbb", nil, nil, 200)
	cases := []struct {
		name, target string
		status       int
		code         string
	}{
		{"missing key in existing bucket", "/s3/dbb/never", 204, ""},
		{"missing bucket", "/s3/nobucket/k", 404, "<Code>NoSuchBucket</Code>"},
		{"delete objects on missing bucket", "/s3/nobucket?delete", 404, "<Code>NoSuchBucket</Code>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method, body := "DELETE", []byte(nil)
			if strings.HasSuffix(tc.target, "?delete") {
				method, body = "POST", []byte(`<Delete><Object><Key>k</Key></Object></Delete>`)
			}
			_, data := f.must(t, method, tc.target, body, nil, tc.status)
			wantContains(t, data, tc.code)
		})
	}
}

// TestDeleteUnderRLS: an object the caller can see but may not delete is AccessDenied, in
// DeleteObject and as a per-key Error of DeleteObjects; objects it may delete are Deleted.
func TestDeleteUnderRLS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/rbb", nil, nil, 200)
	ctx := context.Background()
	for _, q := range []string{
		`create policy rls_select on storage.objects for select to authenticated using (bucket_id = 'rbb')`,
		`create policy rls_delete on storage.objects for delete to authenticated using (bucket_id = 'rbb' and name like 'mine/%')`,
	} {
		if _, err := f.db.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"mine/a", "mine/b", "theirs/a", "theirs/b"} {
		f.must(t, "PUT", "/s3/rbb/"+k, []byte(k), nil, 200)
	}
	userJWT, _ := f.verifier.Sign(map[string]any{"role": "authenticated", "sub": "8d1b7c1e-0000-4000-8000-000000000003", "exp": time.Now().Add(time.Hour).Unix()})
	user := creds{ak: testTenant, secret: f.anonKey, token: userJWT}
	cases := []struct {
		name, method, target, body string
		status                     int
		want, wantNot              []string
		gone, kept                 []string
	}{
		{"delete objects mixed", "POST", "/s3/rbb?delete",
			`<Delete><Object><Key>mine/a</Key></Object><Object><Key>theirs/a</Key></Object><Object><Key>mine/never</Key></Object></Delete>`, 200,
			[]string{"<Deleted><Key>mine/a</Key></Deleted>", "<Deleted><Key>mine/never</Key></Deleted>",
				"<Error><Key>theirs/a</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"},
			[]string{"<Deleted><Key>theirs/a</Key>"}, []string{"mine/a"}, []string{"theirs/a"}},
		{"delete objects quiet still reports refusals", "POST", "/s3/rbb?delete",
			`<Delete><Quiet>true</Quiet><Object><Key>theirs/b</Key></Object><Object><Key>mine/b</Key></Object></Delete>`, 200,
			[]string{"<Error><Key>theirs/b</Key><Code>AccessDenied</Code>"}, []string{"<Deleted>"}, []string{"mine/b"}, []string{"theirs/b"}},
		{"delete object refused", "DELETE", "/s3/rbb/theirs/a", "", 403, []string{"<Code>AccessDenied</Code>"}, nil, nil, []string{"theirs/a"}},
		{"delete object missing key", "DELETE", "/s3/rbb/mine/never", "", 204, nil, nil, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := f.do(t, user, tc.method, tc.target, []byte(tc.body), nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s", resp.StatusCode, data)
			}
			wantContains(t, data, tc.want...)
			for _, s := range tc.wantNot {
				if strings.Contains(string(data), s) {
					t.Fatalf("response has %q: %s", s, data)
				}
			}
			for _, k := range tc.gone {
				f.must(t, "HEAD", "/s3/rbb/"+k, nil, nil, 404)
			}
			for _, k := range tc.kept {
				f.must(t, "HEAD", "/s3/rbb/"+k, nil, nil, 200)
			}
		})
	}
}

// TestDeleteObjectsUnsignedPayload: with UNSIGNED-PAYLOAD no signature covers the key list,
// so S3 requires Content-MD5 or an x-amz-checksum-* header; without one nothing is deleted.
func TestDeleteObjectsUnsignedPayload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/ubb", nil, nil, 200)
	f.must(t, "PUT", "/s3/ubb/k", []byte("k"), nil, 200)
	doc := []byte(`<Delete><Object><Key>k</Key></Object></Delete>`)
	sum := md5.Sum(doc)
	crc := crc32.ChecksumIEEE(doc)
	cases := []struct {
		name   string
		hdr    map[string]string
		status int
		want   string
	}{
		{"no digest", nil, 400, "<Code>InvalidRequest</Code>"},
		{"wrong Content-MD5", map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(make([]byte, 16))}, 400, "<Code>BadDigest</Code>"},
		{"Content-MD5", map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(sum[:])}, 200, "<Deleted><Key>k</Key></Deleted>"},
		{"x-amz-checksum-crc32", map[string]string{"x-amz-checksum-crc32": base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc))}, 200, "<Deleted><Key>k</Key></Deleted>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.must(t, "PUT", "/s3/ubb/k", []byte("k"), nil, 200)
			resp, data := f.doSignedWith(t, "POST", "/s3/ubb?delete", doc, "UNSIGNED-PAYLOAD", false, tc.hdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s", resp.StatusCode, data)
			}
			wantContains(t, data, tc.want)
			if tc.status != 200 {
				f.must(t, "HEAD", "/s3/ubb/k", nil, nil, 200) // a refused request deletes nothing
			} else {
				f.must(t, "HEAD", "/s3/ubb/k", nil, nil, 404)
			}
		})
	}
	// The message names both ways, as S3's does.
	resp, data := f.doSignedWith(t, "POST", "/s3/ubb?delete", doc, "UNSIGNED-PAYLOAD", false, nil)
	if resp.StatusCode != 400 || !strings.Contains(string(data), "Content-MD5 OR x-amz-checksum-*") {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
}
