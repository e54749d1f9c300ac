package s3proto

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// signV2 is base64(HMAC-SHA1(secret, stringToSign)).
func signV2(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// v2StringToSign builds SigV2's string to sign as s3cmd does: x-amz-date (so an empty Date
// line), then the x-amz-* headers sorted, then resource (the path as sent plus the signed
// sub-resources, written out by each test).
func v2StringToSign(method, resource string, hdr map[string]string) string {
	var amz []string
	for k, v := range hdr {
		if k = strings.ToLower(k); strings.HasPrefix(k, "x-amz-") {
			amz = append(amz, k+":"+v+"\n")
		}
	}
	slices.Sort(amz)
	get := func(name string) string {
		for k, v := range hdr {
			if strings.EqualFold(k, name) {
				return v
			}
		}
		return ""
	}
	return method + "\n" + get("Content-MD5") + "\n" + get("Content-Type") + "\n\n" + strings.Join(amz, "") + resource
}

// doV2 sends a request signed with "Authorization: AWS key:signature". target is the URL
// path and query as sent; resource what the client signed (see v2StringToSign).
func (f *fixture) doV2(t *testing.T, c creds, method, host, target, resource string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	h := map[string]string{"x-amz-date": time.Now().UTC().Format(time.RFC1123Z)}
	for k, v := range hdr {
		h[k] = v
	}
	if c.token != "" {
		h["x-amz-security-token"] = c.token
	}
	req, err := http.NewRequest(method, "http://"+host+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	for k, v := range h {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "AWS "+c.ak+":"+signV2(c.secret, v2StringToSign(method, resource, h)))
	return f.sendV2(t, req)
}

func (f *fixture) sendV2(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := f.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, data
}

func wantS3(t *testing.T, what string, resp *http.Response, data []byte, status int, fragments ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: %d, want %d: %s", what, resp.StatusCode, status, data)
	}
	wantContains(t, data, fragments...)
}

// TestSigV2HeaderSigned runs object and bucket operations signed with SigV2 (older clients,
// s3cmd's signature_v2) through the dialect: path-style under /s3 and virtual-hosted on the
// root mount, sub-resources signed, Content-MD5 still checked, tampering refused.
func TestSigV2HeaderSigned(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const host = "127.0.0.1:5000"
	// In this fixture the S3 listener's root is mounted under /root, so path-style requests
	// there address the bucket "root".
	resp, data := f.doV2(t, serviceCreds, "PUT", host, "/root", "/root", nil, nil)
	wantS3(t, "create bucket", resp, data, 200)
	f.must(t, "PUT", "/s3/v2b", nil, nil, 200)
	body := []byte("signed with version 2")
	sum := md5.Sum(body)
	md5b64 := base64.StdEncoding.EncodeToString(sum[:])
	resp, data = f.doV2(t, serviceCreds, "PUT", host, "/root/dir/a%20b.txt", "/root/dir/a%20b.txt", body,
		map[string]string{"Content-Type": "text/plain", "Content-MD5": md5b64, "x-amz-meta-color": "blue"})
	wantS3(t, "put", resp, data, 200)
	resp, data = f.doV2(t, serviceCreds, "GET", host, "/root/dir/a%20b.txt", "/root/dir/a%20b.txt", nil, nil)
	wantS3(t, "get", resp, data, 200)
	if !bytes.Equal(data, body) || resp.Header.Get("x-amz-meta-color") != "blue" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("get: %q %v", data, resp.Header)
	}
	// A signed response override is applied; the listing's parameters are not signed.
	resp, data = f.doV2(t, serviceCreds, "GET", host, "/root/dir/a%20b.txt?response-content-type=text%2Fcsv",
		"/root/dir/a%20b.txt?response-content-type=text/csv", nil, nil)
	wantS3(t, "get with override", resp, data, 200)
	if resp.Header.Get("Content-Type") != "text/csv" {
		t.Fatalf("override: %v", resp.Header)
	}
	resp, data = f.doV2(t, serviceCreds, "GET", host, "/root?list-type=2&prefix=dir%2F", "/root", nil, nil)
	wantS3(t, "list v2", resp, data, 200, "<Key>dir/a b.txt</Key>")
	resp, data = f.doV2(t, serviceCreds, "GET", host, "/root/dir/a%20b.txt?tagging", "/root/dir/a%20b.txt?tagging", nil, nil)
	wantS3(t, "tagging", resp, data, 200, "<Tagging")
	// Virtual-hosted style on the S3 listener's root (mounted under /root here, so the key
	// is "root/k", which does not exist): the resource starts with /bucket. A 404 from the
	// engine shows the signature verified; signed without the bucket, it does not.
	resp, data = f.doV2(t, serviceCreds, "GET", "v2b.s3.test", "/root/k", "/v2b/root/k", nil, nil)
	wantS3(t, "virtual-hosted get", resp, data, 404, "<Code>NoSuchKey</Code>", "<Resource>v2b/root/k</Resource>")
	resp, data = f.doV2(t, serviceCreds, "GET", "v2b.s3.test", "/root/k", "/root/k", nil, nil)
	wantS3(t, "virtual-hosted signed without bucket", resp, data, 403, "<Code>SignatureDoesNotMatch</Code>")

	// Under the /s3 prefix a SigV2 resource would also name bucket "s3" at the listener's
	// root: refused, though correctly signed.
	resp, data = f.doV2(t, serviceCreds, "GET", host, "/s3/v2b", "/s3/v2b", nil, nil)
	wantS3(t, "on the /s3 mount", resp, data, 403, "<Code>AccessDenied</Code>", "only at the root of the S3 listener")

	// DeleteObjects must bind its body (Content-MD5, signed by SigV2), as at S3: else a
	// replay could name other keys.
	del := []byte(`<Delete><Object><Key>md5</Key></Object></Delete>`)
	resp, data = f.doV2(t, serviceCreds, "POST", host, "/root?delete", "/root?delete", del, nil)
	wantS3(t, "delete objects without Content-MD5", resp, data, 400, "<Code>InvalidRequest</Code>", "Content-MD5")
	delSum := md5.Sum(del)
	resp, data = f.doV2(t, serviceCreds, "POST", host, "/root?delete", "/root?delete", del,
		map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(delSum[:])})
	wantS3(t, "delete objects", resp, data, 200, "<Deleted><Key>md5</Key>")

	// Content-MD5 is verified as for SigV4.
	resp, data = f.doV2(t, serviceCreds, "PUT", host, "/root/md5", "/root/md5", []byte("other bytes"),
		map[string]string{"Content-MD5": md5b64})
	wantS3(t, "bad md5", resp, data, 400, "<Code>BadDigest</Code>")

	t.Run("tampering", func(t *testing.T) {
		cases := []struct {
			name, target, resource string
			hdr                    map[string]string
			status                 int
			code                   string
		}{
			{"wrong secret", "/root/k", "/root/k", nil, 403, "SignatureDoesNotMatch"},
			{"other key than signed", "/root/k2", "/root/k", nil, 403, "SignatureDoesNotMatch"},
			{"sub-resource not signed", "/root/k?uploads", "/root/k", nil, 403, "SignatureDoesNotMatch"},
		}
		for _, tc := range cases {
			c := serviceCreds
			if tc.name == "wrong secret" {
				c.secret = "wrong"
			}
			resp, data := f.doV2(t, c, "POST", host, tc.target, tc.resource, nil, tc.hdr)
			wantS3(t, tc.name, resp, data, tc.status, "<Code>"+tc.code+"</Code>")
		}
		// An x-amz-* header added after signing (S3 would act on it) breaks the signature.
		req, _ := http.NewRequest("PUT", "http://"+host+"/root/copy", nil)
		h := map[string]string{"x-amz-date": time.Now().UTC().Format(time.RFC1123Z)}
		req.Header.Set("x-amz-date", h["x-amz-date"])
		req.Header.Set("Authorization", "AWS "+testAccessKey+":"+signV2(testSecret, v2StringToSign("PUT", "/root/copy", h)))
		req.Header.Set("x-amz-copy-source", "/root/dir/a%20b.txt")
		resp, data := f.sendV2(t, req)
		wantS3(t, "added x-amz-copy-source", resp, data, 403, "<Code>SignatureDoesNotMatch</Code>")
		// Malformed header, unknown key, skewed clock.
		req, _ = http.NewRequest("GET", "http://"+host+"/root", nil)
		req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
		req.Header.Set("Authorization", "AWS "+testAccessKey)
		resp, data = f.sendV2(t, req)
		wantS3(t, "malformed", resp, data, 400, "<Code>InvalidArgument</Code>", "Expected AwsAccessKeyId:signature")
		resp, data = f.doV2(t, creds{ak: "nobody", secret: "x"}, "GET", host, "/root", "/root", nil, nil)
		wantS3(t, "unknown key", resp, data, 403, "<Code>InvalidAccessKeyId</Code>")
		resp, data = f.doV2(t, serviceCreds, "GET", host, "/root", "/root", nil,
			map[string]string{"x-amz-date": time.Now().Add(-time.Hour).UTC().Format(time.RFC1123Z)})
		wantS3(t, "skewed", resp, data, 403, "<Code>RequestTimeTooSkewed</Code>")
	})
}

