package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

// hangGuard ends a request that the server never answers: the deadlines under test are
// far shorter, so a request that needs the guard is a failure, not a slow pass.
const hangGuard = 2 * time.Minute

func e2eS3(s *harness.Server) *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.URL + "/s3"), UsePathStyle: true,
		Credentials:                awscreds.NewStaticCredentialsProvider(harness.S3AccessKeyID, harness.S3Secret, ""),
		RetryMaxAttempts:           1,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// guarded sends a REST request that must be answered before the hang guard.
// servedEventually is guarded, repeated while the answer is 544 (at most 30 times): with
// the short database timeouts these tests set, a loaded machine can make a healthy request
// time out too, and after a fault heals the first requests may still find it. The tests
// assert that service comes back, not how fast.
func servedEventually(t *testing.T, method, url, key, body string) (int, string) {
	t.Helper()
	var code int
	var b string
	for range 30 {
		if code, b = guarded(t, method, url, key, body); code != 544 {
			break
		}
	}
	return code, b
}

func guarded(t *testing.T, method, url, key, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env struct{ StatusCode, Code string }
	_ = json.Unmarshal(b, &env)
	if resp.StatusCode == 544 && (env.StatusCode != "544" || env.Code != "DatabaseTimeout") {
		t.Errorf("%s %s: 544 with body %s, want the DatabaseTimeout envelope", method, url, b)
	}
	return resp.StatusCode, string(b)
}

// wantS3Unavailable checks an S3 call failed with 503 ServiceUnavailable.
func wantS3Unavailable(t *testing.T, what string, err error) {
	t.Helper()
	var re interface{ HTTPStatusCode() int }
	var api smithy.APIError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 503 || !errors.As(err, &api) || api.ErrorCode() != "ServiceUnavailable" {
		t.Fatalf("S3 %s: %v, want 503 ServiceUnavailable", what, err)
	}
}

// TestDatabaseSessionEndedAnswers503: when Postgres ends the session under a statement (as
// a fast shutdown or pg_terminate_backend does, SQLSTATE 57P01) or reports a deadlock, REST
// answers the reference's 544 DatabaseTimeout and S3 503 (both retryable), not 500, and the
// next request succeeds.
func TestDatabaseSessionEndedAnswers503(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	s := harness.Start(t, harness.Options{DatabaseURL: dbURL})
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{
		`create function public.sabotage() returns trigger language plpgsql security definer as $$
		begin
			if new.id like 'terminated%' then perform pg_terminate_backend(pg_backend_pid()); perform pg_sleep(60); end if;
			if new.id like 'deadlocked%' then raise exception 'deadlock detected' using errcode = '40P01'; end if;
			return new;
		end $$`,
		`create trigger sabotage before insert on storage.buckets for each row execute function public.sabotage()`,
	} {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	for prefix, want := range map[string]struct {
		status int
		body   string
	}{
		"terminated": {544, `{"statusCode":"544","error":"DatabaseTimeout","message":"The connection to the database timed out","code":"DatabaseTimeout"}`},
		"deadlocked": {544, `{"statusCode":"544","error":"DatabaseTimeout","message":"The connection to the database timed out","code":"DatabaseTimeout"}`},
	} {
		t.Run(prefix, func(t *testing.T) {
			if code, body := guarded(t, "POST", s.URL+"/bucket", s.ServiceKey, `{"name":"`+prefix+`-rest"}`); code != want.status || string(body) != want.body {
				t.Fatalf("REST create bucket: %d %s, want the reference's %d %s", code, body, want.status, want.body)
			}
			_, err := e2eS3(s).CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(prefix + "-s3")})
			wantS3Unavailable(t, "CreateBucket", err)
			if code, body := guarded(t, "POST", s.URL+"/bucket", s.ServiceKey, `{"name":"after-`+prefix+`"}`); code != 200 {
				t.Fatalf("REST create bucket afterwards: %d %s", code, body)
			}
		})
	}
}

// TestHungDatabaseAnswers503: with the database behind a partition (a proxy that stops
// forwarding: nothing refused, nothing answered), REST requests answer 544 and S3 requests 503 once the
// statement's or the connection's deadline passes instead of waiting for the request
// timeout, and once the partition heals the same requests succeed.
func TestHungDatabaseAnswers503(t *testing.T) {
	t.Parallel()
	proxy, dbURL := pgtest.NewProxy(t, pgtest.URL(t))
	// The connection timeout also bounds the start-up's migration: 500 ms ran out on a
	// loaded machine ("migrate: context deadline exceeded") before the test began.
	s := harness.Start(t, harness.Options{DatabaseURL: dbURL, Env: map[string]string{
		"DATABASE_STATEMENT_TIMEOUT": "500", "DATABASE_CONNECTION_TIMEOUT": "3000"}})
	if code, body := servedEventually(t, "POST", s.URL+"/bucket", s.ServiceKey, `{"name":"hung"}`); code != 200 {
		t.Fatalf("create bucket: %d %s", code, body)
	}

	proxy.Hang()
	if code, body := guarded(t, "GET", s.URL+"/bucket/hung", s.ServiceKey, ""); code != 544 {
		t.Fatalf("REST get bucket across a partition: %d %s, want the reference's 544", code, body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	defer cancel()
	_, err := e2eS3(s).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("hung")})
	if ctx.Err() != nil {
		t.Fatalf("S3 HeadBucket across a partition waited for the hang guard: %v", err)
	}
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != 503 { // HEAD: no body, no code
		t.Fatalf("S3 HeadBucket across a partition: %v, want 503", err)
	}

	proxy.Restore()
	if code, body := servedEventually(t, "GET", s.URL+"/bucket/hung", s.ServiceKey, ""); code != 200 {
		t.Fatalf("REST get bucket after the partition healed: %d %s", code, body)
	}
}
