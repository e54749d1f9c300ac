package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/filebackend"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var testRoles = auth.Roles{Anon: "anon", Authenticated: "authenticated", Service: "service_role"}

const testSecret = "rest-test-jwt-secret-0123456789-abcdefghij"

// fixture is the REST dialect over a real engine: a throw-away database, a file store in
// a temporary folder, and a fiber app configured like the server's (streamed bodies).
type fixture struct {
	t       *testing.T
	app     *fiber.App
	engine  *gateway.Engine
	v       *auth.Verifier
	pool    *pgxpool.Pool
	service string
	anon    string
	// opens counts the store's Open calls when fixtureOptions.countOpens is set.
	opens *atomic.Int64
}

// countingStore counts Opens (it hides the file store's optional interfaces, so only
// tests that read objects use it).
type countingStore struct {
	backend.Store
	opens *atomic.Int64
}

func (s countingStore) Open(ctx context.Context, key string, r backend.Range) (io.ReadCloser, error) {
	s.opens.Add(1)
	return s.Store.Open(ctx, key, r)
}

type fixtureOptions struct {
	jwks       string
	maxObject  int64
	sMaxAge    int
	countOpens bool
	storeRoot  string // the file store's folder; empty: a temporary one
	// engineURL, when set, returns the database URL the engine uses instead of the test
	// database's own (a pgtest proxy in front of it); the fixture's pool stays direct.
	engineURL func(url string) string
	// db configures the engine's pool (MaxConns 10 when zero).
	db db.Options
	// purgeBucket is Options.PurgeBucket.
	purgeBucket func(ctx context.Context, bucket string)
}

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	ctx := context.Background()
	url := pgtest.URL(t)
	engineURL := url
	if o.engineURL != nil {
		engineURL = o.engineURL(url)
	}
	if o.db.MaxConns == 0 {
		o.db.MaxConns = 10
	}
	d, err := db.Open(ctx, engineURL, o.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if o.storeRoot == "" {
		o.storeRoot = t.TempDir()
	}
	files, err := filebackend.New(o.storeRoot, filebackend.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	var store backend.Store = files
	opens := &atomic.Int64{}
	if o.countOpens {
		store = countingStore{Store: files, opens: opens}
	}
	if o.maxObject == 0 {
		o.maxObject = 1 << 30
	}
	v, err := auth.New(auth.Options{Secret: testSecret, Algorithm: "HS256", JWKS: o.jwks, Roles: testRoles})
	if err != nil {
		t.Fatal(err)
	}
	service, _ := v.NewKey("service_role", time.Hour)
	anon, _ := v.NewKey("anon", time.Hour)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := gateway.New(d, store, gateway.Options{Roles: testRoles, ServiceKey: service, MaxObjectSize: o.maxObject,
		WriteTimeout: time.Minute, EmptyBucketMax: 5, Logger: log})
	h := New(e, Options{Verifier: v, Roles: testRoles, SMaxAge: o.sMaxAge, Logger: log, PurgeBucket: o.purgeBucket})
	app := fiber.New(fiber.Config{StreamRequestBody: true, DisablePreParseMultipartForm: true, BodyLimit: 64 << 10,
		DisableStartupMessage: true, ErrorHandler: ErrorHandler(log)})
	h.Register(app)
	h.Register(app.Group("/storage/v1"))
	return &fixture{t: t, app: app, engine: e, v: v, pool: pool, service: service, anon: anon, opens: opens}
}

func (f *fixture) user(sub string) string {
	f.t.Helper()
	k, err := f.v.Sign(map[string]any{"role": "authenticated", "sub": sub, "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

// reply is a response read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("not a JSON object (%d): %s", r.status, r.body)
	}
	return m
}

// do sends a request; body may be a string, []byte, io.Reader (sent chunked unless its
// length is known) or any JSON-able value.
func (f *fixture) do(method, path, key string, body any, headers ...string) reply {
	f.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(data), "application/json"
	}
	req := httptest.NewRequest(method, path, rd)
	if req.ContentLength < 0 { // a reader of unknown length: sent chunked
		req.TransferEncoding = []string{"chunked"}
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
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
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}
}

// must fails unless the reply has status want.
func (f *fixture) must(r reply, want int) reply {
	f.t.Helper()
	if r.status != want {
		f.t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	return r
}

func (f *fixture) bucket(name string, opts map[string]any) {
	f.t.Helper()
	body := map[string]any{"name": name}
	for k, v := range opts {
		body[k] = v
	}
	f.must(f.do("POST", "/bucket", f.service, body), 200)
}

func (f *fixture) put(bucket, key, data string, headers ...string) {
	f.t.Helper()
	f.must(f.do("POST", "/object/"+bucket+"/"+key, f.service, data, append([]string{"Content-Type", "text/plain"}, headers...)...), 200)
}

func (f *fixture) sql(q string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(context.Background(), q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

// envelope is the expected error reply: HTTP status plus the body's statusCode and code.
type envelope struct {
	http       int
	statusCode string
	code       string
	message    string // "" = not checked
}

func (f *fixture) checkError(r reply, want envelope) {
	f.t.Helper()
	if r.status != want.http {
		f.t.Fatalf("HTTP %d, want %d: %s", r.status, want.http, r.body)
	}
	var e map[string]any
	if err := json.Unmarshal(r.body, &e); err != nil {
		f.t.Fatalf("error body is not JSON: %q", r.body)
	}
	if e["statusCode"] != want.statusCode || e["code"] != want.code {
		f.t.Fatalf("envelope %s, want statusCode %q code %q", r.body, want.statusCode, want.code)
	}
	if want.message != "" && e["message"] != want.message {
		f.t.Fatalf("message %q, want %q", e["message"], want.message)
	}
	for _, k := range []string{"statusCode", "error", "message", "code"} {
		if _, ok := e[k].(string); !ok {
			f.t.Fatalf("envelope field %s missing or not a string: %s", k, r.body)
		}
	}
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
