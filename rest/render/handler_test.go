//go:build cgo && !novips

package render

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/db"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/gateway/backend/filebackend"
	"github.com/stowage/stowage/rest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var testRoles = auth.Roles{Anon: "anon", Authenticated: "authenticated", Service: "service_role"}

type fixture struct {
	app      *fiber.App
	engine   *gateway.Engine
	db       *db.DB
	verifier *auth.Verifier
	renderer *Renderer
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, pgtest.URL(t), db.Options{MaxConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	store, err := filebackend.New(t.TempDir(), filebackend.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	e := gateway.New(d, store, gateway.Options{Roles: testRoles, MaxObjectSize: 1 << 30, WriteTimeout: time.Minute})
	v, err := auth.NewVerifier("render-test-secret-0123456789abcdef", "HS256", testRoles)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if cfg.CacheDir == "" && cfg.CacheBytes > 0 {
		cfg.CacheDir = t.TempDir()
	}
	cfg.Logger = log
	r, err := NewRenderer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{ErrorHandler: rest.ErrorHandler(log), StreamRequestBody: true})
	rh := rest.New(e, rest.Options{Verifier: v, Roles: testRoles, SignTransform: SignTransform(cfg.Limits), Logger: log})
	h := NewHandler(e, r, HandlerOptions{REST: rh, Logger: log})
	for _, router := range []fiber.Router{app, app.Group("/storage/v1")} {
		rh.Register(router)
		h.Register(router)
	}
	f := &fixture{app: app, engine: e, db: d, verifier: v, renderer: r}
	for _, b := range []struct {
		id     string
		public bool
	}{{"pub", true}, {"priv", false}} {
		if _, err := e.CreateBucket(ctx, e.ServiceCaller("test"), gateway.CreateBucket{ID: b.id, Public: b.public, FileSizeLimit: gateway.NoLimit}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) put(t *testing.T, bucket, key, contentType string, data []byte) gateway.Object {
	t.Helper()
	obj, err := f.engine.PutObject(context.Background(), f.engine.ServiceCaller("test"), gateway.PutObject{Bucket: bucket, Key: key,
		Body: bytes.NewReader(data), Size: int64(len(data)), ContentType: contentType, CacheControl: "max-age=3600", Upsert: true})
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func (f *fixture) key(t *testing.T, claims map[string]any) string {
	t.Helper()
	k, err := f.verifier.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) get(t *testing.T, path string, headers map[string]string) reply {
	t.Helper()
	r, err := f.do(http.MethodGet, path, headers, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// do sends one request; it reports errors instead of failing the test, so goroutines may
// call it.
func (f *fixture) do(method, path string, headers map[string]string, body []byte) (reply, error) {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := f.app.Test(req, -1)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}, err
}

// decoded reads an answer back with libvips: its format and size.
func decoded(t *testing.T, r reply) (vips.ImageType, int, int) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	img, err := vips.NewImageFromBuffer(r.body)
	if err != nil {
		t.Fatalf("decode answer (%s): %v", r.header.Get("Content-Type"), err)
	}
	defer img.Close()
	return img.Format(), img.Width(), img.Height()
}

func wantEnvelope(t *testing.T, r reply, status int, logical, code, message string) {
	t.Helper()
	var env map[string]string
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("status %d, body %q: %v", r.status, r.body, err)
	}
	if r.status != status || env["statusCode"] != logical || env["code"] != code || (message != "" && env["message"] != message) {
		t.Fatalf("got %d %v, want %d statusCode=%s code=%s message=%q", r.status, env, status, logical, code, message)
	}
}

// testImage is a w×h gradient with some noise-like detail so quality changes matter.
func testImage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x * y) % 251), 255})
		}
	}
	return img
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestModes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.put(t, "pub", "photo.png", "image/png", encodePNG(t, testImage(300, 200)))
	cases := []struct {
		name         string
		query        string
		wantW, wantH int
	}{
		{name: "cover crops to the box", query: "width=120&height=50&resize=cover", wantW: 120, wantH: 50},
		{name: "cover is the default", query: "width=100&height=100", wantW: 100, wantH: 100},
		{name: "contain fits inside", query: "width=120&height=50&resize=contain", wantW: 75, wantH: 50},
		{name: "fill stretches", query: "width=120&height=50&resize=fill", wantW: 120, wantH: 50},
		{name: "width only keeps aspect", query: "width=150", wantW: 150, wantH: 100},
		{name: "height only keeps aspect", query: "height=50&resize=fill", wantW: 75, wantH: 50},
		{name: "no enlargement", query: "width=2000", wantW: 300, wantH: 200},
		{name: "clamped to the max size", query: "width=99999&height=1", wantW: 300, wantH: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			typ, w, h := decoded(t, f.get(t, "/render/image/public/pub/photo.png?format=origin&"+tc.query, nil))
			if typ != vips.ImageTypePNG || w != tc.wantW || h != tc.wantH {
				t.Fatalf("got %v %d×%d, want png %d×%d", typ, w, h, tc.wantW, tc.wantH)
			}
		})
	}
	t.Run("cover keeps the centre, contain keeps everything", func(t *testing.T) {
		// A 300×200 source: cover 100×100 keeps the middle third (x from 50 to 250 scaled),
		// so its left edge is not the source's black left edge.
		img, err := vips.NewImageFromBuffer(f.get(t, "/render/image/public/pub/photo.png?format=origin&width=100&height=100", nil).body)
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		px, _ := img.GetPoint(0, 50)
		if px[0] < 30 {
			t.Fatalf("left edge red %v: cover did not crop the sides", px)
		}
	})
}

