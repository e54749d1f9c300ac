// Package gateways runs several stowage processes on one Postgres database and one MinIO
// (STORAGE_BACKEND=s3), and breaks their dependencies on purpose: MinIO stopped in the
// middle of an upload, Postgres gone.
package gateways

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/backend/backendtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var octet = map[string]string{"Content-Type": "application/octet-stream"}

// s3Client talks to a server's /s3 endpoint with the server's S3 credentials (the harness
// service credentials, or the tenant's in multi-tenant mode). It is built without
// LoadDefaultConfig so AWS_CA_BUNDLE plays no part (FIELD-NOTES).
func s3Client(s *harness.Server) *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.URL + "/s3"), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(s.S3AccessKeyID, s.S3Secret, ""),
		RetryMaxAttempts:           1, // a failure must reach the test as it happened
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func createBucket(t *testing.T, s *harness.Server, name string) {
	t.Helper()
	harness.MustStatus(t, harness.Do(t, "POST", s.URL+"/bucket", s.ServiceKey, strings.NewReader(`{"name":"`+name+`"}`), -1,
		map[string]string{"Content-Type": "application/json"}), 200)
}

func pattern(seed uint64, n int64) []byte {
	b, err := io.ReadAll(backendtest.Pattern(seed, n))
	if err != nil {
		panic(err)
	}
	return b
}

// restGet downloads bucket/name through s's REST API.
func restGet(t *testing.T, s *harness.Server, bucket, name string) []byte {
	t.Helper()
	return harness.MustStatus(t, harness.Do(t, "GET", s.URL+"/object/authenticated/"+bucket+"/"+name, s.ServiceKey, nil, 0, nil), 200)
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// multiTenant makes opts a multi-tenant server whose tenant is opts.DatabaseURL, on the
// control database ctl (servers given the same ctl and DatabaseURL serve the one tenant).
func multiTenant(opts harness.Options, ctl string) harness.Options {
	opts.MultiTenant = true
	env := map[string]string{"DATABASE_MULTITENANT_URL": ctl}
	for k, v := range opts.Env {
		env[k] = v
	}
	opts.Env = env
	return opts
}

// TestTwoGateways runs gateways A and B on one database and one MinIO bucket: what one
// writes, the other reads, including a multipart upload whose parts alternate between them.
func TestTwoGateways(t *testing.T) {
	testTwoGateways(t, false)
}

// TestTwoGatewaysMultiTenant runs the same steps with A and B two multi-tenant gateways on
// one control database, serving one tenant (one tenant database, one MinIO bucket), each
// behind a harness proxy that names the tenant; each signs S3 with a credential of the
// tenant created through its own admin API.
func TestTwoGatewaysMultiTenant(t *testing.T) {
	testTwoGateways(t, true)
}

func testTwoGateways(t *testing.T, mt bool) {
	if testing.Short() {
		t.Skip("starts MinIO and two servers")
	}
	opts := harness.Options{DatabaseURL: pgtest.URL(t), Backend: "s3"}
	if mt {
		opts = multiTenant(opts, pgtest.EmptyURL(t))
	}
	a := harness.Start(t, opts)
	opts.MinIO = a.MinIO
	b := harness.Start(t, opts)
	createBucket(t, a, "shared")

	t.Run("multipart alternating", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		ca, cb := s3Client(a), s3Client(b)
		bucket, key := aws.String("shared"), aws.String("mp/alternating.bin")
		const partSize, parts = 5 << 20, 4
		data := pattern(7, partSize*parts-123) // the last part is shorter
		up, err := ca.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
		if err != nil {
			t.Fatalf("CreateMultipartUpload (A): %v", err)
		}
		var done []types.CompletedPart
		for i := range parts {
			c, via := ca, "A"
			if i%2 == 1 {
				c, via = cb, "B"
			}
			chunk := data[i*partSize : min((i+1)*partSize, len(data))]
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(chunk), ContentLength: aws.Int64(int64(len(chunk)))})
			if err != nil {
				t.Fatalf("UploadPart %d (%s): %v", i+1, via, err)
			}
			done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
		}
		// B sees every part, including those uploaded through A.
		listed, err := cb.ListParts(ctx, &s3.ListPartsInput{Bucket: bucket, Key: key, UploadId: up.UploadId})
		if err != nil {
			t.Fatalf("ListParts (B): %v", err)
		}
		if len(listed.Parts) != parts {
			t.Fatalf("ListParts (B): %d parts, want %d", len(listed.Parts), parts)
		}
		if _, err := cb.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
			t.Fatalf("CompleteMultipartUpload (B): %v", err)
		}
		got, err := ca.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key})
		if err != nil {
			t.Fatalf("GetObject (A): %v", err)
		}
		back, err := io.ReadAll(got.Body)
		got.Body.Close()
		if err != nil {
			t.Fatalf("read (A): %v", err)
		}
		if !bytes.Equal(back, data) {
			t.Fatalf("downloaded %d bytes through A, differ from the %d uploaded", len(back), len(data))
		}
		if !bytes.Equal(restGet(t, b, "shared", "mp/alternating.bin"), data) {
			t.Fatal("REST download through B differs")
		}
	})

	t.Run("rest overwrite", func(t *testing.T) {
		first, second := pattern(1, 3<<20+5), pattern(2, 1<<20+9)
		harness.MustStatus(t, harness.Do(t, "POST", a.URL+"/object/shared/rest/over.bin", a.ServiceKey,
			bytes.NewReader(first), int64(len(first)), octet), 200)
		if !bytes.Equal(restGet(t, b, "shared", "rest/over.bin"), first) {
			t.Fatal("B does not read what A wrote")
		}
		harness.MustStatus(t, harness.Do(t, "PUT", b.URL+"/object/shared/rest/over.bin", b.ServiceKey,
			bytes.NewReader(second), int64(len(second)), octet), 200)
		if !bytes.Equal(restGet(t, a, "shared", "rest/over.bin"), second) {
			t.Fatal("A does not read what B wrote over it")
		}
	})

	if mt {
		// Each gateway's admin API created a credential of the tenant (stored where every
		// gateway of the control plane finds it): either gateway accepts either one.
		t.Run("credentials of the other admin API", func(t *testing.T) {
			if a.S3AccessKeyID == b.S3AccessKeyID {
				t.Fatalf("both gateways sign with %s: want a credential per admin API", a.S3AccessKeyID)
			}
			for _, via := range []struct {
				name       string
				srv, other *harness.Server
			}{{"A with B's credential", a, b}, {"B with A's credential", b, a}} {
				c := s3Client(&harness.Server{URL: via.srv.URL, S3AccessKeyID: via.other.S3AccessKeyID, S3Secret: via.other.S3Secret})
				out, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String("rest/over.bin")})
				if err != nil {
					t.Fatalf("%s: GetObject: %v", via.name, err)
				}
				got, err := io.ReadAll(out.Body)
				out.Body.Close()
				if err != nil || !bytes.Equal(got, pattern(2, 1<<20+9)) {
					t.Fatalf("%s: read %d bytes (%v), want what B wrote", via.name, len(got), err)
				}
			}
		})
	}
}

