package s3proto

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/gateway/backend/filebackend"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	testAccessKey = "AKIDSTOWAGETEST"
	testSecret    = "stowage-test-secret-0123456789"
	testRegion    = "us-east-1"
	testTenant    = "storage-single-tenant"
	testJWTSecret = "s3proto-test-jwt-secret-0123456789abcdef"
)

var testRoles = auth.Roles{Anon: "anon", Authenticated: "authenticated", Service: "service_role"}

type fixture struct {
	app      *fiber.App
	db       *db.DB
	verifier *auth.Verifier
	anonKey  string
}

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, nil) }

// newFixtureWith lets a test change the dialect's options first.
func newFixtureWith(t *testing.T, adjust func(*Options)) *fixture {
	t.Helper()
	return newFixtureOn(t, t.TempDir(), adjust)
}

// newFixtureOn is newFixtureWith with the file store's blobs under root.
func newFixtureOn(t *testing.T, root string, adjust func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, pgtest.URL(t), db.Options{MaxConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	store, err := filebackend.New(root, filebackend.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(testJWTSecret, "HS256", testRoles)
	if err != nil {
		t.Fatal(err)
	}
	anonKey, _ := v.NewKey("anon", time.Hour)
	e := gateway.New(d, store, gateway.Options{Roles: testRoles, MaxObjectSize: 1 << 30, WriteTimeout: time.Minute})
	opts := Options{AccessKeyID: testAccessKey, SecretKey: testSecret, TenantID: testTenant, AnonKey: anonKey,
		Verifier: v, Roles: testRoles, Region: testRegion, VirtualHostDomains: []string{"s3.test"}}
	if adjust != nil {
		adjust(&opts)
	}
	h := New(e, opts)
	app := fiber.New(fiber.Config{StreamRequestBody: true, DisablePreParseMultipartForm: true, ErrorHandler: h.ErrorHandler})
	app.Use(func(c *fiber.Ctx) error { c.Set("X-Request-Id", "req-1"); return c.Next() })
	h.Mount(app, "/s3")
	rootApp := fiber.New(fiber.Config{StreamRequestBody: true, DisablePreParseMultipartForm: true, ErrorHandler: h.ErrorHandler})
	h.MountRoot(rootApp)
	app.Mount("/root", rootApp) // only used through Host-based tests below
	return &fixture{app: app, db: d, verifier: v, anonKey: anonKey}
}

type creds struct {
	ak, secret, token string
}

var serviceCreds = creds{ak: testAccessKey, secret: testSecret}

// s3Signer signs the path as sent, as the SDK's S3 client does. A fresh signer each time:
// the SDK caches derived keys by access key id, which would hide a wrong secret.
func s3Signer() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

// do signs a request like aws-sdk-go-v2 does (header signature, hex payload hash) and runs
// it through the app.
func (f *fixture) do(t *testing.T, c creds, method, target string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1:5000"+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", payload)
	if c.token != "" {
		req.Header.Set("X-Amz-Security-Token", c.token)
	}
	err = s3Signer().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.ak, SecretAccessKey: c.secret, SessionToken: c.token},
		req, payload, "s3", testRegion, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, data
}

func (f *fixture) must(t *testing.T, method, target string, body []byte, hdr map[string]string, want int) (*http.Response, []byte) {
	t.Helper()
	resp, data := f.do(t, serviceCreds, method, target, body, hdr)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, target, resp.StatusCode, want, data)
	}
	return resp, data
}

func wantContains(t *testing.T, data []byte, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(string(data), s) {
			t.Fatalf("response lacks %q:\n%s", s, data)
		}
	}
}

