// Package render runs storage-js's image transformation options (script.mjs, from the
// committed package-lock.json) against the real stowage binary, which must be built with
// libvips (a cgo build), and measures the server's memory under concurrent transforms.
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
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "golang.org/x/image/webp" // decode WebP answers

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const bucket = "render-conf"

// requireRenderer skips unless the binary renders images itself: a cgo-free build answers
// FeatureNotEnabled. The skip is taken only when this go toolchain really builds without
// cgo (or with the novips tag); otherwise harness.Binary built the libvips renderer, which
// loads libvips on this first render, and FeatureNotEnabled (a broken renderer, or libvips42
// missing) is a failure, so neither can turn this suite into a silent skip in CI.
func requireRenderer(t *testing.T, srv *harness.Server) {
	t.Helper()
	resp := harness.Do(t, http.MethodGet, srv.URL+"/render/image/public/no-such-bucket/x.png?width=1", "", nil, 0, nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var env struct{ Code string }
	_ = json.Unmarshal(b, &env)
	switch env.Code {
	case "FeatureNotEnabled":
		if reason := buildsWithoutVips(t); reason != "" {
			t.Skipf("the stowage binary was built without libvips (%s): %s", reason, b)
		}
		t.Fatalf("the stowage binary was built with cgo and libvips but answers FeatureNotEnabled: %s", b)
	case "NoSuchBucket":
	default:
		t.Fatalf("probe of /render/image: status %d %s", resp.StatusCode, b)
	}
}

// buildsWithoutVips says why `go build ./cmd/stowage` leaves the libvips renderer out
// (CGO_ENABLED=0, the novips tag in GOFLAGS), or "" when it builds it in.
func buildsWithoutVips(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "CGO_ENABLED", "GOFLAGS").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	lines := strings.Split(string(out), "\n")
	if strings.TrimSpace(lines[0]) != "1" {
		return "CGO_ENABLED=" + strings.TrimSpace(lines[0])
	}
	if len(lines) > 1 && strings.Contains(lines[1], "novips") {
		return "GOFLAGS=" + strings.TrimSpace(lines[1])
	}
	return ""
}

func testImage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x * y) % 251), 255})
		}
	}
	return img
}

func TestRender(t *testing.T) {
	d := harness.CallerDir(t)
	harness.NodeModules(t, d, "@supabase/storage-js")
	// The slot wait is the only time bound here: on a busy CI machine 16 large transforms on
	// two slots may queue longer than the default 15 s, which is a 429 by design, not a bug
	// this test looks for; it is raised so the test does not depend on machine speed.
	srv := startRenderer(t, harness.Options{Env: map[string]string{"STOWAGE_RENDER_TIMEOUT": "600"}})

	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{name: "storage-js transform options", run: func(t *testing.T) { storageJS(t, srv, d) }},
		{name: "16 concurrent transforms of a 2000x1500 JPEG", run: func(t *testing.T) { concurrentTransforms(t, srv) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
}

// TestRenderMultiTenant runs the storage-js transform checks (authenticated, public and
// signed render routes, transformations in a signed URL's token) against a tenant of a
// multi-tenant Stowage (harness.Options.MultiTenant: the tenant's imageTransformation on,
// behind a proxy that sets X-Forwarded-Host). The concurrency case measures the renderer,
// which is the same in both modes, and runs single-tenant only.
func TestRenderMultiTenant(t *testing.T) {
	d := harness.CallerDir(t)
	harness.NodeModules(t, d, "@supabase/storage-js")
	srv := startRenderer(t, harness.Options{MultiTenant: true})
	storageJS(t, srv, d)
}

// startRenderer starts a server of opts with image transformation on, checks that it
// renders, and creates the suite's bucket.
func startRenderer(t *testing.T, opts harness.Options) *harness.Server {
	t.Helper()
	if opts.Env == nil {
		opts.Env = map[string]string{}
	}
	opts.Env["IMAGE_TRANSFORMATION_ENABLED"] = "true"
	srv := harness.Start(t, opts)
	requireRenderer(t, srv)
	// Public, so getPublicUrl's /render/image/public/... answers.
	harness.MustStatus(t, harness.Do(t, http.MethodPost, srv.URL+"/bucket", srv.ServiceKey,
		strings.NewReader(`{"name":"`+bucket+`","public":true}`), -1, map[string]string{"Content-Type": "application/json"}), http.StatusOK)
	return srv
}

// storageJS runs script.mjs: download, getPublicUrl and createSignedUrl with transform,
// each answer's size checked by the script.
func storageJS(t *testing.T, srv *harness.Server, d string) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(200, 100)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "source.png")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "script.mjs")
	cmd.Dir = d
	cmd.Env = append(os.Environ(),
		"STORAGE_URL="+srv.URL+"/storage/v1",
		"SERVICE_KEY="+srv.ServiceKey,
		"BUCKET="+bucket,
		"IMAGE_FILE="+file, "IMAGE_WIDTH=200", "IMAGE_HEIGHT=100",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("render script failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if !bytes.Contains(out, []byte("render conformance: all checks passed")) {
		t.Fatal("render script exited 0 without reaching its last check")
	}
}

// concurrentTransforms sends 16 transforms of one large JPEG at once (distinct widths, so
// no cache hits) and logs the server's peak RSS; the renderer's concurrency limit queues
// the excess.
func concurrentTransforms(t *testing.T, srv *harness.Server) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(2000, 1500), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	harness.MustStatus(t, harness.Do(t, http.MethodPost, srv.URL+"/object/"+bucket+"/large.jpg", srv.ServiceKey,
		bytes.NewReader(buf.Bytes()), int64(buf.Len()), map[string]string{"Content-Type": "image/jpeg"}), http.StatusOK)
	before := srv.PeakRSS(t)
	const n = 16
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- transform(srv.URL, 400+8*i) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	t.Logf("server peak RSS (VmHWM): %d MiB before, %d MiB after %d concurrent transforms of a 2000×1500 JPEG",
		before>>20, srv.PeakRSS(t)>>20, n)
}

// transform fetches one rendition of large.jpg and checks its width; it reports errors
// rather than failing the test, so goroutines may call it.
func transform(base string, width int) error {
	resp, err := http.Get(fmt.Sprintf("%s/render/image/public/%s/large.jpg?width=%d", base, bucket, width))
	if err != nil {
		return fmt.Errorf("width %d: %w", width, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("width %d: status %d %.300s %v", width, resp.StatusCode, b, err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("width %d: decode %s answer: %w", width, resp.Header.Get("Content-Type"), err)
	}
	if cfg.Width != width || cfg.Height != width*3/4 {
		return fmt.Errorf("width %d: got %s %d×%d, want %d×%d", width, format, cfg.Width, cfg.Height, width, width*3/4)
	}
	return nil
}
