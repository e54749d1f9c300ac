package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/tenants"
)

// TestMultiTenantConsole: with STOWAGE_CONSOLE=true each tenant gets /console on its own
// stack: its info names it, shows no access key id and S3 only when its s3Protocol is on,
// the app talks to the tenant's API (a tenant's key lists its buckets, not the other's), and
// the storage report is refused. Without the setting ("auto") the paths reach the tenant's
// REST routes as before.
func TestMultiTenantConsole(t *testing.T) {
	src := &mapSource{m: map[string]tenants.Tenant{}}
	secrets := map[string]string{"alpha": "alpha-console-secret-0123456789-0123", "beta": "beta-console-secret-0123456789-01234"}
	src.set(tenants.Tenant{ID: "alpha", DatabaseURL: pgtest.EmptyURL(t), JWTSecret: secrets["alpha"], S3Protocol: true})
	src.set(tenants.Tenant{ID: "beta", DatabaseURL: pgtest.EmptyURL(t), JWTSecret: secrets["beta"]})
	s := startMultiTenantEnv(t, src, map[string]string{"STOWAGE_CONSOLE": "true", "S3_PROTOCOL_ACCESS_KEY_ID": "serverkey",
		"S3_PROTOCOL_ACCESS_KEY_SECRET": "server-secret-0123456789"})
	service := map[string]string{"alpha": signKey(t, secrets["alpha"], "service_role"), "beta": signKey(t, secrets["beta"], "service_role")}
	code, body, _ := mtDo(t, "POST", s.url+"/bucket", "alpha", service["alpha"], []byte(`{"name":"only-alpha"}`),
		map[string]string{"Content-Type": "application/json"})
	if code != 200 {
		t.Fatalf("alpha create bucket: %d %s", code, body)
	}
	for _, tn := range []string{"alpha", "beta"} {
		code, body, hdr := mtDo(t, "GET", s.url+"/console/", tn, "", nil, nil)
		if code != 200 || !strings.Contains(body, "<title>Stowage console</title>") || !strings.Contains(hdr.Get("Content-Security-Policy"), "connect-src 'self'") {
			t.Errorf("%s /console/: %d %.200s", tn, code, body)
		}
		code, body, _ = mtDo(t, "GET", s.url+"/console/assets/app.js", tn, "", nil, nil)
		if code != 200 || !strings.Contains(body, "/console/api/info") {
			t.Errorf("%s app.js: %d", tn, code)
		}
		code, body, _ = mtDo(t, "GET", s.url+"/console/api/info", tn, "", nil, nil)
		var info map[string]any
		if err := json.Unmarshal([]byte(body), &info); err != nil || code != 200 {
			t.Fatalf("%s info: %d %s", tn, code, body)
		}
		wantPath, wantPort := "", 0.0
		if tn == "alpha" {
			wantPath, wantPort = "/s3", float64(s3Port(t, s))
		}
		if info["tenant"] != tn || info["access_key_id"] != "" || info["s3_path"] != wantPath || info["s3_port"] != wantPort ||
			strings.Contains(body, "serverkey") || strings.Contains(body, "secret") {
			t.Errorf("%s info = %s, want tenant %s, no access key, s3_path %q, s3_port %v", tn, body, tn, wantPath, wantPort)
		}
		code, body, _ = mtDo(t, "GET", s.url+"/console/api/report", tn, service[tn], nil, nil)
		if code != 501 || !strings.Contains(body, "multi-tenant mode") {
			t.Errorf("%s report: %d %s, want 501", tn, code, body)
		}
		// What the app's sign-in calls: the tenant's own buckets.
		code, body, _ = mtDo(t, "GET", s.url+"/bucket", tn, service[tn], nil, nil)
		if code != 200 || strings.Contains(body, "only-alpha") != (tn == "alpha") {
			t.Errorf("%s GET /bucket: %d %s", tn, code, body)
		}
	}
	// The console needs a tenant like every other path.
	if code, body, _ := mtDo(t, "GET", s.url+"/console/api/info", "", "", nil, nil); code != 400 || !strings.Contains(body, "X-Forwarded-Host") {
		t.Errorf("console without X-Forwarded-Host: %d %s", code, body)
	}

	off := startMultiTenant(t, src) // STOWAGE_CONSOLE unset: auto, which is not multi-tenant mode
	if code, body, _ := mtDo(t, "GET", off.url+"/console/api/info", "alpha", "", nil, nil); code == 200 || strings.Contains(body, `"tenant"`) {
		t.Errorf("console served without STOWAGE_CONSOLE=true: %d %s", code, body)
	}
}

// s3Port is the S3 listener's port of s.
func s3Port(t *testing.T, s *mtServer) int {
	t.Helper()
	i := strings.LastIndex(s.s3url, ":")
	var p int
	if err := json.Unmarshal([]byte(s.s3url[i+1:]), &p); err != nil {
		t.Fatal(err)
	}
	return p
}