// TestSigV2Identity: the session-token credentials work with SigV2 exactly as with SigV4: the
// token (a signed x-amz-* header) is the user JWT whose role RLS applies to.
func TestSigV2Identity(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const host = "127.0.0.1:5000"
	f.must(t, "PUT", "/s3/root", nil, nil, 200)
	f.must(t, "PUT", "/s3/root/theirs", []byte("theirs"), nil, 200)
	userJWT, _ := f.verifier.Sign(map[string]any{"role": "authenticated", "sub": "8d1b7c1e-0000-4000-8000-000000000003", "exp": time.Now().Add(time.Hour).Unix()})
	user := creds{ak: testTenant, secret: f.anonKey, token: userJWT}
	resp, data := f.doV2(t, creds{ak: testTenant, secret: f.anonKey}, "GET", host, "/root", "/root", nil, nil)
	wantS3(t, "tenant without token", resp, data, 403, "<Code>AccessDenied</Code>")
	resp, data = f.doV2(t, creds{ak: testTenant, secret: f.anonKey, token: "not.a.jwt"}, "GET", host, "/root", "/root", nil, nil)
	wantS3(t, "bad token", resp, data, 403, "<Code>AccessDenied</Code>")
	resp, data = f.doV2(t, user, "PUT", host, "/root/mine", "/root/mine", []byte("mine"), nil)
	wantS3(t, "user without policy", resp, data, 403, "<Code>AccessDenied</Code>")
	for _, q := range []string{
		`create policy v2_insert on storage.objects for insert to authenticated with check (bucket_id = 'root')`,
		`create policy v2_select on storage.objects for select to authenticated using (bucket_id = 'root' and owner_id = auth.uid()::text)`,
	} {
		if _, err := f.db.Pool().Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	resp, data = f.doV2(t, user, "PUT", host, "/root/mine", "/root/mine", []byte("mine"), nil)
	wantS3(t, "user put", resp, data, 200)
	resp, data = f.doV2(t, user, "GET", host, "/root", "/root", nil, nil)
	wantS3(t, "user list", resp, data, 200, "<Key>mine</Key>")
	if strings.Contains(string(data), "theirs") {
		t.Fatalf("RLS listing shows another owner's object: %s", data)
	}
	resp, data = f.doV2(t, user, "GET", host, "/root/theirs", "/root/theirs", nil, nil)
	wantS3(t, "invisible object", resp, data, 404)
}

// TestSigV2Presigned: URLs with AWSAccessKeyId, Expires and Signature (s3cmd signurl,
// boto's generate_url) download until Expires, then answer S3's 403 "Request has expired".
func TestSigV2Presigned(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/root", nil, nil, 200)
	f.must(t, "PUT", "/s3/root/k", []byte("presigned v2"), nil, 200)
	url2 := func(method, path string, expires int64, secret string) string {
		sts := method + "\n\n\n" + strconv.FormatInt(expires, 10) + "\n" + path
		q := url.Values{"AWSAccessKeyId": {testAccessKey}, "Expires": {strconv.FormatInt(expires, 10)}, "Signature": {signV2(secret, sts)}}
		return "http://127.0.0.1:5000" + path + "?" + q.Encode()
	}
	get := func(u string, hdr ...string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", u, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return f.sendV2(t, req)
	}
	later := time.Now().Add(time.Hour).Unix()
	resp, data := get(url2("GET", "/root/k", later, testSecret))
	wantS3(t, "valid", resp, data, 200)
	if string(data) != "presigned v2" {
		t.Fatalf("body %q", data)
	}
	resp, data = get(url2("GET", "/root/k", time.Now().Add(-time.Minute).Unix(), testSecret))
	wantS3(t, "expired", resp, data, 403, "<Code>AccessDenied</Code>", "<Message>Request has expired</Message>")
	resp, data = get(url2("GET", "/root/k", later, "wrong"))
	wantS3(t, "wrong secret", resp, data, 403, "<Code>SignatureDoesNotMatch</Code>")
	resp, data = get(strings.Replace(url2("GET", "/root/k", later, testSecret), "/k?", "/other?", 1))
	wantS3(t, "other key", resp, data, 403, "<Code>SignatureDoesNotMatch</Code>")
	resp, data = get(url2("GET", "/root/k", later, testSecret) + "&response-content-type=text%2Fhtml")
	wantS3(t, "override added", resp, data, 403, "<Code>SignatureDoesNotMatch</Code>")
	resp, data = get(url2("GET", "/root/k", later, testSecret), "x-amz-security-token", "someone.else.jwt")
	wantS3(t, "token header added", resp, data, 403, "<Code>SignatureDoesNotMatch</Code>")
	resp, data = get(url2("GET", "/root/k", later, testSecret), "Authorization", "AWS "+testAccessKey+":x")
	wantS3(t, "two mechanisms", resp, data, 400, "<Code>InvalidArgument</Code>")
	// A presigned PUT stores its body; the holder cannot turn it into a copy.
	put := url2("PUT", "/root/up", later, testSecret)
	req, _ := http.NewRequest("PUT", put, strings.NewReader("uploaded"))
	resp, data = f.sendV2(t, req)
	wantS3(t, "presigned put", resp, data, 200)
	req, _ = http.NewRequest("PUT", put, nil)
	req.Header.Set("x-amz-copy-source", "/root/k")
	resp, data = f.sendV2(t, req)
	wantS3(t, "presigned put as copy", resp, data, 403, "<Code>SignatureDoesNotMatch</Code>")
}

// TestSigV2UnsignedParameterOperation: a parameter SigV2 does not sign may only pick a
// read-only neighbour of the signed operation.
func TestSigV2UnsignedParameterOperation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, method, query string
		hasKey              bool
		ok                  bool
	}{
		{"list-type=2", "GET", "list-type=2", false, true},
		{"attributes", "GET", "attributes", true, true},
		{"probe", "GET", "publicAccessBlock", false, true},
		{"unsupported", "PUT", "renameObject", true, true},
		{"signed sub-resource", "PUT", "uploadId=u&partNumber=1", true, true},
	}
	for _, tc := range cases {
		q, _ := url.ParseQuery(tc.query)
		req := &request{bucket: "b", hasKey: tc.hasKey, key: "k", query: q}
		req.op = classify(tc.method, req.bucket, req.hasKey, q, header{})
		if got := v2SignedOperation(tc.method, req, header{}); got != tc.ok {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.ok)
		}
	}
	// The guard itself: an operation the signed parameters would not select, outside the
	// read-only neighbours, is refused.
	req := &request{bucket: "b", hasKey: true, key: "k", query: url.Values{"x-unsigned": {""}}, op: opDeleteObject}
	if v2SignedOperation("GET", req, header{}) {
		t.Fatal("GetObject signed, DeleteObject served")
	}
}

