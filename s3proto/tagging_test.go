package s3proto

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMultipartTaggingHeader: x-amz-tagging on CreateMultipartUpload carries to the completed
// object.
func TestMultipartTaggingHeader(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/mpt", nil, nil, 200)
	_, data := f.must(t, "POST", "/s3/mpt/obj?uploads", nil, map[string]string{"x-amz-tagging": "env=prod&team=a%20b"}, 200)
	id := between(string(data), "<UploadId>", "</UploadId>")
	resp, _ := f.must(t, "PUT", "/s3/mpt/obj?partNumber=1&uploadId="+id, []byte("part one"), nil, 200)
	etag := resp.Header.Get("ETag")
	complete := "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + etag + "</ETag></Part></CompleteMultipartUpload>"
	f.must(t, "POST", "/s3/mpt/obj?uploadId="+id, []byte(complete), nil, 200)
	_, data = f.must(t, "GET", "/s3/mpt/obj?tagging", nil, nil, 200)
	wantContains(t, data, "<Tag><Key>env</Key><Value>prod</Value></Tag>", "<Tag><Key>team</Key><Value>a b</Value></Tag>")
	resp, _ = f.must(t, "HEAD", "/s3/mpt/obj", nil, nil, 200)
	if resp.Header.Get("x-amz-tagging-count") != "2" {
		t.Fatalf("x-amz-tagging-count %q", resp.Header.Get("x-amz-tagging-count"))
	}
}

// invalidTagSets are tag sets S3 rejects with InvalidTag: more than 10, a key over 128 or a
// value over 256 characters, an empty key, a duplicate key.
func invalidTagSets(max int) map[string][][2]string {
	many := make([][2]string, max+1)
	for i := range many {
		many[i] = [2]string{"k" + strconv.Itoa(i), "v"}
	}
	return map[string][][2]string{
		"too many":      many,
		"long key":      {{strings.Repeat("k", 129), "v"}},
		"long value":    {{"k", strings.Repeat("v", 257)}},
		"empty key":     {{"", "v"}},
		"duplicate key": {{"k", "1"}, {"k", "2"}},
	}
}

func taggingDoc(tags [][2]string) string {
	doc := "<Tagging><TagSet>"
	for _, t := range tags {
		doc += "<Tag><Key>" + t[0] + "</Key><Value>" + t[1] + "</Value></Tag>"
	}
	return doc + "</TagSet></Tagging>"
}

func taggingQuery(tags [][2]string) string {
	var parts []string
	for _, t := range tags {
		parts = append(parts, url.QueryEscape(t[0])+"="+url.QueryEscape(t[1]))
	}
	return strings.Join(parts, "&")
}

// TestInvalidTags: invalid tags are 400 InvalidTag on PutObject, CreateMultipartUpload and
// PutObjectTagging, and nothing changes.
func TestInvalidTags(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/badtags", nil, nil, 200)
	f.must(t, "PUT", "/s3/badtags/existing", []byte("x"), map[string]string{"x-amz-tagging": "a=1"}, 200)
	sets := invalidTagSets(10)
	sets["bad encoding"] = nil
	for name, tags := range sets {
		t.Run(name, func(t *testing.T) {
			header := taggingQuery(tags)
			if tags == nil {
				header = "k=%zz"
			}
			_, data := f.must(t, "PUT", "/s3/badtags/new", []byte("x"), map[string]string{"x-amz-tagging": header}, 400)
			wantContains(t, data, "<Code>InvalidTag</Code>")
			f.must(t, "HEAD", "/s3/badtags/new", nil, nil, 404)
			_, data = f.must(t, "POST", "/s3/badtags/new?uploads", nil, map[string]string{"x-amz-tagging": header}, 400)
			wantContains(t, data, "<Code>InvalidTag</Code>")
			if tags == nil {
				return
			}
			_, data = f.must(t, "PUT", "/s3/badtags/existing?tagging", []byte(taggingDoc(tags)), nil, 400)
			wantContains(t, data, "<Code>InvalidTag</Code>")
			if strings.Contains(string(data), "<Message>InvalidArgument") {
				t.Fatalf("engine error text in the message: %s", data)
			}
			_, data = f.must(t, "GET", "/s3/badtags/existing?tagging", nil, nil, 200)
			wantContains(t, data, "<Key>a</Key><Value>1</Value>")
		})
	}
	_, data := f.must(t, "GET", "/s3/badtags?uploads", nil, nil, 200)
	if strings.Contains(string(data), "<Upload>") {
		t.Fatalf("an upload was started: %s", data)
	}
}

