//go:build !cgo || novips

package render

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// TestNotEnabled: a build without libvips and without IMGPROXY_URL answers every render
// route with FeatureNotEnabled before touching the engine.
func TestNotEnabled(t *testing.T) {
	t.Parallel()
	r, err := NewRenderer(Config{})
	if err != nil || r.Enabled() {
		t.Fatalf("renderer enabled=%v, %v", r != nil && r.Enabled(), err)
	}
	app := fiber.New()
	NewHandler(nil, r, HandlerOptions{}).Register(app)
	for _, path := range []string{"/render/image/public/b/k.png", "/render/image/authenticated/b/k.png", "/render/image/sign/b/k.png?token=x"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			resp, err := app.Test(httptest.NewRequest("GET", path, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			var env map[string]string
			_ = json.Unmarshal(b, &env)
			if resp.StatusCode != 403 || env["code"] != "FeatureNotEnabled" {
				t.Fatalf("status %d body %s", resp.StatusCode, b)
			}
		})
	}
}