func TestFormatNegotiation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.put(t, "pub", "photo.jpg", "image/jpeg", encodeJPEG(t, testImage(160, 120)))
	cases := []struct {
		name, accept, query string
		want                vips.ImageType
		wantVary            bool
	}{
		{name: "webp when accepted", accept: "image/webp,*/*", want: vips.ImageTypeWEBP, wantVary: true},
		{name: "avif when accepted", accept: "image/avif,image/webp,*/*;q=0.8", want: vips.ImageTypeAVIF, wantVary: true},
		{name: "source format otherwise", accept: "*/*", want: vips.ImageTypeJPEG, wantVary: true},
		{name: "origin opts out", accept: "image/avif,image/webp", query: "&format=origin", want: vips.ImageTypeJPEG},
		{name: "explicit webp", accept: "", query: "&format=webp", want: vips.ImageTypeWEBP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := f.get(t, "/render/image/public/pub/photo.jpg?width=80"+tc.query, map[string]string{"Accept": tc.accept})
			typ, w, h := decoded(t, r)
			if typ != tc.want || w != 80 || h != 60 {
				t.Fatalf("got %v %d×%d (%s), want %v 80×60", typ, w, h, r.header.Get("Content-Type"), tc.want)
			}
			if got := r.header.Get("Vary") == "Accept"; got != tc.wantVary {
				t.Fatalf("Vary = %q", r.header.Get("Vary"))
			}
			if r.header.Get("Cache-Control") != "max-age=3600" || r.header.Get("ETag") == "" {
				t.Fatalf("headers %v", r.header)
			}
		})
	}
}

func TestQualityMonotonic(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.put(t, "pub", "q.jpg", "image/jpeg", encodeJPEG(t, testImage(400, 300)))
	for _, format := range []string{"origin", "webp"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			prev := 0
			for _, q := range []int{20, 50, 80, 100} {
				r := f.get(t, fmt.Sprintf("/render/image/public/pub/q.jpg?width=300&quality=%d&format=%s", q, format), nil)
				decoded(t, r)
				if len(r.body) <= prev {
					t.Fatalf("quality %d gave %d bytes, not more than %d", q, len(r.body), prev)
				}
				prev = len(r.body)
			}
		})
	}
}