// TestSigV2PostObject: a browser form signed with a SigV2 policy (AWSAccessKeyId, policy,
// signature = base64(HMAC-SHA1(secret, policy))) uploads under the same policy rules.
func TestSigV2PostObject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/root", nil, nil, 200)
	policy, _ := json.Marshal(map[string]any{"expiration": time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z"),
		"conditions": []any{map[string]string{"bucket": "root"}, []any{"starts-with", "$key", "up/"}, []any{"content-length-range", 1, 100}}})
	b64 := base64.StdEncoding.EncodeToString(policy)
	post := func(key, signature string, file []byte) (*http.Response, []byte) {
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		for _, kv := range [][2]string{{"key", key}, {"AWSAccessKeyId", testAccessKey}, {"policy", b64}, {"signature", signature}} {
			w.WriteField(kv[0], kv[1])
		}
		fw, _ := w.CreateFormFile("file", "f.txt")
		fw.Write(file)
		w.Close()
		req, _ := http.NewRequest("POST", "http://127.0.0.1:5000/root", &body)
		req.Header.Set("Content-Type", w.FormDataContentType())
		return f.sendV2(t, req)
	}
	resp, data := post("up/${filename}", signV2(testSecret, b64), []byte("form v2"))
	wantS3(t, "upload", resp, data, 200)
	_, data = f.must(t, "GET", "/s3/root/up/f.txt", nil, nil, 200)
	if string(data) != "form v2" {
		t.Fatalf("stored %q", data)
	}
	resp, data = post("up/bad", signV2("wrong", b64), []byte("x"))
	wantS3(t, "wrong secret", resp, data, 403, "<Code>SignatureDoesNotMatch</Code>")
	resp, data = post("elsewhere", signV2(testSecret, b64), []byte("x"))
	wantS3(t, "key outside the policy", resp, data, 403, "<Code>AccessDenied</Code>")
	resp, data = post("up/big", signV2(testSecret, b64), bytes.Repeat([]byte("x"), 101))
	wantS3(t, "too large", resp, data, 413, "<Code>EntityTooLarge</Code>")
	f.must(t, "GET", "/s3/root/up/bad", nil, nil, 404)
	f.must(t, "GET", "/s3/root/up/big", nil, nil, 404)
}

