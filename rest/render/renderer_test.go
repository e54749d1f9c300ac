package render

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
)

// TestBoundedReturnsProducedResult: a transformation that returned its result is never
// answered as a timeout. The hook waits until the work has sent its result and released its
// context, so the wait finds both ready at once; whichever it looks at first, the result
// that was produced must win.
func TestBoundedReturnsProducedResult(t *testing.T) {
	r, err := NewRenderer(Config{Concurrency: 1, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r.hooks.beforeWait = func(wctx context.Context) { <-wctx.Done() }
	errWork := errors.New("work failed")
	for i := range 200 {
		want := error(nil)
		if i%2 == 1 {
			want = errWork
		}
		got := r.bounded(context.Background(), func(context.Context) error { return want })
		if !errors.Is(got, want) {
			t.Fatalf("run %d: want %v, got %v", i, want, got)
		}
	}
}

// TestForTenantScopesVariants: the same object (bucket, key, version, ETag) of two tenants
// is two variants; a tenant's view shares the single-tenant renderer's slots and cache.
func TestForTenantScopesVariants(t *testing.T) {
	r, err := NewRenderer(Config{Concurrency: 1, CacheDir: t.TempDir(), CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	obj := gateway.Object{Bucket: "b", Key: "k.png", Version: "v1", ETag: `"e"`}
	o := Options{Width: 10}
	a, a2, b := r.ForTenant("alpha"), r.ForTenant("alpha"), r.ForTenant("beta")
	keys := map[string]string{"single": r.variantKey(obj, o, FormatOrigin), "alpha": a.variantKey(obj, o, FormatOrigin),
		"beta": b.variantKey(obj, o, FormatOrigin)}
	if keys["single"] == keys["alpha"] || keys["alpha"] == keys["beta"] || keys["single"] == keys["beta"] {
		t.Errorf("variant keys shared across tenants: %v", keys)
	}
	if a2.variantKey(obj, o, FormatOrigin) != keys["alpha"] {
		t.Error("one tenant's views disagree on a variant key")
	}
	if a.slots != r.slots || a.cache != r.cache || b.slots != r.slots {
		t.Error("a tenant's view does not share the renderer's slots and cache")
	}
}

// notEnabledPaths are the render routes, one per access mode.
var notEnabledPaths = []string{"/render/image/public/b/k.png", "/render/image/authenticated/b/k.png", "/render/image/sign/b/k.png?token=x"}

// checkNotEnabled asserts that a handler on r answers path with the reference's 403
// FeatureNotEnabled before touching the engine (nil here).
func checkNotEnabled(t *testing.T, r *Renderer, path string) {
	t.Helper()
	app := fiber.New()
	NewHandler(nil, r, HandlerOptions{}).Register(app)
	resp, err := app.Test(httptest.NewRequest("GET", path, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	var env map[string]string
	_ = json.Unmarshal(b, &env)
	if resp.StatusCode != 403 || env["code"] != "FeatureNotEnabled" {
		t.Fatalf("%s: status %d body %s", path, resp.StatusCode, b)
	}
}