func TestSignedRoute(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.put(t, "priv", "s/photo.png", "image/png", encodePNG(t, testImage(200, 100)))
	exp := time.Now().Add(time.Hour).Unix()
	signed := func(claims map[string]any) string {
		return "/render/image/sign/priv/s/photo.png?token=" + f.key(t, claims)
	}
	good := map[string]any{"url": "priv/s/photo.png", "scope": "download", "exp": exp,
		"transformations": "height:40,width:40,resize:fill", "format": "origin"}
	t.Run("options come from the token", func(t *testing.T) {
		t.Parallel()
		r := f.get(t, signed(good)+"&width=10&height=90&resize=contain&format=webp", map[string]string{"Accept": "image/webp"})
		typ, w, h := decoded(t, r)
		if typ != vips.ImageTypePNG || w != 40 || h != 40 {
			t.Fatalf("got %v %d×%d, want the token's png 40×40", typ, w, h)
		}
		if r.header.Get("Expires") != time.Unix(exp, 0).UTC().Format(http.TimeFormat) || r.header.Get("Cache-Control") != "" {
			t.Fatalf("Expires %q, Cache-Control %q", r.header.Get("Expires"), r.header.Get("Cache-Control"))
		}
	})
	t.Run("under /storage/v1", func(t *testing.T) {
		t.Parallel()
		if _, w, h := decoded(t, f.get(t, "/storage/v1"+signed(good), nil)); w != 40 || h != 40 {
			t.Fatalf("got %d×%d", w, h)
		}
	})
	cases := []struct {
		name           string
		path           string
		code, messsage string
	}{
		{name: "missing token", path: "/render/image/sign/priv/s/photo.png", code: "InvalidRequest", messsage: "querystring must have required property 'token'"},
		{name: "garbage token", path: "/render/image/sign/priv/s/photo.png?token=abc", code: "InvalidJWT", messsage: "Invalid Compact JWS"},
		{name: "expired token", path: signed(map[string]any{"url": "priv/s/photo.png", "scope": "download", "exp": time.Now().Add(-time.Minute).Unix()}),
			code: "InvalidJWT", messsage: `"exp" claim timestamp check failed`},
		{name: "upload token", path: signed(map[string]any{"url": "priv/s/photo.png", "scope": "upload", "exp": exp}),
			code: "InvalidSignature", messsage: "Token is not scoped for download"},
		{name: "other object", path: signed(map[string]any{"url": "priv/s/other.png", "scope": "download", "exp": exp}),
			code: "InvalidSignature", messsage: "Invalid signature"},
		{name: "invalid transformations", path: signed(map[string]any{"url": "priv/s/photo.png", "scope": "download", "exp": exp, "transformations": "quality:5"}),
			code: "InvalidRequest", messsage: "transformations/quality must be >= 20"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantEnvelope(t, f.get(t, tc.path, nil), 400, "400", tc.code, tc.messsage)
		})
	}
}