func TestBucketOperations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/bkt", nil, nil, 200)
	// us-east-1 keeps S3's legacy 200 for re-creating your own bucket (TestCreateBucketS3).
	f.must(t, "PUT", "/s3/bkt", nil, nil, 200)
	_, data := f.must(t, "PUT", "/s3/Bkt", nil, nil, 400)
	wantContains(t, data, "<Code>InvalidBucketName</Code>", "<Resource>Bkt</Resource>", "<RequestId>req-1</RequestId>")
	resp, _ := f.must(t, "HEAD", "/s3/bkt", nil, nil, 200)
	if resp.Header.Get("x-amz-bucket-region") != testRegion {
		t.Fatalf("region header %q", resp.Header.Get("x-amz-bucket-region"))
	}
	_, data = f.must(t, "GET", "/s3/", nil, nil, 200)
	wantContains(t, data, "<ListAllMyBucketsResult", "<Name>bkt</Name>")
	_, data = f.must(t, "GET", "/s3/bkt?versioning", nil, nil, 200)
	if strings.Contains(string(data), "Status") {
		t.Fatalf("versioning has a status: %s", data)
	}
	_, data = f.must(t, "GET", "/s3/bkt?location", nil, nil, 200)
	wantContains(t, data, "<LocationConstraint")
	probes := []struct {
		name, query string
		status      int
		code        string
	}{
		{"cors", "cors", 404, "NoSuchCORSConfiguration"},
		{"policy", "policy", 404, "NoSuchBucketPolicy"},
		{"lifecycle", "lifecycle", 404, "NoSuchLifecycleConfiguration"},
		{"tagging", "tagging", 404, "NoSuchTagSet"},
		{"acl", "acl", 200, "FULL_CONTROL"},
		{"object lock", "object-lock", 404, "ObjectLockConfigurationNotFoundError"},
		{"encryption", "encryption", 404, "ServerSideEncryptionConfigurationNotFoundError"},
		{"versions", "versions", 200, "<ListVersionsResult"},
		{"put cors", "cors", 501, "NotImplemented"},
	}
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			method := "GET"
			if strings.HasPrefix(p.name, "put") {
				method = "PUT"
			}
			_, data := f.must(t, method, "/s3/bkt?"+p.query, nil, nil, p.status)
			wantContains(t, data, p.code)
		})
	}
	f.must(t, "PUT", "/s3/bkt/k", []byte("x"), nil, 200)
	_, data = f.must(t, "DELETE", "/s3/bkt", nil, nil, 409)
	wantContains(t, data, "<Code>BucketNotEmpty</Code>")
	f.must(t, "DELETE", "/s3/bkt/k", nil, nil, 204)
	f.must(t, "DELETE", "/s3/bkt", nil, nil, 204)
	resp, data = f.must(t, "HEAD", "/s3/bkt", nil, nil, 404)
	if len(data) != 0 {
		t.Fatalf("HEAD error has a body: %q", data)
	}
	_, data = f.must(t, "GET", "/s3/bkt?list-type=2", nil, nil, 404)
	wantContains(t, data, "<Code>NoSuchBucket</Code>")
}

func TestObjectRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/bkt", nil, nil, 200)
	body := []byte("hello, stowage")
	md := md5.Sum(body)
	hdr := map[string]string{"Content-Type": "text/plain", "Cache-Control": "max-age=60", "Content-Disposition": "attachment",
		"Content-Language": "en", "Expires": "Wed, 21 Oct 2037 07:28:00 GMT", "x-amz-meta-Color": "blue",
		"Content-MD5": base64.StdEncoding.EncodeToString(md[:]), "x-amz-tagging": "a=1&b=two"}
	resp, _ := f.must(t, "PUT", "/s3/bkt/dir/hello%20world.txt", body, hdr, 200)
	etag := resp.Header.Get("ETag")
	if etag != `"`+hex.EncodeToString(md[:])+`"` {
		t.Fatalf("etag %q", etag)
	}
	resp, data := f.must(t, "GET", "/s3/bkt/dir/hello%20world.txt", nil, nil, 200)
	if !bytes.Equal(data, body) {
		t.Fatalf("body %q", data)
	}
	for k, v := range map[string]string{"Content-Type": "text/plain", "Cache-Control": "max-age=60", "Content-Disposition": "attachment",
		"Content-Language": "en", "Expires": "Wed, 21 Oct 2037 07:28:00 GMT", "x-amz-meta-color": "blue", "ETag": etag, "x-amz-tagging-count": "2"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	cases := []struct {
		name   string
		method string
		target string
		hdr    map[string]string
		status int
		body   string
	}{
		{"range", "GET", "/s3/bkt/dir/hello%20world.txt", map[string]string{"Range": "bytes=0-4"}, 206, "hello"},
		{"suffix range", "GET", "/s3/bkt/dir/hello%20world.txt", map[string]string{"Range": "bytes=-7"}, 206, "stowage"},
		{"bad range", "GET", "/s3/bkt/dir/hello%20world.txt", map[string]string{"Range": "bytes=100-"}, 416, "InvalidRange"},
		{"if-none-match", "GET", "/s3/bkt/dir/hello%20world.txt", map[string]string{"If-None-Match": etag}, 304, ""},
		{"if-match fails", "GET", "/s3/bkt/dir/hello%20world.txt", map[string]string{"If-Match": `"nope"`}, 412, "PreconditionFailed"},
		{"if-match ok", "GET", "/s3/bkt/dir/hello%20world.txt", map[string]string{"If-Match": etag}, 200, "hello, stowage"},
		{"if-unmodified-since past", "GET", "/s3/bkt/dir/hello%20world.txt", map[string]string{"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}, 412, ""},
		{"if-modified-since future", "GET", "/s3/bkt/dir/hello%20world.txt", map[string]string{"If-Modified-Since": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, 304, ""},
		// S3 answers part 1 of a single-part object as a range over all of it.
		{"part 1", "GET", "/s3/bkt/dir/hello%20world.txt?partNumber=1", nil, 206, "hello, stowage"},
		{"part 2", "GET", "/s3/bkt/dir/hello%20world.txt?partNumber=2", nil, 416, "InvalidPartNumber"},
		{"part number with a sign", "GET", "/s3/bkt/dir/hello%20world.txt?partNumber=%2B1", nil, 400, "InvalidArgument"},
		{"part number out of range", "GET", "/s3/bkt/dir/hello%20world.txt?partNumber=10001", nil, 400, "InvalidArgument"},
		{"override", "GET", "/s3/bkt/dir/hello%20world.txt?response-content-type=image%2Fpng", nil, 200, "hello"},
		{"missing key", "GET", "/s3/bkt/nope", nil, 404, "<Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Resource>bkt/nope</Resource>"},
		{"head", "HEAD", "/s3/bkt/dir/hello%20world.txt", nil, 200, ""},
		{"tagging", "GET", "/s3/bkt/dir/hello%20world.txt?tagging", nil, 200, "<Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value>two</Value></Tag>"},
		{"attributes", "GET", "/s3/bkt/dir/hello%20world.txt?attributes", map[string]string{"x-amz-object-attributes": "ETag,ObjectSize,StorageClass"}, 200, "<ObjectSize>14</ObjectSize>"},
		{"bad md5", "PUT", "/s3/bkt/other", map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(make([]byte, 16))}, 400, "BadDigest"},
		{"bad checksum", "PUT", "/s3/bkt/other", map[string]string{"x-amz-checksum-crc32": "AAAAAA=="}, 400, "BadDigest"},
		{"invalid key", "PUT", "/s3/bkt/a%01b", nil, 400, "InvalidKey"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var in []byte
			if tc.method == "PUT" {
				in = []byte("payload")
			}
			resp, data := f.must(t, tc.method, tc.target, in, tc.hdr, tc.status)
			if !strings.Contains(string(data), tc.body) {
				t.Fatalf("body %q lacks %q", data, tc.body)
			}
			if tc.name == "override" && resp.Header.Get("Content-Type") != "image/png" {
				t.Fatalf("content-type %q", resp.Header.Get("Content-Type"))
			}
			if tc.name == "head" && resp.Header.Get("Content-Length") != "14" {
				t.Fatalf("HEAD content-length %q", resp.Header.Get("Content-Length"))
			}
		})
	}
	// A failed checksum never replaces a stored object.
	f.must(t, "GET", "/s3/bkt/other", nil, nil, 404)
}

func TestChecksumStoredAndReturned(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/bkt", nil, nil, 200)
	body := []byte("checksummed")
	for _, alg := range gateway.ChecksumAlgorithms {
		t.Run(alg, func(t *testing.T) {
			h := gateway.NewChecksum(alg)
			h.Write(body)
			sum := base64.StdEncoding.EncodeToString(h.Sum(nil))
			name := "x-amz-checksum-" + strings.ToLower(alg)
			f.must(t, "PUT", "/s3/bkt/"+alg, body, map[string]string{name: sum}, 200)
			resp, _ := f.must(t, "GET", "/s3/bkt/"+alg, nil, map[string]string{"x-amz-checksum-mode": "ENABLED"}, 200)
			if resp.Header.Get(name) != sum {
				t.Fatalf("%s = %q, want %q", name, resp.Header.Get(name), sum)
			}
			resp, _ = f.must(t, "GET", "/s3/bkt/"+alg, nil, nil, 200)
			if resp.Header.Get(name) != "" {
				t.Fatal("checksum returned without checksum mode")
			}
		})
	}
}

func TestTaggingNeverOverwritesObject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/bkt", nil, nil, 200)
	f.must(t, "PUT", "/s3/bkt/k", []byte("original"), nil, 200)
	doc := `<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>env</Key><Value>prod</Value></Tag></TagSet></Tagging>`
	f.must(t, "PUT", "/s3/bkt/k?tagging", []byte(doc), nil, 200)
	_, data := f.must(t, "GET", "/s3/bkt/k", nil, nil, 200)
	if string(data) != "original" {
		t.Fatalf("object became %q", data)
	}
	_, data = f.must(t, "GET", "/s3/bkt/k?tagging", nil, nil, 200)
	wantContains(t, data, "<Key>env</Key><Value>prod</Value>")
	f.must(t, "DELETE", "/s3/bkt/k?tagging", nil, nil, 204)
	_, data = f.must(t, "GET", "/s3/bkt/k?tagging", nil, nil, 200)
	if strings.Contains(string(data), "env") {
		t.Fatalf("tags not removed: %s", data)
	}
	_, data = f.must(t, "PUT", "/s3/bkt/k?tagging", []byte("<Tagging><TagSet>"), nil, 400)
	wantContains(t, data, "MalformedXML")
	eleven := "<Tagging><TagSet>" + strings.Repeat("", 0)
	for i := 0; i < 11; i++ {
		eleven += "<Tag><Key>k" + string(rune('a'+i)) + "</Key><Value>v</Value></Tag>"
	}
	eleven += "</TagSet></Tagging>"
	_, data = f.must(t, "PUT", "/s3/bkt/k?tagging", []byte(eleven), nil, 400)
	wantContains(t, data, "<Code>InvalidTag</Code>", "cannot be greater than 10")
	_, data = f.must(t, "PUT", "/s3/bkt/missing?tagging", []byte(doc), nil, 404)
	wantContains(t, data, "<Code>NoSuchKey</Code>")
}

