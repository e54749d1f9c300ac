package console

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/console/traffic"
	"github.com/stowage/stowage/gateway/auth"
)

var roles = auth.Roles{Anon: "anon", Authenticated: "authenticated", Service: "service_role"}

func TestRoutes(t *testing.T) {
	t.Parallel()
	v, err := auth.NewVerifier("console-test-secret-0123456789abcdef", "HS256", roles)
	if err != nil {
		t.Fatal(err)
	}
	service, _ := v.NewKey("service_role", time.Hour)
	user, _ := v.Sign(map[string]any{"role": "authenticated", "sub": "u1", "exp": time.Now().Add(time.Hour).Unix()})
	rec := traffic.New(time.Now)
	rec.Record(traffic.Event{Dialect: "rest", Status: 200, BytesOut: 42, Bucket: "b", Key: "k"})
	app := fiber.New()
	New(Options{Verifier: v, Roles: roles, Traffic: rec, Info: Info{S3Path: "/s3", Region: "eu-1"}}).Register(app)

	for _, tc := range []struct {
		name, path, key string
		status          int
		contains        string
	}{
		{"page", "/console", "", 200, `<script src="/console/assets/app.js">`},
		{"page with slash", "/console/", "", 200, "<title>Stowage console</title>"},
		{"report page is the app", "/console/report", "", 200, "<title>Stowage console</title>"},
		{"asset", "/console/assets/tus.js", "", 200, "Upload-Offset"},
		{"missing asset", "/console/assets/nope.js", "", 404, "not found"},
		{"no escape from the folder", "/console/assets/../../console.go", "", 200, "<title>"},
		{"info", "/console/api/info", "", 200, `"region":"eu-1"`},
		{"report without a key", "/console/api/report", "", 403, "service key"},
		{"report with a user key", "/console/api/report", user, 403, "service key"},
		{"report", "/console/api/report?window=day", service, 200, `"bytes_out":42`},
		{"bad window", "/console/api/report?window=year", service, 400, "window"},
		{"fleet without a database", "/console/api/report?scope=fleet", service, 400, "scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tc.path, nil)
			if tc.key != "" {
				req.Header.Set("Authorization", "Bearer "+tc.key)
			}
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.contains) {
				t.Fatalf("%s: %d %.300s, want %d containing %q", tc.path, resp.StatusCode, body, tc.status, tc.contains)
			}
			if tc.status == 200 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") &&
				!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
				t.Error("the page has no same-origin content security policy")
			}
			if tc.name == "report" {
				var rep traffic.Report
				if err := json.Unmarshal(body, &rep); err != nil || rep.Totals.Requests != 1 || rep.Window != "day" {
					t.Fatalf("report %+v, %v", rep.Totals, err)
				}
			}
		})
	}
}

// The embedded app stays small (the issue allows under 2 MB for the whole console) and
// loads nothing from another origin.
func TestAssetsSelfContained(t *testing.T) {
	t.Parallel()
	total := 0
	for _, name := range []string{"index.html", "assets/app.js", "assets/app.css", "assets/tus.js", "assets/report.js", "assets/icon.svg"} {
		data, err := static.ReadFile("static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		total += len(data)
		for _, bad := range []string{"http://", "https://", "//cdn", "fonts.googleapis"} {
			if strings.Contains(strings.ReplaceAll(string(data), "http://www.w3.org/2000/svg", ""), bad) {
				t.Errorf("%s refers to %q: the console must work offline", name, bad)
			}
		}
	}
	if total > 256<<10 {
		t.Errorf("assets total %d bytes", total)
	}
	t.Logf("embedded assets: %d bytes", total)
}

// A tenant's console (multi-tenant mode): its info names the tenant and no access key id,
// and the storage report is refused even to the tenant's service key (the gateway's
// figures mix every tenant).
func TestTenantRoutes(t *testing.T) {
	t.Parallel()
	v, err := auth.NewVerifier("console-tenant-secret-0123456789abcdef", "HS256", roles)
	if err != nil {
		t.Fatal(err)
	}
	service, _ := v.NewKey("service_role", time.Hour)
	app := fiber.New()
	New(Options{Verifier: v, Roles: roles, Info: Info{S3Path: "/s3", Region: "eu-1", Tenant: "alpha"}}).Register(app)
	get := func(path, key string) (int, string) {
		req := httptest.NewRequest("GET", path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("/console/api/info", "")
	var info map[string]any
	if err := json.Unmarshal([]byte(body), &info); err != nil || code != 200 || info["tenant"] != "alpha" ||
		info["access_key_id"] != "" || info["s3_path"] != "/s3" {
		t.Fatalf("info: %d %s (%v)", code, body, err)
	}
	for _, q := range []string{"", "?scope=gateway", "?scope=fleet&window=day"} {
		if code, body := get("/console/api/report"+q, service); code != 501 || !strings.Contains(body, "multi-tenant mode") {
			t.Errorf("report%s with the tenant's service key: %d %s, want 501", q, code, body)
		}
	}
	if code, body := get("/console/", ""); code != 200 || !strings.Contains(body, "<title>Stowage console</title>") {
		t.Errorf("page: %d %.200s", code, body)
	}
}