// TestSignWithTransform: POST /object/sign with transform mints a /render/image/sign URL
// whose token carries the transformations; the signed route renders them.
func TestSignWithTransform(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.put(t, "priv", "t/photo.png", "image/png", encodePNG(t, testImage(200, 100)))
	service := map[string]string{"Authorization": "Bearer " + f.key(t, map[string]any{"role": "service_role"}),
		"Content-Type": "application/json"}
	type signed struct {
		SignedURL string `json:"signedURL"`
		Path      string `json:"path"`
	}
	cases := []struct {
		name         string
		path, body   string
		many         bool
		wantPrefix   string
		wantW, wantH int
	}{
		{name: "sign one with transform", path: "/object/sign/priv/t/photo.png",
			body:       `{"expiresIn":60,"transform":{"width":80,"height":80,"resize":"contain","format":"origin"}}`,
			wantPrefix: "/render/image/sign/priv/t/photo.png?token=", wantW: 80, wantH: 40},
		{name: "sign one without transform", path: "/object/sign/priv/t/photo.png", body: `{"expiresIn":60}`,
			wantPrefix: "/object/sign/priv/t/photo.png?token=", wantW: 200, wantH: 100},
		{name: "empty transform", path: "/object/sign/priv/t/photo.png", body: `{"expiresIn":60,"transform":{}}`,
			wantPrefix: "/object/sign/priv/t/photo.png?token=", wantW: 200, wantH: 100},
		{name: "sign many with transform", path: "/object/sign/priv", many: true,
			body:       `{"expiresIn":60,"paths":["t/photo.png"],"transform":{"width":50,"height":20,"resize":"fill","format":"origin"}}`,
			wantPrefix: "/render/image/sign/priv/t/photo.png?token=", wantW: 50, wantH: 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := f.do(http.MethodPost, tc.path, service, []byte(tc.body))
			if err != nil || r.status != 200 {
				t.Fatalf("sign: %d %s %v", r.status, r.body, err)
			}
			var got signed
			if tc.many {
				var all []signed
				err = json.Unmarshal(r.body, &all)
				if len(all) == 1 {
					got = all[0]
				}
			} else {
				err = json.Unmarshal(r.body, &got)
			}
			if err != nil || len(got.SignedURL) <= len(tc.wantPrefix) || got.SignedURL[:len(tc.wantPrefix)] != tc.wantPrefix {
				t.Fatalf("signedURL %q (%s), want prefix %q", got.SignedURL, r.body, tc.wantPrefix)
			}
			// Query options cannot change what the token says.
			img := f.get(t, got.SignedURL+"&width=10&height=10&resize=cover", nil)
			if _, w, h := decoded(t, img); w != tc.wantW || h != tc.wantH {
				t.Fatalf("got %d×%d, want %d×%d", w, h, tc.wantW, tc.wantH)
			}
		})
	}
	invalid := []struct{ name, body, msg string }{
		{name: "bad resize", body: `{"expiresIn":60,"transform":{"width":10,"resize":"zoom"}}`, msg: "body/transform/resize must be equal to one of the allowed values"},
		{name: "string width", body: `{"expiresIn":60,"transform":{"width":"wide"}}`, msg: "body/transform/width must be number"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := f.do(http.MethodPost, "/object/sign/priv/t/photo.png", service, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			wantEnvelope(t, r, 400, "400", "InvalidRequest", tc.msg)
		})
	}
}

