// Package multitenant tests a multi-tenant Stowage end to end: the real binary with
// MULTI_TENANT=true, a control database, tenants created through the admin API.
package multitenant

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	adminKey   = "multi-tenant-admin-key"
	hostRegexp = `^([a-z0-9-]+)\.storage\.example\.test$`
	// hangGuard ends a request or a wait that never ends; not a performance bound.
	hangGuard = 2 * time.Minute
)

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

// gateway is one multi-tenant Stowage process with its admin port.
type gateway struct {
	*harness.Server
	admin string
}

func startGateway(t *testing.T, control, store string) gateway {
	t.Helper()
	adminPort := harness.FreePort(t)
	s := harness.Start(t, harness.Options{Env: map[string]string{
		"MULTI_TENANT": "true", "DATABASE_MULTITENANT_URL": control,
		"ENCRYPTION_KEY": "multi-tenant-encryption-key", "ADMIN_API_KEYS": adminKey,
		"ADMIN_PORT": strconv.Itoa(adminPort), "REQUEST_X_FORWARDED_HOST_REGEXP": hostRegexp,
		"STORAGE_FILE_BACKEND_PATH": store, "DATABASE_CONNECTION_TIMEOUT": "3000",
	}})
	return gateway{Server: s, admin: "http://127.0.0.1:" + strconv.Itoa(adminPort)}
}

// call sends a request under the hang guard; tenant "" sends no X-Forwarded-Host.
func call(t *testing.T, method, url, tenant string, hdr map[string]string, body []byte) (int, string) {
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
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func bearer(key string) map[string]string { return map[string]string{"Authorization": "Bearer " + key} }

func adminCall(t *testing.T, g gateway, method, path string, body any) (int, string) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	return call(t, method, g.admin+path, "", map[string]string{"apikey": adminKey, "Content-Type": "application/json"}, b)
}

func s3Client(g gateway, tenant, keyID, secret string) *s3.Client {
	return harness.TenantS3Client(strings.TrimPrefix(g.URL, "http://"), "http://"+hostOf(tenant)+"/s3", keyID, secret)
}

// s3Credentials creates an S3 access key of tenant through g's admin API.
func s3Credentials(t *testing.T, g gateway, tenant string) (key, secret string) {
	t.Helper()
	code, body := adminCall(t, g, "POST", "/s3/"+tenant+"/credentials", map[string]any{"description": "test"})
	if code != 201 {
		t.Fatalf("%s credentials: %d %s", tenant, code, body)
	}
	var cred struct {
		AccessKey string `json:"access_key"`
		SecretKey string `json:"secret_key"`
	}
	if err := json.Unmarshal([]byte(body), &cred); err != nil {
		t.Fatal(err)
	}
	return cred.AccessKey, cred.SecretKey
}

// seedShared creates tenant's bucket "shared" with doc.txt holding "bytes of <tenant>"
// through g, with the tenant's service key.
func seedShared(t *testing.T, g gateway, tenant, serviceKey string) {
	t.Helper()
	if code, body := call(t, "POST", g.URL+"/bucket", tenant, bearer(serviceKey), []byte(`{"name":"shared"}`)); code != 200 {
		t.Fatalf("%s create bucket: %d %s", tenant, code, body)
	}
	if code, body := call(t, "POST", g.URL+"/object/shared/doc.txt", tenant, bearer(serviceKey), []byte("bytes of "+tenant)); code != 200 {
		t.Fatalf("%s upload: %d %s", tenant, code, body)
	}
}

