package tus

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/gateway/backend/filebackend"
	"github.com/stowage/stowage/rest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var testRoles = auth.Roles{Anon: "anon", Authenticated: "authenticated", Service: "service_role"}

const testSecret = "tus-test-jwt-secret-0123456789-abcdefghij"

// fixture is the TUS and REST dialects over a real engine: a throw-away database, a file
// store in a temporary folder, a fiber app configured like the server's, and a clock the
// test moves.
type fixture struct {
	t       *testing.T
	app     *fiber.App
	engine  *gateway.Engine
	v       *auth.Verifier
	pool    *pgxpool.Pool
	root    string
	service string
	clock   *atomic.Int64 // unix nanoseconds
}

func newFixture(t *testing.T) *fixture { return newFixtureOn(t, t.TempDir()) }

// newFixtureOn keeps the file store's blobs under root.
func newFixtureOn(t *testing.T, root string) *fixture {
	t.Helper()
	ctx := context.Background()
	url := pgtest.URL(t)
	d, err := db.Open(ctx, url, db.Options{MaxConns: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := filebackend.New(root, filebackend.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.New(auth.Options{Secret: testSecret, Algorithm: "HS256", Roles: testRoles})
	if err != nil {
		t.Fatal(err)
	}
	service, _ := v.NewKey("service_role", time.Hour)
	clock := &atomic.Int64{}
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := gateway.New(d, store, gateway.Options{Roles: testRoles, ServiceKey: service, MaxObjectSize: 1 << 30,
		WriteTimeout: time.Minute, Logger: log, Now: now})
	app := fiber.New(fiber.Config{StreamRequestBody: true, DisablePreParseMultipartForm: true, BodyLimit: 64 << 10,
		DisableStartupMessage: true, ErrorHandler: rest.ErrorHandler(log)})
	New(e, Options{Verifier: v, Roles: testRoles, Expiry: time.Hour, MaxSize: 1 << 30, Logger: log}).Register(app)
	rh := rest.New(e, rest.Options{Verifier: v, Roles: testRoles, Logger: log})
	rh.Register(app)
	return &fixture{t: t, app: app, engine: e, v: v, pool: pool, root: root, service: service, clock: clock}
}

func (f *fixture) user(sub string) string {
	f.t.Helper()
	k, err := f.v.Sign(map[string]any{"role": "authenticated", "sub": sub, "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

type reply struct {
	status int
	header http.Header
	body   string
}

// do sends a request with headers given as name, value pairs; body may be nil, a string,
// []byte or an io.Reader (sent chunked).
func (f *fixture) do(method, path, key string, body any, headers ...string) reply {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	}
	req := httptest.NewRequest(method, path, rd)
	if _, chunked := body.(io.Reader); chunked {
		req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := f.app.Test(req, -1)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

func (f *fixture) must(r reply, want int) reply {
	f.t.Helper()
	if r.status != want {
		f.t.Fatalf("status %d, want %d: %q", r.status, want, r.body)
	}
	return r
}

func (f *fixture) sql(q string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(context.Background(), q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

func (f *fixture) bucket(name string, opts map[string]any) {
	f.t.Helper()
	body := map[string]any{"name": name}
	for k, v := range opts {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	f.must(f.do("POST", "/bucket", f.service, b, "Content-Type", "application/json"), 200)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func meta(bucket, key string, extra ...string) string {
	m := "bucketName " + b64(bucket) + ",objectName " + b64(key)
	for i := 0; i+1 < len(extra); i += 2 {
		m += "," + extra[i] + " " + b64(extra[i+1])
	}
	return m
}

// create starts an upload and returns its path (the Location without scheme and host).
func (f *fixture) create(key string, length int, metadata string, headers ...string) string {
	f.t.Helper()
	h := append([]string{"Tus-Resumable", "1.0.0", "Upload-Length", itoa(length), "Upload-Metadata", metadata}, headers...)
	r := f.must(f.do("POST", "/upload/resumable", key, nil, h...), 201)
	return path(f.t, r.header.Get("Location"))
}

func path(t *testing.T, loc string) string {
	t.Helper()
	i := strings.Index(loc, "/upload/resumable")
	if i < 0 {
		t.Fatalf("bad Location %q", loc)
	}
	return loc[i:]
}

func itoa(n int) string { return strconv.Itoa(n) }

func (f *fixture) patch(loc, key string, offset int, data string, headers ...string) reply {
	f.t.Helper()
	h := append([]string{"Tus-Resumable", "1.0.0", "Upload-Offset", itoa(offset),
		"Content-Type", "application/offset+octet-stream"}, headers...)
	return f.do("PATCH", loc, key, data, h...)
}

func (f *fixture) download(bucket, key string) string {
	f.t.Helper()
	return f.must(f.do("GET", "/object/authenticated/"+bucket+"/"+key, f.service, nil), 200).body
}

func TestOptions(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/upload/resumable", "/upload/resumable/abc", "/upload/resumable/sign", "/upload/resumable/sign/abc"} {
		t.Run(p, func(t *testing.T) {
			r := f.must(f.do("OPTIONS", p, "", nil), 204)
			for name, want := range map[string]string{
				"Tus-Version": "1.0.0", "Tus-Resumable": "1.0.0", "Tus-Max-Size": "1073741824",
				"Tus-Extension":                "creation,creation-with-upload,creation-defer-length,termination,expiration",
				"Access-Control-Allow-Origin":  "*",
				"Access-Control-Allow-Methods": "POST, HEAD, PATCH, OPTIONS, DELETE",
				"Access-Control-Max-Age":       "86400",
			} {
				if got := r.header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "x-signature") {
				t.Errorf("Allow-Headers = %q", r.header.Get("Access-Control-Allow-Headers"))
			}
		})
	}
}

// badMetadata is the reference's (tus-node-server's) answer to a malformed Upload-Metadata.
const badMetadata = "Upload-Metadata is invalid. It MUST consist of one or more comma-separated key-value pairs. The key and value MUST be separated by a space. The key MUST NOT contain spaces and commas and MUST NOT be empty. The key SHOULD be ASCII encoded and the value MUST be Base64 encoded. All keys MUST be unique"

// TestProtocolErrors pins the status and the whole body of each protocol error.
func TestProtocolErrors(t *testing.T) {
	f := newFixture(t)
	f.bucket("p", nil)
	loc := f.create(f.service, 10, meta("p", "a.txt"))
	unknown := "/upload/resumable/" + base64.RawURLEncoding.EncodeToString([]byte("p/a.txt/7b7e5f0c-3f7a-4b5e-9a9e-3e2f1d0c9b8a"))
	tr := []string{"Tus-Resumable", "1.0.0"}
	cases := []struct {
		name, method, path, key string
		body                    string
		headers                 []string
		status                  int
		want                    string // the whole body, without the plain-text newline
	}{
		{"missing Tus-Resumable", "POST", "/upload/resumable", f.service, "", []string{"Upload-Length", "1", "Upload-Metadata", meta("p", "x")}, 412, "Tus-Resumable Required"},
		{"other Tus-Resumable", "POST", "/upload/resumable", f.service, "", []string{"Tus-Resumable", "0.2.2", "Upload-Length", "1"}, 400, "Invalid tus-resumable"},
		{"non-canonical Upload-Length", "POST", "/upload/resumable", f.service, "", append(tr, "Upload-Length", "01", "Upload-Metadata", meta("p", "x")), 400, "Invalid upload-length"},
		{"negative Upload-Length", "POST", "/upload/resumable", f.service, "", append(tr, "Upload-Length", "-1", "Upload-Metadata", meta("p", "x")), 400, "Invalid upload-length"},
		{"length and defer", "POST", "/upload/resumable", f.service, "", append(tr, "Upload-Length", "1", "Upload-Defer-Length", "1", "Upload-Metadata", meta("p", "x")), 400, "Upload-Length or Upload-Defer-Length header required"},
		{"neither length nor defer", "POST", "/upload/resumable", f.service, "", append(tr, "Upload-Metadata", meta("p", "x")), 400, "Upload-Length or Upload-Defer-Length header required"},
		{"bad defer value", "POST", "/upload/resumable", f.service, "", append(tr, "Upload-Defer-Length", "2"), 400, "Invalid upload-defer-length"},
		{"no metadata", "POST", "/upload/resumable", f.service, "", append(tr, "Upload-Length", "1"), 400, "Metadata header is required"},
		{"bad metadata", "POST", "/upload/resumable", f.service, "", append(tr, "Upload-Length", "1", "Upload-Metadata", "bucketName !!!"), 400, badMetadata},
		{"duplicate metadata key", "POST", "/upload/resumable", f.service, "", append(tr, "Upload-Length", "1", "Upload-Metadata", "a YQ==,a YQ=="), 400, badMetadata},
		{"bad key", "POST", "/upload/resumable", f.service, "", append(tr, "Upload-Length", "1", "Upload-Metadata", meta("p", "../x")), 400, "Invalid key: ../x"},
		{"missing bucket", "POST", "/upload/resumable", f.service, "", append(tr, "Upload-Length", "1", "Upload-Metadata", meta("nope", "x")), 404, "Bucket not found"},
		{"concatenation", "POST", "/upload/resumable", f.service, "", append(tr, "Upload-Length", "1", "Upload-Concat", "partial", "Upload-Metadata", meta("p", "x")), 501, "Concatenation extension is not (yet) supported. Disable parallel uploads in the tus client."},
		{"no token", "POST", "/upload/resumable", "", "", append(tr, "Upload-Length", "1", "Upload-Metadata", meta("p", "x")), 400, `{"statusCode":"403","error":"Unauthorized","message":"Invalid Compact JWS","code":"AccessDenied"}`},
		{"bad token", "HEAD", loc, "not-a-jwt", "", tr, 400, ""},
		{"HEAD unknown", "HEAD", unknown, f.service, "", tr, 404, ""},
		{"HEAD garbage id", "HEAD", "/upload/resumable/%21%21", f.service, "", tr, 404, ""},
		{"PATCH unknown", "PATCH", unknown, f.service, "x", append(tr, "Upload-Offset", "0", "Content-Type", "application/offset+octet-stream"), 404, "The file for this url was not found"},
		{"PATCH without offset", "PATCH", loc, f.service, "x", append(tr, "Content-Type", "application/offset+octet-stream"), 403, "Upload-Offset header required"},
		{"PATCH without content type", "PATCH", loc, f.service, "x", append(tr, "Upload-Offset", "0"), 403, "Content-Type header required"},
		{"PATCH wrong content type", "PATCH", loc, f.service, "x", append(tr, "Upload-Offset", "0", "Content-Type", "text/plain"), 400, "Invalid content-type"},
		{"PATCH too large", "PATCH", loc, f.service, "01234567890", append(tr, "Upload-Offset", "0", "Content-Type", "application/offset+octet-stream"), 413, "upload's size exceeded"},
		{"PATCH wrong offset", "PATCH", loc, f.service, "x", append(tr, "Upload-Offset", "3", "Content-Type", "application/offset+octet-stream"), 409, "Upload-Offset conflict"},
		{"GET", "GET", loc, f.service, "", tr, 404, `{"message":"Route GET:` + loc + ` not found","error":"Not Found","statusCode":404}`},
		{"PUT", "PUT", loc, f.service, "", tr, 404, "Not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			r := f.do(tc.method, tc.path, tc.key, body, tc.headers...)
			want := tc.want
			if want != "" && !strings.HasPrefix(want, "{") {
				want += "\n" // plain-text protocol errors end with a newline
			}
			if r.status != tc.status || r.body != want {
				t.Fatalf("%d %q, want %d %q", r.status, r.body, tc.status, want)
			}
			if r.header.Get("Tus-Resumable") != "1.0.0" || r.header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("missing TUS/CORS headers: %v", r.header)
			}
		})
	}
	// The upload the error cases touched is unchanged.
	if r := f.must(f.do("HEAD", loc, f.service, nil, tr...), 200); r.header.Get("Upload-Offset") != "0" {
		t.Fatalf("offset %q after rejected requests", r.header.Get("Upload-Offset"))
	}
}

func TestUpload(t *testing.T) {
	f := newFixture(t)
	f.bucket("t1", nil)
	tr := []string{"Tus-Resumable", "1.0.0"}

	t.Run("reference exchange", func(t *testing.T) {
		loc := f.create(f.service, 10, meta("t1", "dir/file.txt", "contentType", "text/plain", "cacheControl", "60", "metadata", `{"k":"v"}`))
		r := f.must(f.do("HEAD", loc, f.service, nil, tr...), 200)
		if r.header.Get("Upload-Offset") != "0" || r.header.Get("Upload-Length") != "10" || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("HEAD headers %v", r.header)
		}
		if m, _ := parseMetadata(r.header.Get("Upload-Metadata")); len(m) != 5 || m[3].value != "max-age=60" {
			t.Fatalf("HEAD metadata %q", r.header.Get("Upload-Metadata"))
		}
		r = f.must(f.patch(loc, f.service, 0, "01234"), 204)
		if r.header.Get("Upload-Offset") != "5" || r.header.Get("Upload-Expires") == "" || r.header.Get("Tus-Complete") != "" {
			t.Fatalf("first PATCH headers %v", r.header)
		}
		f.must(f.patch(loc, f.service, 0, "xxxxx"), 409)
		r = f.must(f.patch(loc, f.service, 5, "56789"), 204)
		if r.header.Get("Upload-Offset") != "10" || r.header.Get("Tus-Complete") != "1" {
			t.Fatalf("last PATCH headers %v", r.header)
		}
		if got := f.download("t1", "dir/file.txt"); got != "0123456789" {
			t.Fatalf("object %q", got)
		}
		var version, ct, cc, um string
		err := f.pool.QueryRow(context.Background(), `select version, metadata->>'mimetype', metadata->>'cacheControl', user_metadata::text
			from storage.objects where bucket_id = 't1' and name = 'dir/file.txt'`).Scan(&version, &ct, &cc, &um)
		if err != nil {
			t.Fatal(err)
		}
		_, _, urlVersion, _ := parseURLID(strings.TrimPrefix(loc, "/upload/resumable/"))
		if version != urlVersion || ct != "text/plain" || cc != "max-age=60" || um != `{"k": "v"}` {
			t.Fatalf("row version=%s (url %s) mimetype=%s cacheControl=%s user_metadata=%s", version, urlVersion, ct, cc, um)
		}
		// A finished upload still answers HEAD; an empty PATCH at the end is a no-op retry.
		if r := f.must(f.do("HEAD", loc, f.service, nil, tr...), 200); r.header.Get("Upload-Offset") != "10" {
			t.Fatalf("HEAD after completion %v", r.header)
		}
		f.must(f.patch(loc, f.service, 10, ""), 204)
		f.must(f.patch(loc, f.service, 5, "56789"), 409)
		f.must(f.do("DELETE", loc, f.service, nil, tr...), 400)
	})

	t.Run("creation with upload", func(t *testing.T) {
		r := f.must(f.do("POST", "/upload/resumable", f.service, "hello", "Tus-Resumable", "1.0.0", "Upload-Length", "5",
			"Upload-Metadata", meta("t1", "cwu.txt"), "Content-Type", "application/offset+octet-stream"), 201)
		if r.header.Get("Upload-Offset") != "5" || r.header.Get("Tus-Complete") != "1" {
			t.Fatalf("headers %v", r.header)
		}
		if got := f.download("t1", "cwu.txt"); got != "hello" {
			t.Fatalf("object %q", got)
		}
	})

	t.Run("deferred length", func(t *testing.T) {
		r := f.must(f.do("POST", "/upload/resumable", f.service, nil, "Tus-Resumable", "1.0.0", "Upload-Defer-Length", "1",
			"Upload-Metadata", meta("t1", "deferred.bin")), 201)
		loc := path(t, r.header.Get("Location"))
		if r := f.must(f.do("HEAD", loc, f.service, nil, tr...), 200); r.header.Get("Upload-Defer-Length") != "1" {
			t.Fatalf("HEAD %v", r.header)
		}
		f.must(f.patch(loc, f.service, 0, "abc"), 204)
		f.must(f.patch(loc, f.service, 3, "de", "Upload-Length", "2"), 400) // below the offset
		r = f.must(f.patch(loc, f.service, 3, "de", "Upload-Length", "5"), 204)
		if r.header.Get("Tus-Complete") != "1" {
			t.Fatalf("headers %v", r.header)
		}
		if got := f.download("t1", "deferred.bin"); got != "abcde" {
			t.Fatalf("object %q", got)
		}
	})

	t.Run("zero length", func(t *testing.T) {
		r := f.must(f.do("POST", "/upload/resumable", f.service, nil, "Tus-Resumable", "1.0.0", "Upload-Length", "0",
			"Upload-Metadata", meta("t1", "empty")), 201)
		if r.header.Get("Tus-Complete") != "1" {
			t.Fatalf("headers %v", r.header)
		}
		if got := f.download("t1", "empty"); got != "" {
			t.Fatalf("object %q", got)
		}
	})

	t.Run("storage/v1 mount and URL path", func(t *testing.T) {
		r := f.do("POST", "/upload/resumable", f.service, nil, "Tus-Resumable", "1.0.0", "Upload-Length", "1",
			"Upload-Metadata", meta("t1", "loc"), "X-Forwarded-Host", "example.com", "X-Forwarded-Proto", "https")
		if got := r.header.Get("Location"); !strings.HasPrefix(got, "https://example.com/upload/resumable/") {
			t.Fatalf("Location %q", got)
		}
	})

	t.Run("unique URLs per upload of one path", func(t *testing.T) {
		a := f.create(f.service, 1, meta("t1", "same"))
		b := f.create(f.service, 1, meta("t1", "same"))
		if a == b {
			t.Fatal("same URL twice")
		}
	})
}

func TestConcurrentPatch(t *testing.T) {
	f := newFixture(t)
	f.bucket("c", nil)
	const size = 4 << 20
	loc := f.create(f.service, 2*size, meta("c", "race.bin"))
	chunks := [][]byte{bytes.Repeat([]byte{'A'}, size), bytes.Repeat([]byte{'B'}, size)}
	statuses := make([]int, 2)
	var wg sync.WaitGroup
	for i := range chunks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = f.patch(loc, f.service, 0, string(chunks[i])).status
		}()
	}
	wg.Wait()
	winner := -1
	for i, s := range statuses {
		switch s {
		case 204:
			if winner >= 0 {
				t.Fatalf("both PATCHes won: %v", statuses)
			}
			winner = i
		case 409, 423:
		default:
			t.Fatalf("statuses %v", statuses)
		}
	}
	if winner < 0 {
		t.Fatalf("no PATCH won: %v", statuses)
	}
	f.must(f.patch(loc, f.service, size, string(chunks[1-winner])), 204)
	want := string(chunks[winner]) + string(chunks[1-winner])
	if got := f.download("c", "race.bin"); got != want {
		t.Fatalf("stored %d bytes, not the winner's then the loser's", len(got))
	}
}

func TestTerminationAndExpiry(t *testing.T) {
	f := newFixture(t)
	f.bucket("e", nil)
	tr := []string{"Tus-Resumable", "1.0.0"}
	partFiles := func() int {
		n := 0
		_ = filepath.Walk(f.root, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() && strings.Contains(p, ".parts") {
				n++
			}
			return nil
		})
		return n
	}

	t.Run("termination", func(t *testing.T) {
		loc := f.create(f.service, 10, meta("e", "term"))
		f.must(f.patch(loc, f.service, 0, "abc"), 204)
		if partFiles() != 1 {
			t.Fatalf("%d part files", partFiles())
		}
		f.must(f.do("DELETE", loc, f.service, nil, tr...), 204)
		f.must(f.do("HEAD", loc, f.service, nil, tr...), 404)
		f.must(f.patch(loc, f.service, 3, "d"), 404)
		if partFiles() != 0 {
			t.Fatalf("%d part files left", partFiles())
		}
	})

	t.Run("expiry", func(t *testing.T) {
		loc := f.create(f.service, 10, meta("e", "exp"))
		f.must(f.patch(loc, f.service, 0, "abc"), 204)
		f.clock.Add(int64(time.Hour + time.Second))
		f.must(f.do("HEAD", loc, f.service, nil, tr...), 410)
		if r := f.must(f.patch(loc, f.service, 3, "d"), 410); !strings.Contains(r.body, "no longer exists") {
			t.Fatalf("body %q", r.body)
		}
		n, err := f.engine.SweepTusUploads(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("swept %d, %v", n, err)
		}
		f.must(f.do("HEAD", loc, f.service, nil, tr...), 404)
		if partFiles() != 0 {
			t.Fatalf("%d part files left after the sweep", partFiles())
		}
	})
}

func TestLimitsAndPermissions(t *testing.T) {
	f := newFixture(t)
	f.bucket("small", map[string]any{"file_size_limit": 100})
	f.bucket("png", map[string]any{"allowed_mime_types": []string{"image/png"}})
	f.bucket("rls", nil)
	f.sql(`create policy tus_ins on storage.objects for insert to authenticated
		with check (bucket_id = 'rls' and (storage.foldername(name))[1] = auth.uid()::text)`)
	f.sql(`create policy tus_read on storage.objects for select to authenticated
		using (bucket_id = 'rls' and (storage.foldername(name))[1] = auth.uid()::text)`)
	const uid = "5d6a3c1e-2f4b-4e8a-9c7d-0b1a2c3d4e5f"
	user := f.user(uid)
	tr := []string{"Tus-Resumable", "1.0.0"}
	post := func(key, length, metadata string, extra ...string) reply {
		return f.do("POST", "/upload/resumable", key, nil, append(append(tr, "Upload-Length", length, "Upload-Metadata", metadata), extra...)...)
	}

	t.Run("size limit at creation", func(t *testing.T) {
		if r := post(f.service, "101", meta("small", "big")); r.status != 413 || !strings.Contains(r.body, "Maximum size exceeded") {
			t.Fatalf("%d %q", r.status, r.body)
		}
		f.must(post(f.service, "100", meta("small", "fits")), 201)
	})

	t.Run("size limit while bytes arrive", func(t *testing.T) {
		r := f.must(f.do("POST", "/upload/resumable", f.service, nil, append(tr, "Upload-Defer-Length", "1",
			"Upload-Metadata", meta("small", "stream"))...), 201)
		loc := path(t, r.header.Get("Location"))
		// A chunked body of unknown size is cut at the bucket limit.
		r = f.do("PATCH", loc, f.service, io.Reader(strings.NewReader(strings.Repeat("x", 150))),
			append(tr, "Upload-Offset", "0", "Content-Type", "application/offset+octet-stream")...)
		if r.status != 413 {
			t.Fatalf("%d %q", r.status, r.body)
		}
		if r := f.must(f.do("HEAD", loc, f.service, nil, tr...), 200); r.header.Get("Upload-Offset") != "0" {
			t.Fatalf("offset %q after a cut chunk", r.header.Get("Upload-Offset"))
		}
	})

	t.Run("mime type", func(t *testing.T) {
		if r := post(f.service, "1", meta("png", "a.txt", "contentType", "text/plain")); r.status != 415 || !strings.Contains(r.body, "mime type text/plain is not supported") {
			t.Fatalf("%d %q", r.status, r.body)
		}
		f.must(post(f.service, "1", meta("png", "a.png", "contentType", "image/png")), 201)
	})

	t.Run("RLS denies", func(t *testing.T) {
		if r := post(user, "1", meta("rls", "someone-else/a")); r.status != 403 || !strings.Contains(r.body, "row-level security") {
			t.Fatalf("%d %q", r.status, r.body)
		}
	})

	t.Run("RLS allows and owner is the user", func(t *testing.T) {
		r := f.must(post(user, "2", meta("rls", uid+"/a")), 201)
		f.must(f.patch(path(t, r.header.Get("Location")), user, 0, "ok"), 204)
		var owner string
		if err := f.pool.QueryRow(context.Background(), `select owner_id from storage.objects where bucket_id = 'rls' and name = $1`, uid+"/a").Scan(&owner); err != nil || owner != uid {
			t.Fatalf("owner %q, %v", owner, err)
		}
	})

	t.Run("duplicate without upsert", func(t *testing.T) {
		f.must(f.patch(f.create(f.service, 1, meta("rls", "dup")), f.service, 0, "1"), 204)
		if r := post(f.service, "1", meta("rls", "dup")); r.status != 409 || !strings.Contains(r.body, "The resource already exists") {
			t.Fatalf("%d %q", r.status, r.body)
		}
		loc := f.create(f.service, 1, meta("rls", "dup"), "x-upsert", "true")
		f.must(f.patch(loc, f.service, 0, "2", "x-upsert", "true"), 204)
		if got := f.download("rls", "dup"); got != "2" {
			t.Fatalf("object %q", got)
		}
	})

	t.Run("x-upsert on creation holds for the whole upload", func(t *testing.T) {
		f.must(f.patch(f.create(f.service, 1, meta("rls", "up")), f.service, 0, "1"), 204)
		// Created with x-upsert; the PATCHes and the completion send no x-upsert.
		loc := f.create(f.service, 2, meta("rls", "up"), "x-upsert", "true")
		f.must(f.patch(loc, f.service, 0, "2"), 204)
		f.must(f.patch(loc, f.service, 1, "2"), 204)
		if got := f.download("rls", "up"); got != "22" {
			t.Fatalf("object %q", got)
		}
		// And a termination without the header.
		loc = f.create(f.service, 2, meta("rls", "up"), "x-upsert", "true")
		f.must(f.do("DELETE", loc, f.service, nil, tr...), 204)
	})

	t.Run("two uploads of one path: the first to finish wins", func(t *testing.T) {
		a := f.create(f.service, 1, meta("rls", "race"))
		b := f.create(f.service, 1, meta("rls", "race"))
		f.must(f.patch(a, f.service, 0, "a"), 204)
		if r := f.patch(b, f.service, 0, "b"); r.status != 409 || !strings.Contains(r.body, "The resource already exists") {
			t.Fatalf("%d %q", r.status, r.body)
		}
		f.must(f.patch(b, f.service, 0, "b", "x-upsert", "true"), 204)
		if got := f.download("rls", "race"); got != "b" {
			t.Fatalf("object %q", got)
		}
	})
}

func TestSignedUpload(t *testing.T) {
	f := newFixture(t)
	f.bucket("s", nil)
	const owner = "0b1a2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	f.sql(`create policy tus_sign on storage.objects for insert to authenticated with check (bucket_id = 's')`)
	f.sql(`create policy tus_sign_read on storage.objects for select to authenticated using (bucket_id = 's')`)
	r := f.must(f.do("POST", "/object/upload/sign/s/signed.txt", f.user(owner), nil), 200)
	var out struct{ Token string }
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || out.Token == "" {
		t.Fatalf("sign reply %q", r.body)
	}
	other := f.must(f.do("POST", "/object/upload/sign/s/other.txt", f.service, nil), 200)
	var otherOut struct{ Token string }
	_ = json.Unmarshal([]byte(other.body), &otherOut)
	h := []string{"Tus-Resumable", "1.0.0", "Upload-Length", "4", "Upload-Metadata", meta("s", "signed.txt")}

	cases := []struct {
		name, token, contains string
	}{
		{"missing x-signature", "", "Missing x-signature header"},
		{"token for another path", otherOut.Token, "Invalid signature"},
		{"not a token", "abc", "Invalid Compact JWS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hh := h
			if tc.token != "" {
				hh = append(hh, "x-signature", tc.token)
			}
			if r := f.do("POST", "/upload/resumable/sign", "", nil, hh...); r.status != 400 || !strings.Contains(r.body, tc.contains) {
				t.Fatalf("%d %q", r.status, r.body)
			}
		})
	}

	t.Run("upload", func(t *testing.T) {
		r := f.must(f.do("POST", "/upload/resumable/sign", "", nil, append(h, "x-signature", out.Token)...), 201)
		loc := path(t, r.header.Get("Location"))
		if !strings.HasPrefix(loc, "/upload/resumable/sign/") {
			t.Fatalf("Location %q", loc)
		}
		f.must(f.patch(loc, "", 0, "ab"), 400) // no x-signature
		f.must(f.patch(loc, "", 0, "ab", "x-signature", out.Token), 204)
		f.must(f.patch(loc, "", 2, "cd", "x-signature", out.Token), 204)
		if got := f.download("s", "signed.txt"); got != "abcd" {
			t.Fatalf("object %q", got)
		}
		var got string
		if err := f.pool.QueryRow(context.Background(), `select owner_id from storage.objects where bucket_id = 's' and name = 'signed.txt'`).Scan(&got); err != nil || got != owner {
			t.Fatalf("owner %q, %v", got, err)
		}
	})

	// Upsert comes from the token only: the same (upsert:false) token with an x-upsert
	// header cannot overwrite what now exists.
	t.Run("x-upsert header does not grant overwrite", func(t *testing.T) {
		hh := append(h, "x-signature", out.Token, "x-upsert", "true")
		r := f.do("POST", "/upload/resumable/sign", "", nil, hh...)
		if r.status == 201 {
			r = f.patch(path(t, r.header.Get("Location")), "", 0, "wxyz", "x-signature", out.Token, "x-upsert", "true")
		}
		if r.status != 409 {
			t.Fatalf("overwrite with a non-upsert token: %d %q", r.status, r.body)
		}
		if got := f.download("s", "signed.txt"); got != "abcd" {
			t.Fatalf("object %q after a refused overwrite", got)
		}
	})
}

func TestErrorTableComplete(t *testing.T) {
	for c := gateway.Code(0); int(c) < gateway.NumCodes; c++ {
		t.Run(c.String(), func(t *testing.T) {
			if _, ok := errorTable[c]; !ok {
				t.Fatalf("no TUS rendering for %v", c)
			}
		})
	}
}

func TestParseMetadata(t *testing.T) {
	cases := []struct {
		name, in string
		ok       bool
		n        int
	}{
		{"empty", "", true, 0},
		{"pairs", "a YQ==,b Yg==", true, 2},
		{"key alone", "a", true, 1},
		{"spaces around pairs", "a YQ==, b Yg==", true, 2},
		{"bad base64", "a !!", false, 0},
		{"duplicate", "a YQ==,a YQ==", false, 0},
		{"empty pair", ",a YQ==", false, 0},
		{"extra field", "a YQ== Yg==", false, 0},
		{"non-ascii key", "ké YQ==", false, 0},
		{"pairs at the cap", metaKeys(maxMetadataPairs), true, maxMetadataPairs},
		{"pairs over the cap", metaKeys(maxMetadataPairs + 1), false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseMetadata(tc.in)
			if ok != tc.ok || len(got) != tc.n {
				t.Fatalf("parseMetadata(%q) = %v, %v", tc.in, got, ok)
			}
		})
	}
}

// metaKeys is an Upload-Metadata header of n distinct keys without values.
func metaKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	return strings.Join(keys, ",")
}