func TestAuthenticatedRLS(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	alice, bob := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	if _, err := f.db.Pool().Exec(context.Background(), `create policy own_read on storage.objects for select to authenticated
		using (bucket_id = 'priv' and (storage.foldername(name))[1] = auth.uid()::text)`); err != nil {
		t.Fatal(err)
	}
	f.put(t, "priv", alice+"/a.png", "image/png", encodePNG(t, testImage(64, 64)))
	f.put(t, "pub", "open.png", "image/png", encodePNG(t, testImage(64, 64)))
	user := func(sub string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + f.key(t, map[string]any{"role": "authenticated", "sub": sub})}
	}
	path := "/render/image/authenticated/priv/" + alice + "/a.png?width=32"
	t.Run("owner renders", func(t *testing.T) {
		t.Parallel()
		if _, w, _ := decoded(t, f.get(t, path, user(alice))); w != 32 {
			t.Fatalf("width %d", w)
		}
	})
	t.Run("public bucket skips RLS", func(t *testing.T) {
		t.Parallel()
		if _, w, _ := decoded(t, f.get(t, "/render/image/authenticated/pub/open.png?width=16", user(bob))); w != 16 {
			t.Fatalf("width %d", w)
		}
	})
	cases := []struct {
		name     string
		path     string
		headers  map[string]string
		logical  string
		code     string
		messsage string
	}{
		{name: "other user sees nothing", path: path, headers: user(bob), logical: "404", code: "NoSuchKey", messsage: "Object not found"},
		{name: "no token", path: path, logical: "400", code: "InvalidRequest", messsage: "headers must have required property 'authorization'"},
		{name: "bad token", path: path, headers: map[string]string{"Authorization": "Bearer x.y.z"}, logical: "403", code: "AccessDenied"},
		{name: "public route on a private bucket", path: "/render/image/public/priv/" + alice + "/a.png", logical: "404", code: "NoSuchBucket", messsage: "Bucket not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantEnvelope(t, f.get(t, tc.path, tc.headers), 400, tc.logical, tc.code, tc.messsage)
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{MaxSourceBytes: 50_000})
	f.put(t, "pub", "notes.txt", "text/plain", []byte("certainly not an image"))
	f.put(t, "pub", "fake.png", "image/png", encodePNG(t, testImage(10, 10))[:33]) // signature and IHDR only
	f.put(t, "pub", "big.jpg", "image/jpeg", encodeJPEG(t, testImage(600, 600)))
	f.put(t, "pub", "ok.png", "image/png", encodePNG(t, testImage(10, 10)))
	cases := []struct {
		name               string
		path               string
		status             int
		logical, code, msg string
	}{
		{name: "negative width", path: "/render/image/public/pub/ok.png?width=-1", status: 400, logical: "400", code: "InvalidRequest", msg: "querystring/width must be >= 0"},
		{name: "bad resize", path: "/render/image/public/pub/ok.png?resize=zoom", status: 400, logical: "400", code: "InvalidRequest"},
		{name: "bad quality", path: "/render/image/public/pub/ok.png?quality=10", status: 400, logical: "400", code: "InvalidRequest", msg: "querystring/quality must be >= 20"},
		{name: "bad format", path: "/render/image/public/pub/ok.png?format=gif", status: 400, logical: "400", code: "InvalidRequest"},
		{name: "not an image", path: "/render/image/public/pub/notes.txt?width=10", status: 400, logical: "400", code: "InvalidRequest", msg: "The source image is invalid or unsupported for rendering"},
		{name: "corrupt image", path: "/render/image/public/pub/fake.png?width=10", status: 400, logical: "400", code: "InvalidRequest", msg: "The source image is invalid or unsupported for rendering"},
		{name: "source too large", path: "/render/image/public/pub/big.jpg?width=10", status: 400, logical: "413", code: "EntityTooLarge"},
		{name: "missing object", path: "/render/image/public/pub/nope.png", status: 400, logical: "404", code: "NoSuchKey"},
		{name: "missing bucket", path: "/render/image/public/nobucket/x.png", status: 400, logical: "404", code: "NoSuchBucket"},
		{name: "unknown route", path: "/render/image/elsewhere/pub/ok.png", status: 404, logical: "404", code: "InvalidRequest", msg: "Route GET:/render/image/elsewhere/pub/ok.png not found"},
		{name: "unknown route with query, under /storage/v1", path: "/storage/v1/render/image/elsewhere/pub/ok.png?width=5", status: 404, logical: "404", code: "InvalidRequest", msg: "Route GET:/render/image/elsewhere/pub/ok.png?width=5 not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantEnvelope(t, f.get(t, tc.path, nil), tc.status, tc.logical, tc.code, tc.msg)
		})
	}
}