// TestTwoGatewaysTwoTenants runs two gateways on one control database and one store.
// Tenants are created through the first gateway's admin API and served by both; a JWT
// secret rotated through the first takes effect on the second by its LISTEN/NOTIFY.
func TestTwoGatewaysTwoTenants(t *testing.T) {
	control := pgtest.EmptyURL(t)
	store := t.TempDir()
	g1 := startGateway(t, control, store)
	g2 := startGateway(t, control, store)

	secrets := map[string]string{"alpha": "alpha-secret-0123456789-0123456789-xx", "beta": "beta-secret-0123456789-0123456789-yyy"}
	service := map[string]string{}
	for _, tn := range []string{"alpha", "beta"} {
		service[tn] = signKey(t, secrets[tn], "service_role")
		code, body := adminCall(t, g1, "POST", "/tenants/"+tn, map[string]any{
			"anonKey": signKey(t, secrets[tn], "anon"), "serviceKey": service[tn], "jwtSecret": secrets[tn],
			"databaseUrl": pgtest.EmptyURL(t), "features": map[string]any{"s3Protocol": map[string]any{"enabled": true}}})
		if code != 201 {
			t.Fatalf("create tenant %s: %d %s", tn, code, body)
		}
	}

	// Each tenant writes through one gateway; both gateways serve what it wrote.
	for i, tn := range []string{"alpha", "beta"} {
		seedShared(t, []gateway{g1, g2}[i], tn, service[tn])
	}
	for _, g := range []gateway{g1, g2} {
		for _, tn := range []string{"alpha", "beta"} {
			other := map[string]string{"alpha": "beta", "beta": "alpha"}[tn]
			if code, body := call(t, "GET", g.URL+"/object/shared/doc.txt", tn, bearer(service[tn]), nil); code != 200 || body != "bytes of "+tn {
				t.Errorf("%s reads its object: %d %q", tn, code, body)
			}
			if code, body := call(t, "GET", g.URL+"/bucket", tn, bearer(service[other]), nil); code != 400 || !strings.Contains(body, `"statusCode":"403"`) {
				t.Errorf("%s with %s's key: %d %s", tn, other, code, body)
			}
		}
	}
	if code, body := call(t, "GET", g2.URL+"/bucket", "gamma", bearer(service["alpha"]), nil); code != 400 || !strings.Contains(body, "Missing tenant config for tenant gamma") {
		t.Errorf("unknown tenant: %d %s", code, body)
	}

	// S3 with credentials created through the admin API, per tenant.
	for _, tn := range []string{"alpha", "beta"} {
		other := map[string]string{"alpha": "beta", "beta": "alpha"}[tn]
		key, secret := s3Credentials(t, g1, tn)
		out, err := s3Client(g2, tn, key, secret).GetObject(t.Context(),
			&s3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String("doc.txt")})
		if err != nil {
			t.Fatalf("%s S3 GetObject: %v", tn, err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != "bytes of "+tn {
			t.Errorf("%s S3 GetObject = %q", tn, b)
		}
		_, err = s3Client(g2, other, key, secret).GetObject(t.Context(),
			&s3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String("doc.txt")})
		if err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("%s's S3 credentials at %s: %v, want 403", tn, other, err)
		}
	}

	// Rotation through g1's admin API reaches g2 (which has alpha's stack cached).
	rotated := "alpha-rotated-secret-0123456789-01234567"
	start := time.Now()
	if code, body := adminCall(t, g1, "PATCH", "/tenants/alpha", map[string]any{"jwtSecret": rotated}); code != 204 {
		t.Fatalf("rotate: %d %s", code, body)
	}
	acked := time.Since(start)
	deadline := time.Now().Add(hangGuard)
	for {
		code, _ := call(t, "GET", g2.URL+"/bucket", "alpha", bearer(service["alpha"]), nil)
		if code != 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old secret still works on the second gateway")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("rotation: admin answered after %v, old key refused on the second gateway %v after the PATCH was sent", acked, time.Since(start))
	newKey := signKey(t, rotated, "service_role")
	for _, g := range []gateway{g1, g2} {
		if code, body := call(t, "GET", g.URL+"/object/shared/doc.txt", "alpha", bearer(newKey), nil); code != 200 || body != "bytes of alpha" {
			t.Errorf("new key: %d %s", code, body)
		}
		if code, body := call(t, "GET", g.URL+"/bucket", "alpha", bearer(service["alpha"]), nil); code == 200 {
			t.Errorf("old key still accepted: %s", body)
		}
	}
	// beta was not disturbed.
	if code, body := call(t, "GET", g2.URL+"/object/shared/doc.txt", "beta", bearer(service["beta"]), nil); code != 200 || body != "bytes of beta" {
		t.Errorf("beta after alpha's rotation: %d %s", code, body)
	}
}
