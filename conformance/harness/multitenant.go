package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway"
)

// Multi-tenant mode (Options.MultiTenant): the server runs with MULTI_TENANT=true on a fresh
// control database, the suite's database (Options.DatabaseURL or a fresh one) becomes the
// tenant MultiTenantID, created through the admin API with JWTSecret, and Server.URL is a
// reverse proxy that sets X-Forwarded-Host to that tenant's host, as the proxy in front of
// a multi-tenant deployment does. Suites then run unchanged against a tenant.
//
// STORAGE_PUBLIC_URL is the proxy's URL (TUS Location), and Server's S3 credentials are
// the tenant's, created through the admin API. S3 signatures are checked against the host
// the client signed (in multi-tenant mode STORAGE_PUBLIC_URL does not decide it): the proxy
// keeps the client's Host and names it in Forwarded: host= (S3_ALLOW_FORWARDED_HEADER), as
// X-Forwarded-Host names the tenant. With S3_PORT set a second such proxy fronts the S3
// listener, and Server.S3Port is that proxy's port. Servers given the same
// DATABASE_MULTITENANT_URL in Options.Env and the same DatabaseURL share the control
// database and serve the one tenant (the first creates it).
const (
	MultiTenantID   = "conformance"
	multiTenantHost = MultiTenantID + ".tenants.stowage.test"
	adminAPIKey     = "harness-admin-api-key"
)

// AdminAPIKey is the admin API key of a multi-tenant harness server (on Server.AdminPort).
const AdminAPIKey = adminAPIKey

// prepareMultiTenant adds the multi-tenant settings to env; it returns the admin port and
// the proxy's listener. The proxy's URL is STORAGE_PUBLIC_URL, so that TUS Location URLs
// lead back to it; S3 signatures are checked against the Forwarded host the proxy sets.
func prepareMultiTenant(t testing.TB, env map[string]string) (int, net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	env["STORAGE_PUBLIC_URL"] = "http://" + ln.Addr().String()
	adminPort := FreePort(t)
	env["MULTI_TENANT"] = "true"
	env["DATABASE_MULTITENANT_URL"] = pgtest.EmptyURL(t)
	env["ENCRYPTION_KEY"] = "harness-encryption-key"
	env["ADMIN_API_KEYS"] = adminAPIKey
	env["ADMIN_PORT"] = strconv.Itoa(adminPort)
	env["REQUEST_X_FORWARDED_HOST_REGEXP"] = `^([a-z0-9-]+)\.tenants\.stowage\.test$`
	env["S3_ALLOW_FORWARDED_HEADER"] = "true"
	return adminPort, ln
}

// frontTenant creates the tenant over tenantDB through the admin API and puts the proxy in
// front of s (and of its S3 listener when s3Port is not 0).
func (s *Server) frontTenant(t testing.TB, adminPort int, ln net.Listener, tenantDB string, s3Port int) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"anonKey": s.AnonKey, "serviceKey": s.ServiceKey, "jwtSecret": JWTSecret,
		"databaseUrl": tenantDB, "fileSizeLimit": s.fileSizeLimit(t), "features": map[string]any{"s3Protocol": map[string]any{"enabled": true},
			"imageTransformation": map[string]any{"enabled": true}}})
	admin := func(path string, body []byte) []byte {
		req, err := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d%s", adminPort, path), bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("apikey", adminAPIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 && !(resp.StatusCode == 409 && strings.HasPrefix(path, "/tenants/")) {
			t.Fatalf("harness: admin POST %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	// 409: another server given the same control database (Env DATABASE_MULTITENANT_URL)
	// created the tenant; this one serves it too, with S3 credentials of its own.
	admin("/tenants/"+MultiTenantID, body)
	s.AdminPort = adminPort
	// The tenant's S3 credentials (the server's own are not accepted in multi-tenant mode).
	var cred struct {
		AccessKey string `json:"access_key"`
		SecretKey string `json:"secret_key"`
	}
	if err := json.Unmarshal(admin("/s3/"+MultiTenantID+"/credentials", []byte(`{"description":"harness"}`)), &cred); err != nil {
		t.Fatal(err)
	}
	s.S3AccessKeyID, s.S3Secret = cred.AccessKey, cred.SecretKey
	target, _ := url.Parse(s.URL)
	serveTenantProxy(t, ln, target)
	s.URL = "http://" + ln.Addr().String()
	s.Port = ln.Addr().(*net.TCPAddr).Port
	if s3Port != 0 {
		s3Ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s3Ln.Close() })
		serveTenantProxy(t, s3Ln, &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(s3Port)})
		s.S3Port = s3Ln.Addr().(*net.TCPAddr).Port
	}
}

// serveTenantProxy serves on ln a reverse proxy to target that keeps the Host the client
// signed, names it in Forwarded: host= and sets X-Forwarded-Host to the tenant's host, as
// the proxy in front of a multi-tenant deployment does (there the tenant's host is the Host
// clients use; the harness's clients reach 127.0.0.1).
func serveTenantProxy(t testing.TB, ln net.Listener, target *url.URL) {
	proxy := &httputil.ReverseProxy{FlushInterval: -1, Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
		r.Out.Header.Set("Forwarded", `host="`+r.In.Host+`";proto=http`)
		r.Out.Header.Set("X-Forwarded-Host", multiTenantHost)
	}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(metaCase{w}, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// metaCase writes user metadata header names in lower case, as the server sent them: the
// proxy's net/http canonicalises them (x-amz-meta-color becomes X-Amz-Meta-Color), and
// clients such as the aws cli keep the case of metadata names. A byte-forwarding proxy
// (nginx) changes nothing.
type metaCase struct{ http.ResponseWriter }

func (w metaCase) WriteHeader(code int) {
	h := w.Header()
	for k, v := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-meta-") && lk != k {
			delete(h, k)
			h[lk] = v
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// Flush passes the proxy's flushes through (FlushInterval -1 streams bodies).
func (w metaCase) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// fileSizeLimit is the server's UPLOAD_FILE_SIZE_LIMIT (or FILE_SIZE_LIMIT, else its
// default, 50 GB) in bytes: the harness tenant gets it, so that suites see the limit they
// see single-tenant (a tenant created without one has the reference's 50 MiB).
func (s *Server) fileSizeLimit(t testing.TB) int64 {
	t.Helper()
	v := "53687091200"
	for _, name := range []string{"FILE_SIZE_LIMIT=", "UPLOAD_FILE_SIZE_LIMIT="} { // UPLOAD_ wins, as in the config
		for _, kv := range s.cmd.Env {
			if strings.HasPrefix(kv, name) && kv != name {
				v = strings.TrimPrefix(kv, name)
			}
		}
	}
	n, err := gateway.ParseSize(v)
	if err != nil {
		t.Fatalf("harness: file size limit %q: %v", v, err)
	}
	return n
}
