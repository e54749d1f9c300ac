package s3proto

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// postField is one form field, in the order it is sent.
type postField struct{ name, value string }

// postForm is a browser POST upload before signing.
type postForm struct {
	creds      creds
	expiration time.Time
	conditions []any
	fields     []postField // besides the signature fields
	filename   string
	file       []byte
	// tamper, when set, edits the signed fields (e.g. to break the signature).
	tamper func([]postField) []postField
	// header holds request headers (If-None-Match, ...), which the policy does not sign.
	header map[string]string
}

// hmacSHA256 is one step of the AWS key derivation.
func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signedFields signs the policy as AWS documents for browser uploads: the policy is
// base64 JSON, x-amz-signature = hex(HMAC(signing key, base64 policy)).
func (p postForm) signedFields(now time.Time) []postField {
	policy, _ := json.Marshal(map[string]any{"expiration": p.expiration.UTC().Format("2006-01-02T15:04:05.000Z"), "conditions": p.conditions})
	b64 := base64.StdEncoding.EncodeToString(policy)
	date := now.UTC().Format("20060102")
	key := hmacSHA256([]byte("AWS4"+p.creds.secret), date)
	for _, s := range []string{testRegion, "s3", "aws4_request"} {
		key = hmacSHA256(key, s)
	}
	out := append([]postField{}, p.fields...)
	out = append(out,
		postField{"policy", b64},
		postField{"x-amz-algorithm", "AWS4-HMAC-SHA256"},
		postField{"x-amz-credential", p.creds.ak + "/" + date + "/" + testRegion + "/s3/aws4_request"},
		postField{"x-amz-date", now.UTC().Format("20060102T150405Z")},
		postField{"x-amz-signature", hex.EncodeToString(hmacSHA256(key, b64))},
	)
	if p.creds.token != "" {
		out = append(out, postField{"x-amz-security-token", p.creds.token})
	}
	if p.tamper != nil {
		out = p.tamper(out)
	}
	return out
}