// TestDecompressionBomb: a 60-byte PNG claiming 100000×100000 RGBA (40 GB decoded) is
// refused from its header; neither Go nor libvips allocates for its pixels.
func TestDecompressionBomb(t *testing.T) {
	f := newFixture(t, Config{})
	f.put(t, "pub", "bomb.png", "image/png", bombPNG(100000, 100000))
	f.put(t, "pub", "tall.png", "image/png", bombPNG(1, 60_000_000))
	// Sides whose product overflows int64, bare and inside an icon (whose size is taken
	// from the header alone).
	f.put(t, "pub", "wrap.png", "image/png", bombPNG(0xffffffff, 0xffffffff))
	f.put(t, "pub", "wrap.ico", "image/x-icon", icoOf(1, bombPNG(0xffffffff, 0xffffffff)))
	var before, after runtime.MemStats
	var vbefore, vafter vips.MemoryStats
	runtime.ReadMemStats(&before)
	vips.ReadVipsMemStats(&vbefore)
	for _, p := range []string{"bomb.png?width=100", "bomb.png?format=webp", "tall.png?height=10", "wrap.png?width=10", "wrap.ico?width=10"} {
		wantEnvelope(t, f.get(t, "/render/image/public/pub/"+p, nil), 400, "413", "EntityTooLarge", "")
	}
	runtime.ReadMemStats(&after)
	vips.ReadVipsMemStats(&vafter)
	goAlloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("Go allocated %d KiB, libvips tracked memory %d → %d bytes, process peak RSS %d MiB",
		goAlloc>>10, vbefore.Mem, vafter.Mem, peakRSS(t)>>20)
	if goAlloc > 32<<20 || vafter.Mem-vbefore.Mem > 1<<20 {
		t.Fatalf("the bomb cost memory: Go %d bytes, libvips %d bytes", goAlloc, vafter.Mem-vbefore.Mem)
	}
	if rss := peakRSS(t); rss > 2<<30 {
		t.Fatalf("peak RSS %d MiB", rss>>20)
	}
}

func peakRSS(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		t.Fatal("no VmHWM")
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

func TestVariantCache(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{CacheBytes: 10 << 20})
	f.put(t, "pub", "c.png", "image/png", encodePNG(t, testImage(200, 100)))
	path := "/render/image/public/pub/c.png?width=100&format=origin"
	first := f.get(t, path, nil)
	second := f.get(t, path, nil)
	if first.header.Get("X-Render-Cache") != "miss" || second.header.Get("X-Render-Cache") != "hit" {
		t.Fatalf("cache headers %q then %q", first.header.Get("X-Render-Cache"), second.header.Get("X-Render-Cache"))
	}
	if !bytes.Equal(first.body, second.body) || first.header.Get("ETag") != second.header.Get("ETag") ||
		second.header.Get("Content-Type") != "image/png" {
		t.Fatal("the cached variant differs from the rendered one")
	}
	t.Run("if-none-match", func(t *testing.T) {
		r := f.get(t, path, map[string]string{"If-None-Match": first.header.Get("ETag")})
		if r.status != http.StatusNotModified || len(r.body) != 0 {
			t.Fatalf("status %d, %d bytes", r.status, len(r.body))
		}
	})
	t.Run("overwrite renders the new version", func(t *testing.T) {
		f.put(t, "pub", "c.png", "image/png", encodePNG(t, testImage(100, 100)))
		r := f.get(t, path, nil)
		if r.header.Get("X-Render-Cache") != "miss" || r.header.Get("ETag") == first.header.Get("ETag") {
			t.Fatalf("after overwrite: cache %q, etag %q", r.header.Get("X-Render-Cache"), r.header.Get("ETag"))
		}
		if _, w, h := decoded(t, r); w != 100 || h != 100 {
			t.Fatalf("stale variant: %d×%d", w, h)
		}
		if r := f.get(t, path, map[string]string{"If-None-Match": first.header.Get("ETag")}); r.status != 200 {
			t.Fatalf("old ETag still matches: %d", r.status)
		}
	})
}

func TestBusy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Concurrency: 1, Timeout: 200 * time.Millisecond})
	f.put(t, "pub", "b.png", "image/png", encodePNG(t, testImage(20, 20)))
	f.renderer.slots <- struct{}{} // the one slot is taken
	r := f.get(t, "/render/image/public/pub/b.png?width=10", nil)
	<-f.renderer.slots
	wantEnvelope(t, r, 429, "429", "SlowDown", "")
	// The short timeout that makes the 429 quick also bounds the render itself: on a loaded
	// machine one render may overrun it (503), so try a few times. The point is that the
	// freed slot is usable again, not how fast the render is.
	r = f.get(t, "/render/image/public/pub/b.png?width=10", nil)
	for i := 0; i < 10 && r.status == 503; i++ {
		r = f.get(t, "/render/image/public/pub/b.png?width=10", nil)
	}
	if _, w, _ := decoded(t, r); w != 10 {
		t.Fatalf("width %d after the slot freed", w)
	}
}