func TestCopyObject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/src", nil, nil, 200)
	f.must(t, "PUT", "/s3/dst", nil, nil, 200)
	f.must(t, "PUT", "/s3/src/a%20b+c.txt", []byte("copy me"), map[string]string{"Content-Type": "text/plain", "x-amz-meta-k": "v", "x-amz-tagging": "t=1"}, 200)
	cases := []struct {
		name   string
		dst    string
		hdr    map[string]string
		status int
		check  func(t *testing.T, resp *http.Response)
	}{
		{"url-encoded source, cross bucket", "/s3/dst/copy", map[string]string{"x-amz-copy-source": "/src/a%20b%2Bc.txt"}, 200, func(t *testing.T, resp *http.Response) {
			if resp.Header.Get("Content-Type") != "text/plain" || resp.Header.Get("x-amz-meta-k") != "v" || resp.Header.Get("x-amz-tagging-count") != "1" {
				t.Fatalf("metadata not copied: %v", resp.Header)
			}
		}},
		{"replace", "/s3/dst/replaced", map[string]string{"x-amz-copy-source": "src/a%20b%2Bc.txt", "x-amz-metadata-directive": "REPLACE",
			"Content-Type": "application/json", "x-amz-meta-n": "m"}, 200, func(t *testing.T, resp *http.Response) {
			if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("x-amz-meta-n") != "m" || resp.Header.Get("x-amz-meta-k") != "" {
				t.Fatalf("metadata not replaced: %v", resp.Header)
			}
		}},
		{"if-match fails", "/s3/dst/c", map[string]string{"x-amz-copy-source": "src/a%20b%2Bc.txt", "x-amz-copy-source-if-match": `"x"`}, 412, nil},
		{"if-none-match fails", "/s3/dst/c", map[string]string{"x-amz-copy-source": "src/a%20b%2Bc.txt", "x-amz-copy-source-if-none-match": "*"}, 412, nil},
		{"missing source", "/s3/dst/c", map[string]string{"x-amz-copy-source": "src/nope"}, 404, nil},
		{"no key", "/s3/dst/c", map[string]string{"x-amz-copy-source": "src"}, 400, nil},
		{"bad directive", "/s3/dst/c", map[string]string{"x-amz-copy-source": "src/a%20b%2Bc.txt", "x-amz-metadata-directive": "MOVE"}, 400, nil},
		{"onto itself", "/s3/src/a%20b+c.txt", map[string]string{"x-amz-copy-source": "src/a%20b%2Bc.txt"}, 400, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, data := f.must(t, "PUT", tc.dst, nil, tc.hdr, tc.status)
			if tc.status != 200 {
				return
			}
			wantContains(t, data, "<CopyObjectResult", "<ETag>")
			resp, got := f.must(t, "GET", tc.dst, nil, nil, 200)
			if string(got) != "copy me" {
				t.Fatalf("copy holds %q", got)
			}
			tc.check(t, resp)
		})
	}
}