// post sends the signed form to target with Go's mime/multipart, the file part last.
func (f *fixture) post(t *testing.T, target string, p postForm) (*http.Response, []byte) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, fld := range p.signedFields(time.Now()) {
		if err := w.WriteField(fld.name, fld.value); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("file", p.filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(p.file)
	w.Close()
	req, err := http.NewRequest("POST", "http://127.0.0.1:5000"+target, &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	for k, v := range p.header {
		req.Header.Set(k, v)
	}
	resp, err := f.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, data
}

func TestPostObject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/pbb", nil, nil, 200)
	userJWT, _ := f.verifier.Sign(map[string]any{"role": "authenticated", "sub": "8d1b7c1e-0000-4000-8000-000000000002", "exp": time.Now().Add(time.Hour).Unix()})
	user := creds{ak: testTenant, secret: f.anonKey, token: userJWT}
	later := time.Now().Add(time.Hour)
	base := func(key string, extra ...any) []any {
		return append([]any{map[string]string{"bucket": "pbb"}, []any{"eq", "$key", key}}, extra...)
	}
	cases := []struct {
		name       string
		form       postForm
		wantStatus int
		wantCode   string // error code, or a fragment of the success body
		stored     string // key that must exist afterwards ("" = none checked)
		notStored  string // key that must not exist afterwards
	}{
		{"default status", postForm{creds: serviceCreds, expiration: later, conditions: base("plain.txt"),
			fields: []postField{{"key", "plain.txt"}}, filename: "a.txt", file: []byte("plain")}, 200, "", "plain.txt", ""},
		{"201 with content type and metadata", postForm{creds: serviceCreds, expiration: later,
			conditions: base("dir/meta.txt", []any{"starts-with", "$Content-Type", "text/"}, map[string]string{"x-amz-meta-color": "blue"},
				map[string]string{"success_action_status": "201"}),
			fields:   []postField{{"key", "dir/meta.txt"}, {"Content-Type", "text/plain"}, {"X-Amz-Meta-Color", "blue"}, {"success_action_status", "201"}},
			filename: "m.txt", file: []byte("with metadata")}, 201, "<PostResponse><Location>http://127.0.0.1:5000/s3/pbb/dir/meta.txt</Location><Bucket>pbb</Bucket><Key>dir/meta.txt</Key><ETag>", "dir/meta.txt", ""},
		{"204", postForm{creds: serviceCreds, expiration: later, conditions: base("s204", map[string]string{"success_action_status": "204"}),
			fields: []postField{{"key", "s204"}, {"success_action_status", "204"}}, filename: "x", file: []byte("x")}, 204, "", "s204", ""},
		{"filename substituted", postForm{creds: serviceCreds, expiration: later,
			conditions: []any{map[string]string{"bucket": "pbb"}, []any{"starts-with", "$key", "uploads/"}},
			fields:     []postField{{"key", "uploads/${filename}"}}, filename: "photo.jpg", file: []byte("jpeg")}, 200, "", "uploads/photo.jpg", ""},
		{"within length range", postForm{creds: serviceCreds, expiration: later, conditions: base("ranged", []any{"content-length-range", 1, 5}),
			fields: []postField{{"key", "ranged"}}, filename: "r", file: []byte("12345")}, 200, "", "ranged", ""},
		{"expired policy", postForm{creds: serviceCreds, expiration: time.Now().Add(-time.Minute), conditions: base("expired"),
			fields: []postField{{"key", "expired"}}, filename: "e", file: []byte("e")}, 400, "<Code>ExpiredToken</Code>", "", "expired"},
		{"bad signature", postForm{creds: creds{ak: testAccessKey, secret: "wrong"}, expiration: later, conditions: base("badsig"),
			fields: []postField{{"key", "badsig"}}, filename: "b", file: []byte("b")}, 403, "<Code>SignatureDoesNotMatch</Code>", "", "badsig"},
		{"field changed after signing", postForm{creds: serviceCreds, expiration: later, conditions: base("tampered"),
			fields: []postField{{"key", "tampered"}}, filename: "t", file: []byte("t"),
			tamper: func(fs []postField) []postField {
				for i := range fs {
					if fs[i].name == "key" {
						fs[i].value = "elsewhere"
					}
				}
				return fs
			}}, 403, "<Code>AccessDenied</Code>", "", "elsewhere"},
		{"eq condition fails", postForm{creds: serviceCreds, expiration: later, conditions: base("ct", map[string]string{"content-type": "image/png"}),
			fields: []postField{{"key", "ct"}, {"Content-Type", "text/html"}}, filename: "c", file: []byte("c")}, 403, "<Code>AccessDenied</Code>", "", "ct"},
		{"starts-with fails", postForm{creds: serviceCreds, expiration: later,
			conditions: []any{map[string]string{"bucket": "pbb"}, []any{"starts-with", "$key", "uploads/"}},
			fields:     []postField{{"key", "other/${filename}"}}, filename: "f", file: []byte("f")}, 403, "<Code>AccessDenied</Code>", "", "other/f"},
		{"bucket condition fails", postForm{creds: serviceCreds, expiration: later,
			conditions: []any{map[string]string{"bucket": "elsewhere"}, []any{"eq", "$key", "wrongbucket"}},
			fields:     []postField{{"key", "wrongbucket"}}, filename: "w", file: []byte("w")}, 403, "<Code>AccessDenied</Code>", "", "wrongbucket"},
		{"uncovered field", postForm{creds: serviceCreds, expiration: later, conditions: base("uncovered"),
			fields: []postField{{"key", "uncovered"}, {"x-amz-meta-sneaky", "1"}}, filename: "u", file: []byte("u")}, 403, "<Code>AccessDenied</Code>", "", "uncovered"},
		{"duplicate field", postForm{creds: serviceCreds, expiration: later, conditions: base("dup"),
			fields: []postField{{"key", "dup"}, {"Key", "dup"}}, filename: "d", file: []byte("d")}, 400, "<Code>InvalidArgument</Code>", "", "dup"},
		{"too large for range", postForm{creds: serviceCreds, expiration: later, conditions: base("big", []any{"content-length-range", 1, 4}),
			fields: []postField{{"key", "big"}}, filename: "b", file: []byte("12345")}, 413, "<Code>EntityTooLarge</Code>", "", "big"},
		{"too small for range", postForm{creds: serviceCreds, expiration: later, conditions: base("small", []any{"content-length-range", 3, 10}),
			fields: []postField{{"key", "small"}}, filename: "s", file: []byte("12")}, 400, "<Code>EntityTooSmall</Code>", "", "small"},
		{"session token without RLS policy", postForm{creds: user, expiration: later, conditions: base("user"),
			fields: []postField{{"key", "user"}}, filename: "u", file: []byte("u")}, 403, "<Code>AccessDenied</Code>", "", "user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := f.post(t, "/s3/pbb", tc.form)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(string(data), tc.wantCode) {
				t.Fatalf("%d %s; want %d %s", resp.StatusCode, data, tc.wantStatus, tc.wantCode)
			}
			if tc.stored != "" {
				_, got := f.must(t, "GET", "/s3/pbb/"+tc.stored, nil, nil, 200)
				if !bytes.Equal(got, tc.form.file) {
					t.Fatalf("stored %q, want %q", got, tc.form.file)
				}
				if etag := resp.Header.Get("ETag"); etag == "" {
					t.Fatal("no ETag")
				}
			}
			if tc.notStored != "" {
				f.must(t, "GET", "/s3/pbb/"+tc.notStored, nil, nil, 404)
			}
		})
	}
	t.Run("content type and metadata stored", func(t *testing.T) {
		resp, _ := f.must(t, "HEAD", "/s3/pbb/dir/meta.txt", nil, nil, 200)
		if resp.Header.Get("Content-Type") != "text/plain" || resp.Header.Get("x-amz-meta-color") != "blue" {
			t.Fatalf("headers %v", resp.Header)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		resp, _ := f.post(t, "/s3/pbb", postForm{creds: serviceCreds, expiration: later,
			conditions: base("redir", []any{"starts-with", "$success_action_redirect", "https://app.example/"}),
			fields:     []postField{{"key", "redir"}, {"success_action_redirect", "https://app.example/done?x=1"}}, filename: "r", file: []byte("r")})
		if resp.StatusCode != 303 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		u, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || u.Host != "app.example" || u.Query().Get("x") != "1" || u.Query().Get("bucket") != "pbb" ||
			u.Query().Get("key") != "redir" || u.Query().Get("etag") == "" {
			t.Fatalf("location %q", resp.Header.Get("Location"))
		}
	})
	t.Run("session token with RLS policy", func(t *testing.T) {
		ctx := context.Background()
		for _, q := range []string{
			`create policy post_insert on storage.objects for insert to authenticated with check (bucket_id = 'pbb')`,
			`create policy post_select on storage.objects for select to authenticated using (bucket_id = 'pbb' and owner_id = auth.uid()::text)`,
			`create policy post_update on storage.objects for update to authenticated using (bucket_id = 'pbb' and owner_id = auth.uid()::text)`,
		} {
			if _, err := f.db.Pool().Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		resp, data := f.post(t, "/s3/pbb", postForm{creds: user, expiration: later, conditions: base("user"),
			fields: []postField{{"key", "user"}}, filename: "u", file: []byte("user bytes")})
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, data)
		}
		resp, data = f.do(t, user, "GET", "/s3/pbb/user", nil, nil)
		if resp.StatusCode != 200 || string(data) != "user bytes" {
			t.Fatalf("%d %s", resp.StatusCode, data)
		}
	})
	t.Run("no file part", func(t *testing.T) {
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		w.WriteField("key", "nofile")
		w.Close()
		req, _ := http.NewRequest("POST", "http://127.0.0.1:5000/s3/pbb", &body)
		req.Header.Set("Content-Type", w.FormDataContentType())
		resp, err := f.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(data), "InvalidArgument") {
			t.Fatalf("%d %s", resp.StatusCode, data)
		}
	})
	t.Run("too many fields", func(t *testing.T) {
		p := postForm{creds: serviceCreds, expiration: later, conditions: base("many"), filename: "m", file: []byte("m")}
		for i := range maxPostFields {
			p.fields = append(p.fields, postField{"x-ignore-" + string(rune('a'+i)), "v"})
		}
		resp, data := f.post(t, "/s3/pbb", p)
		if resp.StatusCode != 400 || !strings.Contains(string(data), "MaxPostPreDataLengthExceeded") {
			t.Fatalf("%d %s", resp.StatusCode, data)
		}
	})
}