func TestInputFormats(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	src, err := vips.NewImageFromBuffer(encodePNG(t, testImage(120, 80)))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	export := map[string]func() ([]byte, error){
		"webp": func() ([]byte, error) { b, _, err := src.ExportWebp(vips.NewWebpExportParams()); return b, err },
		"avif": func() ([]byte, error) { b, _, err := src.ExportAvif(vips.NewAvifExportParams()); return b, err },
		"gif":  func() ([]byte, error) { b, _, err := src.ExportGIF(vips.NewGifExportParams()); return b, err },
		"tiff": func() ([]byte, error) { b, _, err := src.ExportTiff(vips.NewTiffExportParams()); return b, err },
		"svg": func() ([]byte, error) {
			return []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"><rect width="120" height="80" fill="teal"/></svg>`), nil
		},
		"bmp": func() ([]byte, error) { return bmp24(120, 80), nil },
		"ico": func() ([]byte, error) { return icoWithPNG(t, encodePNG(t, testImage(120, 80))), nil },
	}
	inputs := map[string][]byte{}
	for name, fn := range export { // one ImageRef is not safe for concurrent exports
		data, err := fn()
		if err != nil {
			t.Fatal(err)
		}
		inputs[name] = data
	}
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f.put(t, "pub", "in."+name, "image/"+name, data)
			if _, w, h := decoded(t, f.get(t, "/render/image/public/pub/in."+name+"?width=60", nil)); w != 60 || h != 40 {
				t.Fatalf("got %d×%d, want 60×40", w, h)
			}
		})
	}
}

// bmp24 is an uncompressed 24-bit BMP (bottom-up rows, 4-byte aligned).
func bmp24(w, h int) []byte {
	row := (w*3 + 3) &^ 3
	size := 54 + row*h
	b := make([]byte, size)
	copy(b, "BM")
	le := func(off, v int) { b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }
	le(2, size)
	le(10, 54)
	le(14, 40)
	le(18, w)
	le(22, h)
	b[26], b[28] = 1, 24
	le(34, row*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			o := 54 + y*row + x*3
			b[o], b[o+1], b[o+2] = byte(x), byte(y), 200
		}
	}
	return b
}

// icoWithPNG wraps one PNG in an icon directory, as modern .ico files do.
func icoWithPNG(t *testing.T, p []byte) []byte {
	t.Helper()
	b := []byte{0, 0, 1, 0, 1, 0, 120, 80, 0, 0, 1, 0, 32, 0}
	n := len(p)
	b = append(b, byte(n), byte(n>>8), byte(n>>16), byte(n>>24), 22, 0, 0, 0)
	return append(b, p...)
}

// TestConcurrentTransforms sends 16 transformations of a 2000×1500 JPEG at once (distinct
// sizes, so no cache hits): all succeed with the concurrency limit queueing the excess.
// The process's peak RSS is logged (run alone for a meaningful figure).
func TestConcurrentTransforms(t *testing.T) {
	f := newFixture(t, Config{Timeout: time.Minute})
	f.put(t, "pub", "large.jpg", "image/jpeg", encodeJPEG(t, testImage(2000, 1500)))
	before := peakRSS(t)
	// The answers are decoded here, one at a time: govips' lazy start-up is not safe for
	// concurrent first calls (a data race under -race when the goroutines decoded).
	type answer struct {
		width int
		body  []byte
		err   error
	}
	answers := make(chan answer, 16)
	for i := range 16 {
		go func() {
			w := 400 + 8*i
			r, err := f.do(http.MethodGet, fmt.Sprintf("/render/image/public/pub/large.jpg?width=%d&format=webp", w), nil, nil)
			switch {
			case err != nil:
				err = fmt.Errorf("width %d: %w", w, err)
			case r.status != 200:
				err = fmt.Errorf("width %d: status %d %s", w, r.status, r.body)
			}
			answers <- answer{w, r.body, err}
		}()
	}
	for range 16 {
		a := <-answers
		if a.err != nil {
			t.Error(a.err)
			continue
		}
		img, err := vips.NewImageFromBuffer(a.body)
		if err != nil {
			t.Errorf("width %d: %v", a.width, err)
			continue
		}
		if img.Width() != a.width {
			t.Errorf("width %d, want %d", img.Width(), a.width)
		}
		img.Close()
	}
	t.Logf("peak RSS before %d MiB, after 16 concurrent transforms %d MiB", before>>20, peakRSS(t)>>20)
}

