package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgcluster"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/server"
	"github.com/stowage/stowage/gateway/tenants"
)

// mapSource is a test fixture standing in for the control database: tenants in a map,
// changes announced to the registered callbacks as the Registry's NOTIFY listener does.
type mapSource struct {
	mu  sync.Mutex
	m   map[string]tenants.Tenant
	fns []func(string)
}

func (s *mapSource) Get(_ context.Context, id string) (*tenants.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[id]
	if !ok {
		return nil, tenants.ErrNotFound
	}
	return &t, nil
}

func (s *mapSource) Changed(fn func(string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fns = append(s.fns, fn)
}

func (s *mapSource) set(t tenants.Tenant) {
	s.mu.Lock()
	s.m[t.ID] = t
	fns := append([]func(string){}, s.fns...)
	s.mu.Unlock()
	for _, fn := range fns {
		fn(t.ID)
	}
}

// mtServer is a multi-tenant Stowage served in-process from serveMultiTenant.
type mtServer struct {
	url, s3url string
	tenants    *server.Tenants
	store      string
}

const mtHostRegexp = `^([a-z0-9-]+)\.storage\.example\.test$`

func startMultiTenant(t *testing.T, src tenants.Source) *mtServer {
	t.Helper()
	return startMultiTenantEnv(t, src, nil)
}

// startMultiTenantEnv is startMultiTenant with the variables of extra added.
func startMultiTenantEnv(t *testing.T, src tenants.Source, extra map[string]string) *mtServer {
	t.Helper()
	return startMultiTenantWith(t, multiTenant{Source: src, MaxStacks: 4}, extra)
}

// startMultiTenantWith is startMultiTenantEnv with the multi-tenant options mt.
func startMultiTenantWith(t *testing.T, mt multiTenant, extra map[string]string) *mtServer {
	t.Helper()
	env := map[string]string{
		"SERVER_HOST": "127.0.0.1", "STORAGE_FILE_BACKEND_PATH": t.TempDir(), "DB_INSTALL_ROLES": "true",
		"REQUEST_X_FORWARDED_HOST_REGEXP": mtHostRegexp, "DATABASE_CONNECTION_TIMEOUT": "2000",
		"ENCRYPTION_KEY": "multi-tenant-test-encryption-key", "STOWAGE_DATA_DIR": t.TempDir(),
		"LOG_LEVEL": "warn",
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Port, cfg.S3Port = 0, 0
	lnS3, err := net.Listen("tcp", "127.0.0.1:0") // a free port for the S3 listener
	if err != nil {
		t.Fatal(err)
	}
	cfg.S3Port = lnS3.Addr().(*net.TCPAddr).Port
	lnS3.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *mtServer, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	go func() {
		done <- serveMultiTenant(ctx, cfg, mt, log,
			func(main, s3 net.Addr, ts *server.Tenants) {
				ready <- &mtServer{url: "http://" + main.String(), s3url: "http://" + s3.String(), tenants: ts,
					store: cfg.FilePath}
			})
	}()
	var s *mtServer
	select {
	case s = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serveMultiTenant: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serveMultiTenant: %v", err)
		}
	})
	return s
}

func hostOf(tenant string) string { return tenant + ".storage.example.test" }