func TestListObjects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/bkt", nil, nil, 200)
	for _, k := range []string{"a.txt", "dir/x", "dir/y", "dir/sub/z", "e f", "z"} {
		f.must(t, "PUT", "/s3/bkt/"+strings.ReplaceAll(k, " ", "%20"), []byte(k), nil, 200)
	}
	cases := []struct {
		name  string
		query string
		want  []string
		not   []string
	}{
		{"v2 all", "list-type=2", []string{"<KeyCount>6</KeyCount>", "<Key>dir/sub/z</Key>", "<IsTruncated>false</IsTruncated>"}, nil},
		{"v2 delimiter", "list-type=2&delimiter=/", []string{"<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>", "<Key>a.txt</Key>", "<KeyCount>4</KeyCount>"}, []string{"dir/x"}},
		{"v2 prefix delimiter", "list-type=2&prefix=dir/&delimiter=/", []string{"<Key>dir/x</Key>", "<Prefix>dir/sub/</Prefix>"}, []string{"a.txt"}},
		{"v2 page", "list-type=2&max-keys=2", []string{"<IsTruncated>true</IsTruncated>", "<NextContinuationToken>" + encodeToken("dir/sub/z") + "</NextContinuationToken>"}, nil},
		{"v2 continue", "list-type=2&continuation-token=" + encodeToken("dir/sub/z"), []string{"<Key>dir/x</Key>", "<Key>z</Key>"}, []string{"<Key>a.txt</Key>"}},
		{"v2 start-after", "list-type=2&start-after=dir/y", []string{"<Key>e f</Key>"}, []string{"<Key>dir/x</Key>"}},
		{"v2 url encoding", "list-type=2&encoding-type=url&prefix=e", []string{"<Key>e%20f</Key>", "<EncodingType>url</EncodingType>"}, nil},
		{"v2 owner", "list-type=2&fetch-owner=true", []string{"<Owner>"}, nil},
		{"v1 marker", "marker=dir/y&max-keys=1", []string{"<Marker>dir/y</Marker>", "<Key>e f</Key>", "<NextMarker>e f</NextMarker>"}, nil},
		{"versions", "versions&prefix=dir/", []string{"<Version><Key>dir/sub/z</Key><VersionId>null</VersionId><IsLatest>true</IsLatest>"}, nil},
		// max-keys=0 is an empty page that is not truncated, as S3 answers.
		{"v2 max-keys 0", "list-type=2&max-keys=0", []string{"<KeyCount>0</KeyCount>", "<MaxKeys>0</MaxKeys>", "<IsTruncated>false</IsTruncated>"}, []string{"<Key>", "<Prefix>dir/", "NextContinuationToken"}},
		{"v1 max-keys 0", "max-keys=0&delimiter=/", []string{"<MaxKeys>0</MaxKeys>", "<IsTruncated>false</IsTruncated>"}, []string{"<Key>", "<Prefix>dir/", "NextMarker"}},
		{"v2 empty max-keys", "list-type=2&max-keys=", []string{"<KeyCount>6</KeyCount>", "<MaxKeys>1000</MaxKeys>"}, nil},
		// An empty continuation-token is no token.
		{"v2 empty token", "list-type=2&continuation-token=", []string{"<KeyCount>6</KeyCount>", "<Key>a.txt</Key>"}, []string{"<ContinuationToken>"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, data := f.must(t, "GET", "/s3/bkt?"+tc.query, nil, nil, 200)
			wantContains(t, data, tc.want...)
			for _, s := range tc.not {
				if strings.Contains(string(data), s) {
					t.Fatalf("listing has %q:\n%s", s, data)
				}
			}
		})
	}
	bad := []struct{ name, query, code string }{
		{"bad token", "list-type=2&continuation-token=!!", "InvalidArgument"},
		{"bad max-keys", "list-type=2&max-keys=-1", "InvalidArgument"},
		{"bad encoding", "list-type=2&encoding-type=base64", "InvalidArgument"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, data := f.must(t, "GET", "/s3/bkt?"+tc.query, nil, nil, 400)
			wantContains(t, data, tc.code)
		})
	}
}