// TestDownloadName checks ?download=name is encoded as the object routes encode it
// (encodeURIComponent: ' stays as is).
func TestDownloadName(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.put(t, "pub", "photo.png", "image/png", encodePNG(t, testImage(30, 20)))
	r := f.get(t, "/render/image/public/pub/photo.png?width=10&download=my%20file%27s.png", nil)
	want := "attachment; filename=my%20file's.png; filename*=UTF-8''my%20file's.png"
	if got := r.header.Get("Content-Disposition"); r.status != 200 || got != want {
		t.Fatalf("status %d, Content-Disposition %q, want %q", r.status, got, want)
	}
}

// TestMaxResolution: a renderer view with a tenant's resolution limit (WithMaxResolution,
// megapixels) refuses an original over it with the answer of the gateway's own limit, and
// renders one within it; the renderer without the limit (another tenant's view) renders
// the same original. A variant rendered without the limit is not served from the cache to
// the limited view.
func TestMaxResolution(t *testing.T) {
	f := newFixture(t, Config{CacheBytes: 64 << 20})
	f.put(t, "pub", "big.jpg", "image/jpeg", encodeJPEG(t, testImage(1200, 1000)))  // 1.2 MP
	f.put(t, "pub", "small.jpg", "image/jpeg", encodeJPEG(t, testImage(900, 1000))) // 0.9 MP
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	appOf := func(r *Renderer) *fixture {
		app := fiber.New(fiber.Config{ErrorHandler: rest.ErrorHandler(log)})
		rh := rest.New(f.engine, rest.Options{Verifier: f.verifier, Roles: testRoles, Logger: log})
		NewHandler(f.engine, r, HandlerOptions{REST: rh, Logger: log}).Register(app)
		return &fixture{app: app}
	}
	limited := appOf(f.renderer.ForTenant("alpha").WithMaxResolution(1))
	other := appOf(f.renderer.ForTenant("beta"))
	// The unlimited view first, so that a variant of big.jpg is in the shared cache.
	for _, g := range []*fixture{other, f} {
		if _, w, h := decoded(t, g.get(t, "/render/image/public/pub/big.jpg?width=100&format=origin", nil)); w != 100 || h != 83 {
			t.Fatalf("unlimited render: %dx%d", w, h)
		}
	}
	unscoped := appOf(f.renderer.WithMaxResolution(1))
	for _, g := range []*fixture{limited, unscoped} {
		wantEnvelope(t, g.get(t, "/render/image/public/pub/big.jpg?width=100&format=origin", nil), 400, "413", "EntityTooLarge", "")
		if _, w, _ := decoded(t, g.get(t, "/render/image/public/pub/small.jpg?width=100&format=origin", nil)); w != 100 {
			t.Fatalf("limited render of a small original: width %d", w)
		}
	}
	// A limit above the gateway's changes nothing; the gateway's own still applies.
	wide := appOf(f.renderer.ForTenant("gamma").WithMaxResolution(1000))
	if _, w, _ := decoded(t, wide.get(t, "/render/image/public/pub/big.jpg?width=100&format=origin", nil)); w != 100 {
		t.Fatalf("render under a wide limit: width %d", w)
	}
	if got := f.renderer.WithMaxResolution(1000).maxPixels(); got != 50_000_000 {
		t.Fatalf("limit above the gateway's: %d pixels, want the gateway's 50 MP", got)
	}
}