func signKey(t *testing.T, secret, role string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"role": role,
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// mtDo sends a request for tenant (its X-Forwarded-Host; none when tenant is "") under the
// hang guard and returns the status and body.
func mtDo(t *testing.T, method, url, tenant, key string, body []byte, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tenant != "" {
		req.Header.Set("X-Forwarded-Host", hostOf(tenant))
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// mtS3 is an S3 client of tenant at http://<tenant host><prefix>, reaching Stowage at addr.
func mtS3(addr, prefix, tenant, keyID, secret string) *s3.Client {
	return harness.TenantS3Client(addr, "http://"+hostOf(tenant)+prefix, keyID, secret)
}

// TestMultiTenantIsolation serves two tenants, each with its own JWT secret and database
// (the second on its own Postgres cluster), from one multi-tenant Stowage over one store.
func TestMultiTenantIsolation(t *testing.T) {
	alphaURL := pgtest.EmptyURL(t) // not migrated: the first request migrates it
	cluster, err := pgcluster.Start(t.Context(), pgcluster.Options{Dir: t.TempDir(), Throwaway: true})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cluster.Stop(context.Background())
		}
	})
	src := &mapSource{m: map[string]tenants.Tenant{}}
	secrets := map[string]string{"alpha": "alpha-secret-0123456789-0123456789-xx", "beta": "beta-secret-0123456789-0123456789-yyy"}
	src.set(tenants.Tenant{ID: "alpha", DatabaseURL: alphaURL, JWTSecret: secrets["alpha"], S3Protocol: true, MaxConnections: 3})
	src.set(tenants.Tenant{ID: "beta", DatabaseURL: cluster.URL("postgres"), JWTSecret: secrets["beta"], S3Protocol: true})
	s := startMultiTenant(t, src)
	service := map[string]string{"alpha": signKey(t, secrets["alpha"], "service_role"), "beta": signKey(t, secrets["beta"], "service_role")}

	// Each tenant: the same bucket and key, different bytes.
	for _, tn := range []string{"alpha", "beta"} {
		code, body, _ := mtDo(t, "POST", s.url+"/bucket", tn, service[tn], []byte(`{"name":"shared"}`), map[string]string{"Content-Type": "application/json"})
		if code != 200 {
			t.Fatalf("%s create bucket: %d %s", tn, code, body)
		}
		code, body, _ = mtDo(t, "POST", s.url+"/object/shared/doc.txt", tn, service[tn], []byte("bytes of "+tn), map[string]string{"Content-Type": "text/plain"})
		if code != 200 {
			t.Fatalf("%s upload: %d %s", tn, code, body)
		}
		code, body, _ = mtDo(t, "POST", s.url+"/object/shared/only-"+tn+".txt", tn, service[tn], []byte(tn), map[string]string{"Content-Type": "text/plain"})
		if code != 200 {
			t.Fatalf("%s upload: %d %s", tn, code, body)
		}
	}

	t.Run("REST", func(t *testing.T) {
		for _, tn := range []string{"alpha", "beta"} {
			other := map[string]string{"alpha": "beta", "beta": "alpha"}[tn]
			if code, body, _ := mtDo(t, "GET", s.url+"/object/shared/doc.txt", tn, service[tn], nil, nil); code != 200 || body != "bytes of "+tn {
				t.Errorf("%s reads its own object: %d %q", tn, code, body)
			}
			// The other tenant's service key is not signed with this tenant's secret: refused
			// where a token is required, anonymous (no access) where it is optional.
			if code, body, _ := mtDo(t, "GET", s.url+"/bucket", tn, service[other], nil, nil); code != 400 || !strings.Contains(body, `"statusCode":"403"`) {
				t.Errorf("%s lists buckets with %s's key: %d %s, want the 403 envelope", tn, other, code, body)
			}
			if code, body, _ := mtDo(t, "GET", s.url+"/object/shared/doc.txt", tn, service[other], nil, nil); code == 200 || strings.Contains(body, "bytes of") {
				t.Errorf("%s reads with %s's key: %d %s", tn, other, code, body)
			}
			// Its own database knows nothing of the other's objects.
			if code, body, _ := mtDo(t, "GET", s.url+"/object/shared/only-"+other+".txt", tn, service[tn], nil, nil); code != 400 || !strings.Contains(body, `"statusCode":"404"`) {
				t.Errorf("%s reads %s's key: %d %s, want the not-found envelope", tn, other, code, body)
			}
		}
		// Bytes of each tenant are under its id: these small objects in its own database
		// (STOWAGE_INLINE_MAX_BYTES), nothing of theirs in the shared store's folders.
		dbURL := map[string]string{"alpha": alphaURL, "beta": cluster.URL("postgres")}
		for _, tn := range []string{"alpha", "beta"} {
			conn, err := pgx.Connect(t.Context(), dbURL[tn])
			if err != nil {
				t.Fatal(err)
			}
			var own, foreign int
			err = conn.QueryRow(t.Context(), `select count(*) filter (where key like $1 || '/%'),
				count(*) filter (where key not like $1 || '/%') from stowage.small_blobs`, tn).Scan(&own, &foreign)
			conn.Close(context.Background())
			if err != nil || own != 2 || foreign != 0 {
				t.Errorf("%s's database keeps %d blobs under its id and %d others (%v), want 2 and 0", tn, own, foreign, err)
			}
			if _, err := os.Stat(filepath.Join(s.store, tn)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("store has a %s/ folder for objects kept in Postgres: %v", tn, err)
			}
		}
	})

	var creds map[string][2]string
	t.Run("S3", func(t *testing.T) {
		creds = map[string][2]string{}
		for _, tn := range []string{"alpha", "beta"} {
			e, release, err := s.tenants.Engine(t.Context(), tn) // the admin API's hook
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			c, secret, err := e.CreateS3Credential(t.Context(), gateway.NewS3Credential{Description: "test"})
			if err != nil {
				t.Fatal(err)
			}
			creds[tn] = [2]string{c.AccessKey, secret}
		}
		for _, ep := range [][2]string{{strings.TrimPrefix(s.url, "http://"), "/s3"}, {strings.TrimPrefix(s.s3url, "http://"), ""}} {
			endpoint := ep[0] + ep[1]
			for _, tn := range []string{"alpha", "beta"} {
				other := map[string]string{"alpha": "beta", "beta": "alpha"}[tn]
				c := mtS3(ep[0], ep[1], tn, creds[tn][0], creds[tn][1])
				out, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String("doc.txt")})
				if err != nil {
					t.Fatalf("%s %s GetObject: %v", endpoint, tn, err)
				}
				b, _ := io.ReadAll(out.Body)
				out.Body.Close()
				if string(b) != "bytes of "+tn {
					t.Errorf("%s %s GetObject = %q", endpoint, tn, b)
				}
				if _, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("shared"), Key: aws.String("only-" + other + ".txt")}); err == nil {
					t.Errorf("%s %s sees %s's object", endpoint, tn, other)
				}
				// This tenant's credentials signing for the other tenant's host.
				wrong := mtS3(ep[0], ep[1], other, creds[tn][0], creds[tn][1])
				_, err = wrong.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String("doc.txt")})
				if err == nil || !strings.Contains(err.Error(), "403") {
					t.Errorf("%s %s credentials at %s: %v, want 403", endpoint, tn, other, err)
				}
			}
		}
	})

	t.Run("TUS", func(t *testing.T) {
		meta := "bucketName " + b64("shared") + ",objectName " + b64("resumable.txt")
		code, body, hdr := mtDo(t, "POST", s.url+"/upload/resumable", "alpha", service["alpha"], nil, map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Length": "11", "Upload-Metadata": meta})
		if code != 201 {
			t.Fatalf("TUS create: %d %s", code, body)
		}
		loc := hdr.Get("Location")
		if !strings.Contains(loc, hostOf("alpha")) {
			t.Errorf("Location %q does not name the tenant's host", loc)
		}
		path := loc[strings.Index(loc, "/upload/resumable"):]
		patch := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
		// beta cannot continue alpha's upload, with its own key or with alpha's.
		if code, body, _ := mtDo(t, "PATCH", s.url+path, "beta", service["beta"], []byte("hello alpha"), patch); code < 400 {
			t.Errorf("beta PATCHes alpha's upload: %d %s", code, body)
		}
		if code, body, _ := mtDo(t, "PATCH", s.url+path, "beta", service["alpha"], []byte("hello alpha"), patch); code < 400 {
			t.Errorf("beta host with alpha's key PATCHes alpha's upload: %d %s", code, body)
		}
		if code, body, _ := mtDo(t, "PATCH", s.url+path, "alpha", service["alpha"], []byte("hello alpha"), patch); code != 204 {
			t.Fatalf("alpha PATCH: %d %s", code, body)
		}
		if code, body, _ := mtDo(t, "GET", s.url+"/object/shared/resumable.txt", "alpha", service["alpha"], nil, nil); code != 200 || body != "hello alpha" {
			t.Errorf("alpha reads the finished upload: %d %q", code, body)
		}
		if code, _, _ := mtDo(t, "GET", s.url+"/object/shared/resumable.txt", "beta", service["beta"], nil, nil); code == 200 {
			t.Error("beta reads alpha's finished upload")
		}
	})

	t.Run("Refusals", func(t *testing.T) {
		code, body, _ := mtDo(t, "GET", s.url+"/bucket", "", service["alpha"], nil, nil)
		if code != 400 || !strings.Contains(body, `"code":"InvalidRequest"`) || !strings.Contains(body, "X-Forwarded-Host") {
			t.Errorf("no X-Forwarded-Host: %d %s", code, body)
		}
		code, body, _ = mtDo(t, "GET", s.url+"/bucket", "", service["alpha"], nil, map[string]string{"X-Forwarded-Host": "alpha.elsewhere.test"})
		if code != 400 || !strings.Contains(body, "does not match regular expression") {
			t.Errorf("foreign host: %d %s", code, body)
		}
		code, body, _ = mtDo(t, "GET", s.url+"/bucket", "gamma", service["alpha"], nil, nil)
		if code != 400 || !strings.Contains(body, `"code":"TenantNotFound"`) || !strings.Contains(body, "Missing tenant config for tenant gamma") {
			t.Errorf("unknown tenant: %d %s", code, body)
		}
		// A tenant whose S3 feature is off: the reference's FeatureNotEnabled, on both S3
		// endpoints; image transformation off likewise.
		src.set(tenants.Tenant{ID: "nos3", DatabaseURL: alphaURL, JWTSecret: secrets["alpha"]})
		for _, u := range []string{s.url + "/s3/shared", s.s3url + "/shared", s.url + "/render/image/authenticated/shared/doc.txt"} {
			code, body, _ = mtDo(t, "GET", u, "nos3", "", nil, nil)
			if code != 403 || !strings.Contains(body, `"error":"FeatureNotEnabled"`) {
				t.Errorf("%s, feature off: %d %s", u, code, body)
			}
		}
		if code, body, _ = mtDo(t, "GET", s.url+"/bucket", "nos3", service["alpha"], nil, nil); code != 200 {
			t.Errorf("REST of a tenant without S3: %d %s", code, body)
		}
		code, body, _ = mtDo(t, "GET", s.s3url+"/shared", "gamma", "", nil, nil)
		if code != 400 || !strings.Contains(body, "<Code>TenantNotFound</Code>") {
			t.Errorf("unknown tenant, S3 listener: %d %s", code, body)
		}
	})

	t.Run("Rotation", func(t *testing.T) {
		old := service["alpha"]
		rotated := "alpha-rotated-secret-0123456789-0123456"
		tn, _ := src.Get(t.Context(), "alpha")
		tn.JWTSecret = rotated
		src.set(*tn) // the Registry calls Changed the same way on NOTIFY
		if code, body, _ := mtDo(t, "GET", s.url+"/bucket", "alpha", old, nil, nil); code != 400 || !strings.Contains(body, `"statusCode":"403"`) {
			t.Errorf("old key after rotation: %d %s", code, body)
		}
		service["alpha"] = signKey(t, rotated, "service_role")
		if code, body, _ := mtDo(t, "GET", s.url+"/object/shared/doc.txt", "alpha", service["alpha"], nil, nil); code != 200 || body != "bytes of alpha" {
			t.Errorf("new key after rotation: %d %s", code, body)
		}
	})

	t.Run("Render", func(t *testing.T) {
		// Each tenant: an image of its own size at the same bucket and key. With the flag
		// on, each tenant's render route renders its own object (a shared renderer, cache
		// and concurrency bound, tenant-scoped variant keys); with it off, 403.
		sizes := map[string][2]int{"alpha": {40, 20}, "beta": {30, 60}}
		for _, tn := range []string{"alpha", "beta"} {
			code, body, _ := mtDo(t, "POST", s.url+"/object/shared/pic.png", tn, service[tn], pngOf(t, sizes[tn][0], sizes[tn][1]),
				map[string]string{"Content-Type": "image/png"})
			if code != 200 {
				t.Fatalf("%s upload png: %d %s", tn, code, body)
			}
		}
		const route = "/render/image/authenticated/shared/pic.png?width=%d&resize=contain&format=origin"
		if code, body, _ := mtDo(t, "GET", s.url+fmt.Sprintf(route, 10), "alpha", service["alpha"], nil, nil); code != 403 || !strings.Contains(body, "FeatureNotEnabled") {
			t.Errorf("render with the tenant's flag off: %d %s", code, body)
		}
		for _, tn := range []string{"alpha", "beta"} {
			cur, _ := src.Get(t.Context(), tn)
			cur.ImageTransformation = true
			src.set(*cur)
		}
		for _, tn := range []string{"alpha", "beta"} {
			for _, prefix := range []string{"", "/storage/v1"} {
				for range 2 { // the second is a cache hit
					code, body, hdr := mtDo(t, "GET", s.url+prefix+fmt.Sprintf(route, 10), tn, service[tn], nil, nil)
					if code != 200 {
						t.Fatalf("%s render: %d %s", tn, code, body)
					}
					cfg, err := png.DecodeConfig(strings.NewReader(body))
					if err != nil {
						t.Fatalf("%s render: not a png (%s): %v", tn, hdr.Get("Content-Type"), err)
					}
					wantH := sizes[tn][1] * 10 / sizes[tn][0]
					if cfg.Width != 10 || cfg.Height != wantH {
						t.Errorf("%s render: %dx%d, want 10x%d (its own image)", tn, cfg.Width, cfg.Height, wantH)
					}
				}
			}
		}
		// The other tenant's key does not render this tenant's object.
		if code, _, _ := mtDo(t, "GET", s.url+fmt.Sprintf(route, 10), "alpha", service["beta"], nil, nil); code == 200 {
			t.Error("alpha's image rendered with beta's key")
		}
	})

	t.Run("RenderMaxResolution", func(t *testing.T) {
		// alpha's maxResolution (the reference's image_transformation_max_resolution, in
		// megapixels) is 1: its 1.2 MP original is refused as one over the gateway's limit
		// is, its small one still renders; beta, without a limit, renders its own 1.2 MP
		// original. Lifting the limit (a control-plane change) lets alpha render it.
		for _, tn := range []string{"alpha", "beta"} {
			code, body, _ := mtDo(t, "POST", s.url+"/object/shared/big.png", tn, service[tn], pngOf(t, 1200, 1000),
				map[string]string{"Content-Type": "image/png"})
			if code != 200 {
				t.Fatalf("%s upload png: %d %s", tn, code, body)
			}
		}
		setLimit := func(mp int) {
			cur, _ := src.Get(t.Context(), "alpha")
			cur.ImageTransformation, cur.ImageTransformationMaxResolution = true, mp
			src.set(*cur)
		}
		const route = "/render/image/authenticated/shared/%s?width=10&format=origin"
		render := func(tn, key string) (int, string) {
			code, body, _ := mtDo(t, "GET", s.url+fmt.Sprintf(route, key), tn, service[tn], nil, nil)
			return code, body
		}
		// beta first: its variant of big.png is then in the shared cache.
		if code, body := render("beta", "big.png"); code != 200 {
			t.Fatalf("beta render of its 1.2 MP image: %d %s", code, body)
		}
		setLimit(1)
		if code, body := render("alpha", "big.png"); code != 400 || !strings.Contains(body, `"statusCode":"413"`) ||
			!strings.Contains(body, "EntityTooLarge") {
			t.Errorf("alpha render over its maxResolution: %d %s, want 400 statusCode 413 EntityTooLarge", code, body)
		}
		if code, body := render("alpha", "pic.png"); code != 200 {
			t.Errorf("alpha render of an image within its maxResolution: %d %s", code, body)
		}
		for range 2 {
			if code, body := render("beta", "big.png"); code != 200 {
				t.Errorf("beta render with alpha limited: %d %s", code, body)
			}
		}
		setLimit(0)
		if code, body := render("alpha", "big.png"); code != 200 {
			t.Errorf("alpha render with its limit lifted: %d %s", code, body)
		}
	})

	t.Run("DatabaseDown", func(t *testing.T) {
		if err := cluster.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		stopped = true
		code, body, hdr := mtDo(t, "GET", s.url+"/object/shared/doc.txt", "beta", service["beta"], nil, nil)
		if code != 544 || !strings.Contains(body, "DatabaseTimeout") || hdr.Get("Retry-After") == "" {
			t.Errorf("beta REST with its database down: %d %s", code, body)
		}
		if creds != nil {
			c := mtS3(strings.TrimPrefix(s.s3url, "http://"), "", "beta", creds["beta"][0], creds["beta"][1])
			_, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String("doc.txt")})
			if err == nil || !strings.Contains(err.Error(), "StatusCode: 503") {
				t.Errorf("beta S3 with its database down: %v, want 503", err)
			}
		}
		// A stack rebuilt while the database is down (the tenant changed) answers the same.
		tn, _ := src.Get(t.Context(), "beta")
		src.set(*tn)
		code, body, _ = mtDo(t, "GET", s.url+"/object/shared/doc.txt", "beta", service["beta"], nil, nil)
		if code != 544 || !strings.Contains(body, "DatabaseTimeout") {
			t.Errorf("beta REST, stack rebuilt with its database down: %d %s", code, body)
		}
		code, body, _ = mtDo(t, "GET", s.url+"/s3/shared/doc.txt", "beta", "", nil, nil)
		if code != 503 || !strings.Contains(body, "ServiceUnavailable") {
			t.Errorf("beta S3, stack rebuilt with its database down: %d %s", code, body)
		}
		for i := range 5 {
			if code, body, _ := mtDo(t, "GET", s.url+"/object/shared/doc.txt", "alpha", service["alpha"], nil, nil); code != 200 || body != "bytes of alpha" {
				t.Errorf("alpha while beta's database is down (%d): %d %s", i, code, body)
			}
		}
	})
}

