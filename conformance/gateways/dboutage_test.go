package gateways

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgcluster"
)

// TestDatabaseOutage runs a server on a private throw-away Postgres cluster, stops the
// cluster, and expects /status and an S3 GET to answer 503 promptly, and a REST GET the
// reference's 544 DatabaseTimeout. The deadlines are hang guards, not timing thresholds.
func TestDatabaseOutage(t *testing.T) {
	testDatabaseOutage(t, false)
}

// TestDatabaseOutageMultiTenant runs the same steps with the cluster holding the tenant's
// database of a multi-tenant gateway (its control database elsewhere): the tenant's REST
// and S3 answer as above. /status belongs to the gateway, which needs no tenant's
// database, so it stays 200 there (docs/multitenant.md).
func TestDatabaseOutageMultiTenant(t *testing.T) {
	testDatabaseOutage(t, true)
}

func testDatabaseOutage(t *testing.T, mt bool) {
	if testing.Short() {
		t.Skip("starts a Postgres cluster and a server")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: t.TempDir(), Throwaway: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = cluster.Stop(ctx)
	})
	if err := cluster.CreateDatabase(ctx, "stowage", ""); err != nil {
		t.Fatal(err)
	}
	s := harness.Start(t, harness.Options{DatabaseURL: cluster.URL("stowage"), MultiTenant: mt,
		Env: map[string]string{"DATABASE_CONNECTION_TIMEOUT": "2000"}})
	createBucket(t, s, "dbdown")
	data := pattern(5, 64<<10)
	harness.MustStatus(t, harness.Do(t, "POST", s.URL+"/object/dbdown/a.bin", s.ServiceKey,
		bytes.NewReader(data), int64(len(data)), octet), 200)

	if err := cluster.Stop(ctx); err != nil {
		t.Fatalf("stop the cluster: %v", err)
	}

	get := func(t *testing.T, url, key string) *http.Response {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second) // hang guard
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s with Postgres down: %v", url, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return resp
	}
	wantStatus := func(t *testing.T, resp *http.Response, want int) {
		t.Helper()
		if resp.StatusCode != want {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s %s: %d, want %d: %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, want, b)
		}
	}

	t.Run("status", func(t *testing.T) {
		if s.MultiTenant {
			wantStatus(t, get(t, s.URL+"/status", ""), 200)
			return
		}
		wantStatus(t, get(t, s.URL+"/status", ""), 503)
	})
	t.Run("rest get", func(t *testing.T) {
		resp := get(t, s.URL+"/object/authenticated/dbdown/a.bin", s.ServiceKey)
		wantStatus(t, resp, 544)
		if ra := resp.Header.Get("Retry-After"); ra == "" {
			t.Error("no Retry-After on the 544")
		} else if _, err := strconv.Atoi(ra); err != nil {
			t.Errorf("Retry-After %q", ra)
		}
	})
	t.Run("s3 get", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second) // hang guard
		defer cancel()
		_, err := s3Client(s).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("dbdown"), Key: aws.String("a.bin")})
		var re interface{ HTTPStatusCode() int }
		if !errors.As(err, &re) || re.HTTPStatusCode() != 503 || apiCode(err) != "ServiceUnavailable" {
			t.Fatalf("S3 GetObject with Postgres down: %v, want 503 ServiceUnavailable", err)
		}
	})
}