// gatedBody yields size pattern bytes; after the first `gate` bytes it reports on reached
// and waits for release before producing the rest.
type gatedBody struct {
	r       io.Reader
	gate    int64
	read    int64
	reached chan struct{}
	release chan struct{}
}

func (g *gatedBody) Read(p []byte) (int, error) {
	if g.read < g.gate && g.read+int64(len(p)) > g.gate {
		p = p[:g.gate-g.read]
	}
	if g.read == g.gate {
		close(g.reached)
		<-g.release
		g.gate = -1
	}
	n, err := g.r.Read(p)
	g.read += int64(n)
	return n, err
}

// TestUpstreamOutage stops MinIO while a large streamed PUT is in flight through Stowage:
// the client gets an error (not a hang), nothing half-written becomes visible, reads of
// stored objects answer 503 with Retry-After while MinIO is down, and after MinIO is back
// the same upload succeeds.
func TestUpstreamOutage(t *testing.T) {
	testUpstreamOutage(t, harness.Options{Backend: "s3"})
}

// TestUpstreamOutageMultiTenant runs the same steps against a tenant of a multi-tenant
// gateway (behind the harness proxy): the store is shared by every tenant, and its outage
// reaches the tenant's dialects as it reaches the single tenant's.
func TestUpstreamOutageMultiTenant(t *testing.T) {
	testUpstreamOutage(t, harness.Options{Backend: "s3", MultiTenant: true})
}