// pngOf is a w×h PNG.
func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// headered sends every request of an S3 client to addr with the headers set returns.
type headered struct {
	addr string
	set  func(r *http.Request)
}

func (h headered) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	h.set(r)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, h.addr)
	}}
	defer tr.CloseIdleConnections()
	return tr.RoundTrip(r)
}

// TestMultiTenantS3SignatureHost: in multi-tenant mode STORAGE_PUBLIC_URL does not decide
// the host S3 signatures are checked against (one URL cannot name every tenant's host);
// the host the client signed does, as single-tenant mode without STORAGE_PUBLIC_URL: the
// forwarded host (here X-Forwarded-Host, or Forwarded: host= with S3_ALLOW_FORWARDED_HEADER)
// or the Host as received. On both S3 endpoints.
func TestMultiTenantS3SignatureHost(t *testing.T) {
	const public = "public.example.test:8443"
	secret := "alpha-secret-0123456789-0123456789-xx"
	src := &mapSource{m: map[string]tenants.Tenant{}}
	src.set(tenants.Tenant{ID: "alpha", DatabaseURL: pgtest.EmptyURL(t), JWTSecret: secret, S3Protocol: true})
	s := startMultiTenantEnv(t, src, map[string]string{"STORAGE_PUBLIC_URL": "http://" + public,
		"S3_ALLOW_FORWARDED_HEADER": "true"})
	if code, body, _ := mtDo(t, "POST", s.url+"/bucket", "alpha", signKey(t, secret, "service_role"),
		[]byte(`{"name":"sig"}`), map[string]string{"Content-Type": "application/json"}); code != 200 {
		t.Fatalf("create bucket: %d %s", code, body)
	}
	e, release, err := s.tenants.Engine(t.Context(), "alpha")
	if err != nil {
		t.Fatal(err)
	}
	cred, credSecret, err := e.CreateS3Credential(t.Context(), gateway.NewS3Credential{Description: "test"})
	release()
	if err != nil {
		t.Fatal(err)
	}
	client := func(addr, endpoint string, set func(r *http.Request)) *s3.Client {
		return s3.New(s3.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
			Credentials:                awscreds.NewStaticCredentialsProvider(cred.AccessKey, credSecret, ""),
			HTTPClient:                 &http.Client{Transport: headered{addr, set}},
			RetryMaxAttempts:           1,
			RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
			ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		})
	}
	tenantHost := func(r *http.Request) { r.Header.Set("X-Forwarded-Host", hostOf("alpha")) }
	for _, ep := range [][2]string{{strings.TrimPrefix(s.url, "http://"), "/s3"}, {strings.TrimPrefix(s.s3url, "http://"), ""}} {
		addr, prefix := ep[0], ep[1]
		for _, tc := range []struct {
			name     string
			endpoint string // what the client signs
			set      func(r *http.Request)
			ok       bool
		}{
			// The tenant's public host, named by the proxy in X-Forwarded-Host.
			{"tenant host", "http://" + hostOf("alpha") + prefix, tenantHost, true},
			// The Host as received (the proxy keeps it), Forwarded: host= naming it.
			{"forwarded host", "http://" + addr + prefix, func(r *http.Request) {
				tenantHost(r)
				r.Header.Set("Forwarded", `host="`+r.URL.Host+`";proto=http`)
			}, true},
			// STORAGE_PUBLIC_URL's host is not what this request names.
			{"STORAGE_PUBLIC_URL host", "http://" + public + prefix, tenantHost, false},
		} {
			c := client(addr, tc.endpoint, tc.set)
			key := strings.ReplaceAll(tc.name, " ", "-") + prefix + ".txt"
			_, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("sig"), Key: aws.String(key),
				Body: strings.NewReader("signed for " + tc.name)})
			if tc.ok && err != nil {
				t.Errorf("%s%s, signed for %s: PutObject: %v", addr, prefix, tc.name, err)
				continue
			}
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
					t.Errorf("%s%s, signed for %s: PutObject: %v, want SignatureDoesNotMatch", addr, prefix, tc.name, err)
				}
				continue
			}
			out, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("sig"), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("%s%s, signed for %s: GetObject: %v", addr, prefix, tc.name, err)
			}
			b, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if string(b) != "signed for "+tc.name {
				t.Errorf("%s%s, signed for %s: GetObject = %q", addr, prefix, tc.name, b)
			}
		}
	}
}