func TestDeleteObjects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/bkt", nil, nil, 200)
	f.must(t, "PUT", "/s3/bkt/a", []byte("a"), nil, 200)
	f.must(t, "PUT", "/s3/bkt/b", []byte("b"), nil, 200)
	doc := []byte(`<Delete><Object><Key>a</Key></Object><Object><Key>b</Key></Object><Object><Key>never</Key></Object></Delete>`)
	_, data := f.must(t, "POST", "/s3/bkt?delete", doc, nil, 200)
	wantContains(t, data, "<Deleted><Key>a</Key></Deleted>", "<Deleted><Key>never</Key></Deleted>")
	f.must(t, "GET", "/s3/bkt/a", nil, nil, 404)
	_, data = f.must(t, "POST", "/s3/bkt?delete", []byte(`<Delete><Quiet>true</Quiet><Object><Key>x</Key></Object></Delete>`), nil, 200)
	if strings.Contains(string(data), "Deleted") {
		t.Fatalf("quiet mode reported deletions: %s", data)
	}
	var many strings.Builder
	many.WriteString("<Delete>")
	for i := 0; i < 1001; i++ {
		many.WriteString("<Object><Key>k</Key></Object>")
	}
	many.WriteString("</Delete>")
	_, data = f.must(t, "POST", "/s3/bkt?delete", []byte(many.String()), nil, 400)
	wantContains(t, data, "<Code>MalformedXML</Code>")
	_, data = f.must(t, "POST", "/s3/bkt?delete", []byte("not xml"), nil, 400)
	wantContains(t, data, "<Code>MalformedXML</Code>")
	md := md5.Sum([]byte("other"))
	_, data = f.must(t, "POST", "/s3/bkt?delete", doc, map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(md[:])}, 400)
	wantContains(t, data, "<Code>BadDigest</Code>")
	f.must(t, "HEAD", "/s3/bkt/b", nil, nil, 404) // deleted by the first request, not by a refused one
	f.must(t, "PUT", "/s3/bkt/kept", []byte("kept"), nil, 200)
	md = md5.Sum([]byte("other"))
	_, data = f.must(t, "POST", "/s3/bkt?delete", []byte(`<Delete><Object><Key>kept</Key></Object></Delete>`),
		map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(md[:])}, 400)
	wantContains(t, data, "<Code>BadDigest</Code>")
	f.must(t, "HEAD", "/s3/bkt/kept", nil, nil, 200) // a body that failed its digest deletes nothing
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/bkt", nil, nil, 200)
	userJWT, _ := f.verifier.Sign(map[string]any{"role": "authenticated", "sub": "8d1b7c1e-0000-4000-8000-000000000001", "exp": time.Now().Add(time.Hour).Unix()})
	user := creds{ak: testTenant, secret: f.anonKey, token: userJWT}
	cases := []struct {
		name   string
		c      creds
		status int
		code   string
	}{
		{"wrong secret", creds{ak: testAccessKey, secret: "wrong"}, 403, "SignatureDoesNotMatch"},
		{"unknown key", creds{ak: "nobody", secret: "x"}, 403, "InvalidAccessKeyId"},
		{"tenant without token", creds{ak: testTenant, secret: f.anonKey}, 403, "AccessDenied"},
		{"tenant with bad token", creds{ak: testTenant, secret: f.anonKey, token: "not.a.jwt"}, 403, "AccessDenied"},
		{"user without policy", user, 403, "AccessDenied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := f.do(t, tc.c, "PUT", "/s3/bkt/k", []byte("x"), nil)
			if resp.StatusCode != tc.status || !strings.Contains(string(data), tc.code) {
				t.Fatalf("%d %s", resp.StatusCode, data)
			}
		})
	}
	// Unsigned requests are refused.
	req, _ := http.NewRequest("GET", "http://127.0.0.1/s3/", nil)
	resp, _ := f.app.Test(req, -1)
	if resp.StatusCode != 403 {
		t.Fatalf("unsigned: %d", resp.StatusCode)
	}
	// With a policy the user's writes pass RLS, and the row is owned by the JWT's sub.
	ctx := context.Background()
	for _, q := range []string{
		`create policy s3_insert on storage.objects for insert to authenticated with check (bucket_id = 'bkt')`,
		`create policy s3_select on storage.objects for select to authenticated using (bucket_id = 'bkt' and owner_id = auth.uid()::text)`,
		`create policy s3_update on storage.objects for update to authenticated using (bucket_id = 'bkt' and owner_id = auth.uid()::text)`,
	} {
		if _, err := f.db.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	resp, data := f.do(t, user, "PUT", "/s3/bkt/mine", []byte("mine"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("user put: %d %s", resp.StatusCode, data)
	}
	f.must(t, "PUT", "/s3/bkt/theirs", []byte("theirs"), nil, 200)
	_, data = f.do(t, user, "GET", "/s3/bkt?list-type=2", nil, nil)
	if !strings.Contains(string(data), "<Key>mine</Key>") || strings.Contains(string(data), "theirs") {
		t.Fatalf("RLS listing: %s", data)
	}
	resp, _ = f.do(t, user, "GET", "/s3/bkt/theirs", nil, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("invisible object: %d", resp.StatusCode)
	}
	resp, _ = f.do(t, user, "PUT", "/s3/bkt/theirs?tagging", []byte(`<Tagging><TagSet/></Tagging>`), nil)
	if resp.StatusCode != 404 {
		t.Fatalf("tagging invisible object: %d", resp.StatusCode)
	}
}

func TestVirtualHostedStyle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/vhb", nil, nil, 200)
	f.must(t, "PUT", "/s3/vhb/dir/k", []byte("virtual"), nil, 200)
	// The root mount (S3 listener) takes bucket.domain hosts.
	req, err := http.NewRequest("GET", "http://vhb.s3.test/root/dir/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(nil)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	_ = s3Signer().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret},
		req, hex.EncodeToString(sum[:]), "s3", testRegion, time.Now())
	resp, err := f.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	// Mounted under /root in this test, the key is "root/dir/k" — which does not exist —
	// proving the host, not the path, named the bucket.
	if resp.StatusCode != 404 || !strings.Contains(string(data), "<Resource>vhb/root/dir/k</Resource>") {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
}

// Behind the Supabase gateway, clients sign https://<project host>/storage/v1/s3/...; the
// gateway strips /storage/v1 and forwards to the storage host with X-Forwarded-Host. Each
// way the reference offers to recover what was signed is honoured, and without one the
// signature does not match.
func TestSignedBehindProxy(t *testing.T) {
	t.Parallel()
	const public = "project.example.com"
	cases := []struct {
		name       string
		opts       func(*Options)
		signedHost string
		hdr        map[string]string
		want       int
	}{
		{"prefix + X-Forwarded-Host", func(o *Options) { o.PathPrefix = "/storage/v1/" }, public,
			map[string]string{"X-Forwarded-Host": "Project.Example.com"}, 200},
		{"no prefix configured", nil, public, map[string]string{"X-Forwarded-Host": public}, 403},
		{"X-Forwarded-Prefix allowed", func(o *Options) { o.AllowForwardedPath = true }, public,
			map[string]string{"X-Forwarded-Host": public, "X-Forwarded-Prefix": "/storage/v1"}, 200},
		{"X-Forwarded-Prefix not allowed", nil, public,
			map[string]string{"X-Forwarded-Host": public, "X-Forwarded-Prefix": "/storage/v1"}, 403},
		{"public URL host", func(o *Options) { o.PathPrefix, o.PublicHost = "/storage/v1", public }, public, nil, 200},
		{"X-Forwarded-Port", func(o *Options) { o.PathPrefix = "/storage/v1" }, public + ":8443",
			map[string]string{"X-Forwarded-Host": public + ":9999", "X-Forwarded-Port": "8443"}, 200},
		{"Forwarded header allowed", func(o *Options) { o.PathPrefix, o.AllowForwardedHeader = "/storage/v1", true }, public,
			map[string]string{"Forwarded": "for=10.0.0.1;host=" + public + ";proto=https"}, 200},
		{"Forwarded header not allowed", func(o *Options) { o.PathPrefix = "/storage/v1" }, public,
			map[string]string{"Forwarded": "host=" + public}, 403},
		{"own host header", func(o *Options) { o.PathPrefix, o.HostHeader = "/storage/v1", "X-Original-Host" }, public,
			map[string]string{"X-Original-Host": public, "X-Forwarded-Host": "elsewhere.example.com"}, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixtureWith(t, tc.opts)
			req, err := http.NewRequest("PUT", "https://"+tc.signedHost+"/storage/v1/s3/proxied", nil)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(nil)
			req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			if err := s3Signer().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret},
				req, hex.EncodeToString(sum[:]), "s3", testRegion, time.Now()); err != nil {
				t.Fatal(err)
			}
			// What the proxy forwards: the prefix stripped, its own Host, its headers.
			req.URL, _ = url.Parse("http://storage:5000/s3/proxied")
			req.Host = "storage:5000"
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := f.app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%d, want %d: %s", resp.StatusCode, tc.want, data)
			}
			if tc.want == 403 && !strings.Contains(string(data), "SignatureDoesNotMatch") {
				t.Fatalf("refused with %s", data)
			}
		})
	}
}