func testUpstreamOutage(t *testing.T, opts harness.Options) {
	if testing.Short() {
		t.Skip("starts MinIO and a server")
	}
	s := harness.Start(t, opts)
	m := s.MinIO
	createBucket(t, s, "outage")
	before := pattern(3, 1<<20)
	harness.MustStatus(t, harness.Do(t, "POST", s.URL+"/object/outage/before.bin", s.ServiceKey,
		bytes.NewReader(before), int64(len(before)), octet), 200)

	const size = 256 << 20
	h := sha256.New()
	if _, err := io.Copy(h, backendtest.Pattern(4, size)); err != nil {
		t.Fatal(err)
	}
	sum := [32]byte(h.Sum(nil))
	url := s.URL + "/object/outage/big.bin"

	t.Run("put fails", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // hang guard
		defer cancel()
		body := &gatedBody{r: backendtest.Pattern(4, size), gate: 32 << 20, reached: make(chan struct{}), release: make(chan struct{})}
		type result struct {
			status int
			err    error
		}
		res := make(chan result, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, "PUT", url, body)
			req.ContentLength = size
			req.Header.Set("Authorization", "Bearer "+s.ServiceKey)
			req.Header.Set("Content-Type", "application/octet-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				res <- result{err: err}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			res <- result{status: resp.StatusCode}
		}()
		select {
		case <-body.reached:
		case r := <-res:
			t.Fatalf("upload ended before the gate: %+v", r)
		}
		m.Stop(t)
		close(body.release)
		r := <-res
		switch {
		case errors.Is(r.err, context.DeadlineExceeded) || ctx.Err() != nil:
			t.Fatalf("upload hung until the test's deadline: %v", r.err)
		case r.err != nil:
			t.Logf("upload failed with a connection error (the server closed it): %v", r.err)
		case r.status < 500:
			t.Fatalf("upload answered %d with MinIO stopped, want 5xx", r.status)
		default:
			t.Logf("upload answered %d", r.status)
		}
	})

	t.Run("nothing visible", func(t *testing.T) {
		resp := harness.Do(t, "HEAD", s.URL+"/object/authenticated/outage/big.bin", s.ServiceKey, nil, 0, nil)
		resp.Body.Close()
		if resp.StatusCode != 404 && resp.StatusCode != 400 { // the REST envelope may say 404 in a 400
			t.Fatalf("HEAD big.bin after the failed upload: %d, want 404", resp.StatusCode)
		}
		harness.MustStatus(t, harness.Do(t, "GET", s.URL+"/object/authenticated/outage/big.bin", s.ServiceKey, nil, 0, nil), 400)
		_, err := s3Client(s).HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("outage"), Key: aws.String("big.bin")})
		if code := apiCode(err); code != "NotFound" {
			t.Fatalf("S3 HeadObject: %v (code %q), want NotFound", err, code)
		}
	})

	t.Run("reads answer 503", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // hang guard
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/object/authenticated/outage/before.bin", nil)
		req.Header.Set("Authorization", "Bearer "+s.ServiceKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("REST GET with MinIO stopped: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("REST GET with MinIO stopped: %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
		_, err = s3Client(s).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("outage"), Key: aws.String("before.bin")})
		var re interface{ HTTPStatusCode() int }
		if code := apiCode(err); code != "ServiceUnavailable" || !errors.As(err, &re) || re.HTTPStatusCode() != 503 {
			t.Fatalf("S3 GetObject with MinIO stopped: %v, want 503 ServiceUnavailable", err)
		}
	})

	m.Restart(t)

	t.Run("retry succeeds", func(t *testing.T) {
		harness.MustStatus(t, harness.Do(t, "PUT", url, s.ServiceKey, backendtest.Pattern(4, size), size, octet), 200)
		resp := harness.Do(t, "GET", s.URL+"/object/authenticated/outage/big.bin", s.ServiceKey, nil, 0, nil)
		if resp.StatusCode != 200 {
			harness.MustStatus(t, resp, 200)
		}
		h := sha256.New()
		_, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if [32]byte(h.Sum(nil)) != sum {
			t.Fatal("bytes read back differ from the upload")
		}
		if !bytes.Equal(restGet(t, s, "outage", "before.bin"), before) {
			t.Fatal("the object stored before the outage differs")
		}
	})
}