// TestSigV2Disabled: with DisableSigV2 (S3_PROTOCOL_ALLOW_SIGV2=false) every SigV2 carrier,
// correctly signed or not, is S3's 400 InvalidRequest of SigV4-only regions and does
// nothing; SigV4 keeps working.
func TestSigV2Disabled(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, func(o *Options) { o.DisableSigV2 = true })
	const host = "127.0.0.1:5000"
	f.must(t, "PUT", "/s3/root", nil, nil, 200)
	f.must(t, "PUT", "/s3/root/k", []byte("kept"), nil, 200)
	const unsupported = "The authorization mechanism you have provided is not supported"

	resp, data := f.doV2(t, serviceCreds, "GET", host, "/root/k", "/root/k", nil, nil)
	wantS3(t, "header get", resp, data, 400, "<Code>InvalidRequest</Code>", unsupported)
	resp, data = f.doV2(t, serviceCreds, "DELETE", host, "/root/k", "/root/k", nil, nil)
	wantS3(t, "header delete", resp, data, 400, "<Code>InvalidRequest</Code>", unsupported)
	resp, data = f.doV2(t, creds{ak: testAccessKey, secret: "wrong"}, "GET", host, "/root/k", "/root/k", nil, nil)
	wantS3(t, "header with a wrong secret", resp, data, 400, "<Code>InvalidRequest</Code>", unsupported)

	expires := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	q := url.Values{"AWSAccessKeyId": {testAccessKey}, "Expires": {expires}, "Signature": {signV2(testSecret, "GET\n\n\n"+expires+"\n/root/k")}}
	req, _ := http.NewRequest("GET", "http://"+host+"/root/k?"+q.Encode(), nil)
	resp, data = f.sendV2(t, req)
	wantS3(t, "presigned", resp, data, 400, "<Code>InvalidRequest</Code>", unsupported)

	policy, _ := json.Marshal(map[string]any{"expiration": time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z"),
		"conditions": []any{map[string]string{"bucket": "root"}, []any{"starts-with", "$key", ""}}})
	b64 := base64.StdEncoding.EncodeToString(policy)
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, kv := range [][2]string{{"key", "posted"}, {"AWSAccessKeyId", testAccessKey}, {"policy", b64}, {"signature", signV2(testSecret, b64)}} {
		w.WriteField(kv[0], kv[1])
	}
	fw, _ := w.CreateFormFile("file", "f.txt")
	fw.Write([]byte("posted"))
	w.Close()
	req, _ = http.NewRequest("POST", "http://"+host+"/s3/root", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, data = f.sendV2(t, req)
	wantS3(t, "post form", resp, data, 400, "<Code>InvalidRequest</Code>", unsupported)

	// Nothing happened, and SigV4 is unaffected.
	_, data = f.must(t, "GET", "/s3/root/k", nil, nil, 200)
	if string(data) != "kept" {
		t.Fatalf("object after refused requests: %q", data)
	}
	f.must(t, "HEAD", "/s3/root/posted", nil, nil, 404)
}
