package multitenant

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/db/pgcluster"
	"github.com/stowage/stowage/db/pgtest"
)

// TestTenantDatabaseDown stops the Postgres cluster of one tenant under the real binary:
// that tenant answers REST 544 DatabaseTimeout and S3 503 ServiceUnavailable (both with
// Retry-After) and reports unhealthy through the admin API, while the other tenant, on
// another cluster, keeps being served; once the cluster is back, the tenant is served again
// without a restart of the gateway.
func TestTenantDatabaseDown(t *testing.T) {
	clusterDir := t.TempDir()
	cluster, err := pgcluster.Start(t.Context(), pgcluster.Options{Dir: clusterDir, Throwaway: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })
	g := startGateway(t, pgtest.EmptyURL(t), t.TempDir())

	secrets := map[string]string{"alpha": "alpha-secret-0123456789-0123456789-xx", "beta": "beta-secret-0123456789-0123456789-yyy"}
	dbs := map[string]string{"alpha": pgtest.EmptyURL(t), "beta": cluster.URL("postgres")}
	service := map[string]string{}
	creds := map[string][2]string{}
	for _, tn := range []string{"alpha", "beta"} {
		service[tn] = signKey(t, secrets[tn], "service_role")
		code, body := adminCall(t, g, "POST", "/tenants/"+tn, map[string]any{
			"anonKey": signKey(t, secrets[tn], "anon"), "serviceKey": service[tn], "jwtSecret": secrets[tn],
			"databaseUrl": dbs[tn], "features": map[string]any{"s3Protocol": map[string]any{"enabled": true}}})
		if code != 201 {
			t.Fatalf("create tenant %s: %d %s", tn, code, body)
		}
		key, secret := s3Credentials(t, g, tn)
		creds[tn] = [2]string{key, secret}
		seedShared(t, g, tn, service[tn])
	}
	s3Get := func(tn string) (string, error) {
		out, err := s3Client(g, tn, creds[tn][0], creds[tn][1]).GetObject(t.Context(),
			&s3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String("doc.txt")})
		if err != nil {
			return "", err
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		return string(b), err
	}
	served := func(tn string) {
		t.Helper()
		if code, body := call(t, "GET", g.URL+"/object/shared/doc.txt", tn, bearer(service[tn]), nil); code != 200 || body != "bytes of "+tn {
			t.Errorf("%s REST: %d %q", tn, code, body)
		}
		if body, err := s3Get(tn); err != nil || body != "bytes of "+tn {
			t.Errorf("%s S3: %q %v", tn, body, err)
		}
	}
	served("alpha")
	served("beta")

	port := cluster.Port()
	if err := cluster.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 3 { // the cached stack's pool, then stacks rebuilt per request: the same answer
		resp := rawGet(t, g.URL+"/object/shared/doc.txt", "beta", bearer(service["beta"]))
		if resp.code != 544 || !strings.Contains(resp.body, "DatabaseTimeout") || resp.retryAfter == "" {
			t.Errorf("beta REST with its database down: %d %s (Retry-After %q)", resp.code, resp.body, resp.retryAfter)
		}
		if _, err := s3Get("beta"); err == nil || !strings.Contains(err.Error(), "StatusCode: 503") {
			t.Errorf("beta S3 with its database down: %v, want 503", err)
		}
		served("alpha")
	}
	if code, body := adminCall(t, g, "GET", "/tenants/beta/health", nil); code != 200 || !strings.Contains(body, `"healthy":false`) {
		t.Errorf("beta health with its database down: %d %s", code, body)
	}
	if code, body := adminCall(t, g, "GET", "/tenants/alpha/health", nil); code != 200 || !strings.Contains(body, `"healthy":true`) {
		t.Errorf("alpha health: %d %s", code, body)
	}

	// The cluster back (same data, same port): beta is served again by the same gateway.
	cluster, err = pgcluster.Start(t.Context(), pgcluster.Options{Dir: clusterDir, Port: port, Throwaway: true})
	if err != nil {
		t.Fatal(err)
	}
	served("beta")
	served("alpha")
}

type rawResponse struct {
	code       int
	body       string
	retryAfter string
}

// rawGet is call with the Retry-After header of the answer.
func rawGet(t *testing.T, url, tenant string, hdr map[string]string) rawResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-Host", hostOf(tenant))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{resp.StatusCode, string(b), resp.Header.Get("Retry-After")}
}
