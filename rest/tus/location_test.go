package tus

import (
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// Location follows tus.md §6: STORAGE_PUBLIC_URL, then Forwarded, then X-Forwarded-*,
// then Host; NODE_ENV=production forces https; X-Forwarded-Prefix only when allowed.
func TestLocation(t *testing.T) {
	cases := []struct {
		name   string
		opts   Options
		hdr    map[string]string
		signed bool
		want   string
	}{
		{"host", Options{}, nil, false, "http://storage:5000/upload/resumable/ID"},
		{"signed", Options{}, nil, true, "http://storage:5000/upload/resumable/sign/ID"},
		{"X-Forwarded", Options{}, map[string]string{"X-Forwarded-Host": "p.example.com", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "8443"},
			false, "https://p.example.com:8443/upload/resumable/ID"},
		{"Forwarded first", Options{}, map[string]string{"Forwarded": `host="f.example.com";proto=https`, "X-Forwarded-Host": "x.example.com"},
			false, "https://f.example.com/upload/resumable/ID"},
		{"public URL wins", Options{PublicProto: "https", PublicHost: "pub.example.com"},
			map[string]string{"X-Forwarded-Host": "x.example.com", "X-Forwarded-Proto": "http"}, false, "https://pub.example.com/upload/resumable/ID"},
		{"NODE_ENV=production", Options{ForceHTTPS: true}, nil, false, "https://storage:5000/upload/resumable/ID"},
		{"prefix allowed", Options{AllowForwardedPath: true}, map[string]string{"X-Forwarded-Prefix": "/storage/v1/"},
			false, "http://storage:5000/storage/v1/upload/resumable/ID"},
		{"prefix not allowed", Options{}, map[string]string{"X-Forwarded-Prefix": "/storage/v1"},
			false, "http://storage:5000/upload/resumable/ID"},
		{"TUS_URL_PATH", Options{URLPath: "/storage/v1/upload/resumable/"}, nil, false, "http://storage:5000/storage/v1/upload/resumable/ID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := New(nil, tc.opts)
			app := fiber.New()
			app.Get("/x", func(c *fiber.Ctx) error { return c.SendString(h.location(c, "ID", tc.signed)) })
			req := httptest.NewRequest("GET", "http://storage:5000/x", nil)
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			if string(got) != tc.want {
				t.Fatalf("Location %q, want %q", got, tc.want)
			}
		})
	}
}