// HEAD answers what GET would, without the body: a range is 206 with its Content-Range
// and length, a matching If-None-Match is 304 with the object's ETag, an unsatisfiable
// range is 416.
func TestHeadObjectConditionsAndRange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.must(t, "PUT", "/s3/hdb", nil, nil, 200)
	resp, _ := f.must(t, "PUT", "/s3/hdb/k", []byte("0123456789"), nil, 200)
	etag := resp.Header.Get("ETag")
	resp, _ = f.must(t, "HEAD", "/s3/hdb/k", nil, map[string]string{"Range": "bytes=2-5"}, 206)
	if resp.Header.Get("Content-Range") != "bytes 2-5/10" || resp.ContentLength != 4 {
		t.Fatalf("range HEAD: Content-Range %q, length %d", resp.Header.Get("Content-Range"), resp.ContentLength)
	}
	resp, _ = f.must(t, "HEAD", "/s3/hdb/k", nil, map[string]string{"If-None-Match": etag}, 304)
	if resp.Header.Get("ETag") != etag {
		t.Fatalf("304 ETag %q, want %q", resp.Header.Get("ETag"), etag)
	}
	f.must(t, "HEAD", "/s3/hdb/k", nil, map[string]string{"If-Match": `"other"`}, 412)
	f.must(t, "HEAD", "/s3/hdb/k", nil, map[string]string{"Range": "bytes=20-30"}, 416)
	resp, _ = f.must(t, "HEAD", "/s3/hdb/k", nil, nil, 200)
	if resp.ContentLength != 10 || resp.Header.Get("ETag") != etag {
		t.Fatalf("plain HEAD: length %d ETag %q", resp.ContentLength, resp.Header.Get("ETag"))
	}
}