// TestPostObjectACLAndConditions: the acl field is PutObject's x-amz-acl (public-read only
// in a public bucket, unsupported ACLs 501, unknown ones 400), and If-None-Match: * /
// If-Match request headers condition the write as on PutObject. A refused form stores nothing.
func TestPostObjectACLAndConditions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/pacl", nil, nil, 200)
	f.must(t, "PUT", "/s3/pacl-pub", nil, map[string]string{"x-amz-acl": "public-read"}, 200)
	later := time.Now().Add(time.Hour)
	form := func(bucket, key, acl string, hdr map[string]string, file string) postForm {
		cond := []any{map[string]string{"bucket": bucket}, []any{"eq", "$key", key}}
		fields := []postField{{"key", key}}
		if acl != "" {
			cond = append(cond, map[string]string{"acl": acl})
			fields = append(fields, postField{"acl", acl})
		}
		return postForm{creds: serviceCreds, expiration: later, conditions: cond, fields: fields, filename: "f", file: []byte(file), header: hdr}
	}
	f.must(t, "PUT", "/s3/pacl/exists", []byte("old"), nil, 200)
	resp, _ := f.must(t, "HEAD", "/s3/pacl/exists", nil, nil, 200)
	etag := resp.Header.Get("ETag")
	cases := []struct {
		name, bucket, key, acl string
		hdr                    map[string]string
		status                 int
		code                   string
		want                   string // the object's bytes afterwards; "" = must not exist
	}{
		{"acl private", "pacl", "a-private", "private", nil, 200, "", "new"},
		{"acl bucket-owner-full-control", "pacl", "a-owner", "bucket-owner-full-control", nil, 200, "", "new"},
		{"acl public-read in a public bucket", "pacl-pub", "a-public", "public-read", nil, 200, "", "new"},
		{"acl public-read in a private bucket", "pacl", "a-pub-in-priv", "public-read", nil, 501, "<Code>NotImplemented</Code>", ""},
		{"acl public-read-write", "pacl-pub", "a-prw", "public-read-write", nil, 501, "<Code>NotImplemented</Code>", ""},
		{"acl unknown", "pacl", "a-unknown", "everyone", nil, 400, "<Code>InvalidArgument</Code>", ""},
		{"If-None-Match on a new key", "pacl", "c-new", "", map[string]string{"If-None-Match": "*"}, 200, "", "new"},
		{"If-None-Match on an existing key", "pacl", "exists", "", map[string]string{"If-None-Match": "*"}, 412, "<Code>PreconditionFailed</Code>", "old"},
		{"If-Match another ETag", "pacl", "exists", "", map[string]string{"If-Match": `"0123456789abcdef0123456789abcdef"`}, 412, "<Code>PreconditionFailed</Code>", "old"},
		{"If-Match on a missing key", "pacl", "c-missing", "", map[string]string{"If-Match": etag}, 404, "<Code>NoSuchKey</Code>", ""},
		{"If-None-Match other than *", "pacl", "c-etag", "", map[string]string{"If-None-Match": etag}, 501, "<Code>NotImplemented</Code>", ""},
		{"If-Match the ETag", "pacl", "exists", "", map[string]string{"If-Match": etag}, 200, "", "new"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := f.post(t, "/s3/"+tc.bucket, form(tc.bucket, tc.key, tc.acl, tc.hdr, "new"))
			if resp.StatusCode != tc.status || !strings.Contains(string(data), tc.code) {
				t.Fatalf("%d %s; want %d %s", resp.StatusCode, data, tc.status, tc.code)
			}
			if tc.want == "" {
				f.must(t, "HEAD", "/s3/"+tc.bucket+"/"+tc.key, nil, nil, 404)
				return
			}
			if _, got := f.must(t, "GET", "/s3/"+tc.bucket+"/"+tc.key, nil, nil, 200); string(got) != tc.want {
				t.Fatalf("object holds %q, want %q", got, tc.want)
			}
		})
	}
}