// TestBucketTagging: Get/Put/DeleteBucketTagging keep a bucket's tags (at most 50, else
// InvalidTag); a bucket without tags answers 404 NoSuchTagSet. A user who may see but not
// update the bucket cannot change them (AccessDenied); one who may update it can.
func TestBucketTagging(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/tbk", nil, nil, 200)
	_, data := f.must(t, "GET", "/s3/tbk?tagging", nil, nil, 404)
	wantContains(t, data, "<Code>NoSuchTagSet</Code>")
	doc := `<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>env</Key><Value>prod</Value></Tag><Tag><Key>team</Key><Value>storage</Value></Tag></TagSet></Tagging>`
	f.must(t, "PUT", "/s3/tbk?tagging", []byte(doc), nil, 204)
	_, data = f.must(t, "GET", "/s3/tbk?tagging", nil, nil, 200)
	wantContains(t, data, "<Tag><Key>env</Key><Value>prod</Value></Tag><Tag><Key>team</Key><Value>storage</Value></Tag>")
	// The bucket itself is unchanged and still listed.
	_, data = f.must(t, "GET", "/s3/", nil, nil, 200)
	wantContains(t, data, "<Name>tbk</Name>")

	fifty := make([][2]string, 50)
	for i := range fifty {
		fifty[i] = [2]string{"k" + strconv.Itoa(i), "v"}
	}
	f.must(t, "PUT", "/s3/tbk?tagging", []byte(taggingDoc(fifty)), nil, 204)
	_, data = f.must(t, "GET", "/s3/tbk?tagging", nil, nil, 200)
	wantContains(t, data, "<Key>k49</Key>")
	_, data = f.must(t, "PUT", "/s3/tbk?tagging", []byte(taggingDoc(append(fifty, [2]string{"k50", "v"}))), nil, 400)
	wantContains(t, data, "<Code>InvalidTag</Code>", "Bucket tag count cannot be greater than 50")
	for name, tags := range invalidTagSets(50) {
		t.Run(name, func(t *testing.T) {
			_, data := f.must(t, "PUT", "/s3/tbk?tagging", []byte(taggingDoc(tags)), nil, 400)
			wantContains(t, data, "<Code>InvalidTag</Code>")
		})
	}
	_, data = f.must(t, "GET", "/s3/tbk?tagging", nil, nil, 200)
	wantContains(t, data, "<Key>k49</Key>")

	f.must(t, "DELETE", "/s3/tbk?tagging", nil, nil, 204)
	_, data = f.must(t, "GET", "/s3/tbk?tagging", nil, nil, 404)
	wantContains(t, data, "<Code>NoSuchTagSet</Code>")
	_, data = f.must(t, "PUT", "/s3/missing-bucket?tagging", []byte(doc), nil, 404)
	wantContains(t, data, "<Code>NoSuchBucket</Code>")

	// RLS: users see both buckets, may update only "tb-open".
	f.must(t, "PUT", "/s3/tb-open", nil, nil, 200)
	ctx := context.Background()
	for _, q := range []string{
		`create policy tb_select on storage.buckets for select to authenticated using (id in ('tbk', 'tb-open'))`,
		`create policy tb_update on storage.buckets for update to authenticated using (id = 'tb-open')`,
	} {
		if _, err := f.db.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	userJWT, _ := f.verifier.Sign(map[string]any{"role": "authenticated", "sub": "8d1b7c1e-0000-4000-8000-000000000004", "exp": time.Now().Add(time.Hour).Unix()})
	user := creds{ak: testTenant, secret: f.anonKey, token: userJWT}
	resp, data := f.do(t, user, "PUT", "/s3/tbk?tagging", []byte(doc), nil)
	if resp.StatusCode != 403 || !strings.Contains(string(data), "<Code>AccessDenied</Code>") {
		t.Fatalf("tagging a bucket the user may not update: %d %s", resp.StatusCode, data)
	}
	if resp, data = f.do(t, user, "DELETE", "/s3/tbk?tagging", nil, nil); resp.StatusCode != 403 {
		t.Fatalf("untagging a bucket the user may not update: %d %s", resp.StatusCode, data)
	}
	f.must(t, "PUT", "/s3/tbk?tagging", []byte(doc), nil, 204)
	if resp, data = f.do(t, user, "GET", "/s3/tbk?tagging", nil, nil); resp.StatusCode != 200 || !strings.Contains(string(data), "<Key>env</Key>") {
		t.Fatalf("reading a visible bucket's tags: %d %s", resp.StatusCode, data)
	}
	if resp, data = f.do(t, user, "PUT", "/s3/tb-open?tagging", []byte(doc), nil); resp.StatusCode != 204 {
		t.Fatalf("tagging a bucket the user may update: %d %s", resp.StatusCode, data)
	}
	_, data = f.must(t, "GET", "/s3/tb-open?tagging", nil, nil, 200)
	wantContains(t, data, "<Key>team</Key><Value>storage</Value>")
	// Deleting the bucket takes its tags with it.
	f.must(t, "DELETE", "/s3/tb-open", nil, nil, 204)
	f.must(t, "PUT", "/s3/tb-open", nil, nil, 200)
	f.must(t, "GET", "/s3/tb-open?tagging", nil, nil, 404)
}
