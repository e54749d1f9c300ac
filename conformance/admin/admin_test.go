// Package admin tests the admin API (ADMIN_PORT) black-box against the real binary: the
// reference's routes, status codes and bodies, and S3 credentials created through it that
// act, over SigV4 with aws-sdk-go-v2, as the claims they were created with under real RLS
// policies.
package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	apiKey   = "admin-key-for-tests"
	tenantID = "tenant-under-test"
	region   = "us-east-1"
	alice    = "5b0b5a39-1b0c-4c3a-9a52-9d6f2d1e0a01"
	bob      = "7c1d6e4a-2f3b-4d5e-8a9b-0e1f2a3b4c02"
)

// env is a server with its admin listener and the database behind it.
type env struct {
	srv   *harness.Server
	admin string // http://127.0.0.1:ADMIN_PORT
	dbURL string
}

func start(t *testing.T) *env {
	t.Helper()
	return startOn(t, "file")
}

// startOn starts the server on a byte store: "file" or "s3" (a fresh MinIO).
func startOn(t *testing.T, backend string) *env {
	t.Helper()
	return startWith(t, backend, nil)
}

// startWith is startOn with the variables of extra added.
func startWith(t *testing.T, backend string, extra map[string]string) *env {
	t.Helper()
	url := pgtest.URL(t)
	port := harness.FreePort(t)
	vars := map[string]string{
		"SERVER_ADMIN_PORT": strconv.Itoa(port), "ADMIN_API_KEYS": "other-key," + apiKey,
		"ENCRYPTION_KEY": "encryption-key-for-tests", "TENANT_ID": tenantID, "STORAGE_S3_REGION": region}
	for k, v := range extra {
		vars[k] = v
	}
	srv := harness.Start(t, harness.Options{DatabaseURL: url, Backend: backend, Env: vars})
	e := &env{srv: srv, admin: "http://127.0.0.1:" + strconv.Itoa(port), dbURL: url}
	waitStatus(t, e.admin+"/status")
	return e
}

// waitStatus polls url until it answers 200 (the admin listener starts after the main one).
func waitStatus(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call sends an admin request with key as apikey ("" sends none) and returns status and body.
func (e *env) call(t *testing.T, method, path, key, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.admin+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("apikey", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func (e *env) sql(t *testing.T, queries ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range queries {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func (e *env) s3(accessKey, secret string) *s3.Client {
	return s3.New(s3.Options{Region: region, BaseEndpoint: aws.String(e.srv.URL + "/s3"), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secret, "")})
}

func TestAdminRoutes(t *testing.T) {
	e := start(t)
	tests := []struct {
		name, method, path, key, body string
		status                        int
		want                          string // exact body; "*" checks the status only
	}{
		{"status needs no key", "GET", "/status", "", "", 200, ""},
		{"no apikey", "GET", "/tenants/" + tenantID + "/health", "", "", 401, ""},
		{"wrong apikey", "GET", "/tenants/" + tenantID + "/health", "nope", "", 401, ""},
		{"apikey that is a prefix of a key", "GET", "/tenants/" + tenantID + "/health", apiKey[:5], "", 401, ""},
		{"health", "GET", "/tenants/" + tenantID + "/health", apiKey, "", 200, `{"healthy":true}`},
		{"health with the second key", "GET", "/tenants/" + tenantID + "/health", "other-key", "", 200, `{"healthy":true}`},
		{"health of another tenant", "GET", "/tenants/other/health", apiKey, "", 404, `{"error":"Tenant not found"}`},
		{"migrations status", "GET", "/tenants/" + tenantID + "/migrations", apiKey, "", 200,
			`{"isLatest":true,"migrationsStatus":"COMPLETED","migrationsVersion":"fix-search-name-relative-to-prefix"}`},
		{"migrations of another tenant", "GET", "/tenants/other/migrations", apiKey, "", 404, `{"error":"Tenant not found"}`},
		{"run migrations", "POST", "/tenants/" + tenantID + "/migrations", apiKey, "", 200, `{"migrated":true}`},
		{"get unknown tenant", "GET", "/tenants/other", apiKey, "", 404, ""},
		{"create tenant", "POST", "/tenants/new", apiKey, `{}`, 400,
			`{"message":"Tenants are managed in multi-tenant mode only; this server serves one tenant (TENANT_ID)"}`},
		{"fleet migrations", "POST", "/migrations/migrate/fleet", apiKey, "", 400, `{"message":"Queue is not enabled"}`},
		{"failed migrations", "GET", "/migrations/failed", apiKey, "", 400, `{"message":"Queue is not enabled"}`},
		{"queue move", "POST", "/queue/move", apiKey, `{"fromQueue":"a","toQueue":"b"}`, 400, `{"message":"Queue is not enabled"}`},
		{"orphan objects with a bad date", "GET", "/tenants/" + tenantID + "/buckets/b/orphan-objects?before=yesterday-ish", apiKey, "", 400,
			`{"error":"Invalid date format"}`},
		{"orphan objects of another tenant", "GET", "/tenants/other/buckets/b/orphan-objects", apiKey, "", 404, `{"error":"Tenant not found"}`},
		{"orphan objects of an unknown bucket", "GET", "/tenants/" + tenantID + "/buckets/nope/orphan-objects", apiKey, "", 200, ""},
		{"orphan sync without a flag", "DELETE", "/tenants/" + tenantID + "/buckets/b/orphan-objects", apiKey, `{}`, 400,
			`{"error":"At least one of deleteDbKeys or deleteS3Keys must be set to true"}`},
		{"orphan sync with no body", "DELETE", "/tenants/" + tenantID + "/buckets/b/orphan-objects", apiKey, "", 400,
			`{"error":"At least one of deleteDbKeys or deleteS3Keys must be set to true"}`},
		{"orphan sync with a bad date", "DELETE", "/tenants/" + tenantID + "/buckets/b/orphan-objects", apiKey, `{"deleteS3Keys":true,"before":"soon"}`, 400,
			`{"error":"Invalid date format"}`},
		{"credential without description", "POST", "/s3/" + tenantID + "/credentials", apiKey, `{}`, 400,
			`{"statusCode":"400","error":"Bad Request","message":"body must have required property 'description'"}`},
		{"credential with a short description", "POST", "/s3/" + tenantID + "/credentials", apiKey, `{"description":"ab"}`, 400,
			`{"statusCode":"400","error":"Bad Request","message":"body/description must NOT have fewer than 3 characters"}`},
		{"credential claims without role", "POST", "/s3/" + tenantID + "/credentials", apiKey, `{"description":"abc","claims":{"sub":"x"}}`, 400,
			`{"statusCode":"400","error":"Bad Request","message":"body/claims must have required property 'role'"}`},
		{"credential claims too large", "POST", "/s3/" + tenantID + "/credentials", apiKey,
			`{"description":"abc","claims":{"role":"authenticated","pad":"` + strings.Repeat("x", 17000) + `"}}`, 400,
			`{"statusCode":"400","error":"Bad Request","message":"body/claims must NOT be larger than 16384 bytes"}`},
		{"credential body not JSON", "POST", "/s3/" + tenantID + "/credentials", apiKey, `{`, 400,
			`{"statusCode":"400","error":"Bad Request","message":"Body is not valid JSON but content-type is set to 'application/json'"}`},
		{"credential for another tenant", "POST", "/s3/other/credentials", apiKey, `{"description":"abc"}`, 404, `{"error":"Tenant not found"}`},
		{"delete without id", "DELETE", "/s3/" + tenantID + "/credentials", apiKey, `{}`, 400,
			`{"statusCode":"400","error":"Bad Request","message":"body must have required property 'id'"}`},
		{"delete unknown id", "DELETE", "/s3/" + tenantID + "/credentials", apiKey, `{"id":"not-a-uuid"}`, 204, ""},
		{"jwk with underscore kind", "POST", "/tenants/" + tenantID + "/jwks", apiKey, `{"jwk":{"kty":"oct","k":"c2VjcmV0"},"kind":"a_b"}`, 400,
			`Kind cannot contain underscore characters`},
		{"jwk private RSA", "POST", "/tenants/" + tenantID + "/jwks", apiKey, `{"jwk":{"kty":"RSA","n":"x","e":"AQAB","d":"y"},"kind":"ext"}`, 400,
			`Invalid asymmetric public jwk. Private fields are not allowed`},
		{"jwk without kind", "POST", "/tenants/" + tenantID + "/jwks", apiKey, `{"jwk":{"kty":"oct","k":"c2VjcmV0"}}`, 400,
			`{"statusCode":"400","error":"Bad Request","message":"body must have required property 'kind'"}`},
		{"toggle unknown kid", "PUT", "/tenants/" + tenantID + "/jwks/ext_00000000-0000-0000-0000-000000000000", apiKey, `{"active":false}`, 200, `{"result":false}`},
		{"unknown route", "GET", "/nope", apiKey, "", 404, `{"statusCode":"404","error":"Not Found","message":"Route GET:/nope not found"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.call(t, tc.method, tc.path, tc.key, tc.body)
			if status != tc.status || (tc.want != "*" && body != tc.want) {
				t.Fatalf("%s %s: %d %s, want %d %s", tc.method, tc.path, status, body, tc.status, tc.want)
			}
		})
	}

	t.Run("an added key verifies JWTs until disabled", func(t *testing.T) {
		secret := []byte("tenant signing key of 32 bytes!!")
		status, body := e.call(t, "POST", "/tenants/"+tenantID+"/jwks", apiKey,
			`{"jwk":{"kty":"oct","alg":"HS256","k":"`+base64.RawURLEncoding.EncodeToString(secret)+`"},"kind":"partner"}`)
		var added struct{ Kid string }
		if status != 201 || json.Unmarshal([]byte(body), &added) != nil {
			t.Fatalf("add: %d %s", status, body)
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"role": "service_role", "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = added.Kid
		signed, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		listBuckets := func() int {
			resp := harness.Do(t, "GET", e.srv.URL+"/bucket", signed, nil, 0, nil)
			resp.Body.Close()
			return resp.StatusCode
		}
		if got := listBuckets(); got != 200 {
			t.Fatalf("JWT signed with the added key: %d, want 200", got)
		}
		if status, body := e.call(t, "PUT", "/tenants/"+tenantID+"/jwks/"+added.Kid, apiKey, `{"active":false}`); status != 200 || body != `{"result":true}` {
			t.Fatalf("disable: %d %s", status, body)
		}
		if got := listBuckets(); got != 400 {
			t.Fatalf("JWT signed with a disabled key: %d, want 400 (invalid JWT)", got)
		}
	})

	t.Run("jwks add, toggle, generate", func(t *testing.T) {
		status, body := e.call(t, "POST", "/tenants/"+tenantID+"/jwks", apiKey, `{"jwk":{"kty":"oct","k":"c2VjcmV0"},"kind":"ext"}`)
		var added struct{ Kid string }
		if status != 201 || json.Unmarshal([]byte(body), &added) != nil || !strings.HasPrefix(added.Kid, "ext_") {
			t.Fatalf("add: %d %s", status, body)
		}
		for _, tc := range []struct{ active, want string }{{"false", `{"result":true}`}, {"false", `{"result":false}`}, {"true", `{"result":true}`}} {
			if status, body := e.call(t, "PUT", "/tenants/"+tenantID+"/jwks/"+added.Kid, apiKey, `{"active":`+tc.active+`}`); status != 200 || body != tc.want {
				t.Fatalf("toggle active=%s: %d %s, want %s", tc.active, status, body, tc.want)
			}
		}
		for i, want := range []string{`{"running":false,"sent":1}`, `{"running":false,"sent":1}`} {
			if status, body := e.call(t, "POST", "/tenants/jwks/generate-all-missing", apiKey, ""); status != 200 || body != `{"started":true}` {
				t.Fatalf("generate #%d: %d %s", i, status, body)
			}
			if status, body := e.call(t, "GET", "/tenants/jwks/generate-all-missing", apiKey, ""); status != 200 || body != want {
				t.Fatalf("generate status #%d: %d %s, want %s", i, status, body, want)
			}
		}
	})

	t.Run("secrets are stored encrypted", func(t *testing.T) {
		status, body := e.call(t, "POST", "/s3/"+tenantID+"/credentials", apiKey, `{"description":"sealed"}`)
		var cred struct {
			SecretKey string `json:"secret_key"`
		}
		if status != 201 || json.Unmarshal([]byte(body), &cred) != nil || cred.SecretKey == "" {
			t.Fatalf("create: %d %s", status, body)
		}
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, e.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var stored string
		if err := conn.QueryRow(ctx, `select secret_key from stowage.tenants_s3_credentials where description = 'sealed'`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored == cred.SecretKey || !strings.HasPrefix(stored, "U2FsdGVkX1") { // base64 "Salted__"
			t.Fatalf("stored secret %q is not in the reference's encrypted format", stored)
		}
	})

	t.Run("at most 50 credentials", func(t *testing.T) {
		status, body := e.call(t, "GET", "/s3/"+tenantID+"/credentials", apiKey, "")
		var list []map[string]any
		if status != 200 || json.Unmarshal([]byte(body), &list) != nil {
			t.Fatalf("list: %d %s", status, body)
		}
		for i := len(list); i < 50; i++ {
			if status, body := e.call(t, "POST", "/s3/"+tenantID+"/credentials", apiKey, `{"description":"filler"}`); status != 201 {
				t.Fatalf("credential #%d: %d %s", i+1, status, body)
			}
		}
		status, body = e.call(t, "POST", "/s3/"+tenantID+"/credentials", apiKey, `{"description":"one too many"}`)
		if want := `{"statusCode":"400","code":"MaximumCredentialsLimit","error":"MaximumCredentialsLimit","message":"You have reached the maximum number of credentials allowed"}`; status != 400 || body != want {
			t.Fatalf("51st credential: %d %s, want 400 %s", status, body, want)
		}
	})
}

// credential creates an S3 credential through the admin API.
func (e *env) credential(t *testing.T, body string) (id, accessKey, secret string) {
	t.Helper()
	status, out := e.call(t, "POST", "/s3/"+tenantID+"/credentials", apiKey, body)
	var c struct {
		ID          string `json:"id"`
		AccessKey   string `json:"access_key"`
		SecretKey   string `json:"secret_key"`
		Description string `json:"description"`
	}
	if status != 201 || json.Unmarshal([]byte(out), &c) != nil || c.ID == "" || len(c.AccessKey) != 32 || len(c.SecretKey) != 64 {
		t.Fatalf("create credential: %d %s", status, out)
	}
	return c.ID, c.AccessKey, c.SecretKey
}

func keys(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	var ks []string
	for _, o := range out.Contents {
		ks = append(ks, aws.ToString(o.Key))
	}
	return ks
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestCredentialClaimsUnderRLS: a credential created with {role: authenticated, sub: X}
// sees only what X may see under RLS; one without claims acts as the service role; a
// deleted one stops working at once on the gateway that deleted it.
func TestCredentialClaimsUnderRLS(t *testing.T) {
	e := start(t)
	e.sql(t,
		`create policy own_read on storage.objects for select to authenticated
			using (bucket_id = 'rls' and (storage.foldername(name))[1] = auth.jwt()->>'sub')`,
		`create policy own_write on storage.objects for insert to authenticated
			with check (bucket_id = 'rls' and (storage.foldername(name))[1] = auth.uid()::text)`)
	ctx := context.Background()
	service := e.s3(harness.S3AccessKeyID, harness.S3Secret)
	if _, err := service.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("rls")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{alice + "/a.txt", bob + "/b.txt"} {
		if _, err := service.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("rls"), Key: aws.String(k), Body: strings.NewReader("bytes of " + k)}); err != nil {
			t.Fatal(err)
		}
	}

	id, ak, secret := e.credential(t, `{"description":"alice's key","claims":{"role":"authenticated","sub":"`+alice+`","email":"a@example.com"}}`)
	asAlice := e.s3(ak, secret)
	if got := keys(t, asAlice, "rls"); !slices.Equal(got, []string{alice + "/a.txt"}) {
		t.Fatalf("alice lists %q, want only her object", got)
	}
	obj, err := asAlice.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("rls"), Key: aws.String(alice + "/a.txt")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(b) != "bytes of "+alice+"/a.txt" {
		t.Fatalf("alice reads %q", b)
	}
	if _, err := asAlice.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("rls"), Key: aws.String(bob + "/b.txt")}); apiCode(err) != "NoSuchKey" {
		t.Fatalf("alice reading bob's object: %v, want NoSuchKey (RLS hides it)", err)
	}
	// Writes follow the insert policy: her folder yes (owner = her sub), bob's no.
	if _, err := asAlice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("rls"), Key: aws.String(alice + "/new.txt"), Body: strings.NewReader("new")}); err != nil {
		t.Fatalf("alice writing in her folder: %v", err)
	}
	if _, err := asAlice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("rls"), Key: aws.String(bob + "/x.txt"), Body: strings.NewReader("x")}); apiCode(err) != "AccessDenied" {
		t.Fatalf("alice writing in bob's folder: %v, want AccessDenied", err)
	}
	e.sql(t, `do $$ begin
		if (select owner_id from storage.objects where bucket_id = 'rls' and name = '`+alice+`/new.txt') is distinct from '`+alice+`' then
			raise exception 'owner_id of alice''s upload is not her sub';
		end if; end $$`)

	_, sak, ssecret := e.credential(t, `{"description":"service key"}`)
	if got := keys(t, e.s3(sak, ssecret), "rls"); len(got) != 3 {
		t.Fatalf("a credential without claims lists %q, want all 3 objects (service role)", got)
	}
	if got := keys(t, service, "rls"); len(got) != 3 {
		t.Fatalf("the env credential lists %q, want all 3 objects", got)
	}

	status, body := e.call(t, "GET", "/s3/"+tenantID+"/credentials", apiKey, "")
	var list []map[string]any
	if status != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list) != 2 {
		t.Fatalf("list: %d %s", status, body)
	}
	for _, c := range list {
		if _, leaked := c["secret_key"]; leaked || c["access_key"] == nil || c["id"] == nil || c["created_at"] == nil || c["description"] == nil {
			t.Fatalf("list entry %v: want id, description, access_key, created_at and no secret", c)
		}
	}

	if status, body := e.call(t, "DELETE", "/s3/"+tenantID+"/credentials", apiKey, `{"id":"`+id+`"}`); status != 204 || body != "" {
		t.Fatalf("delete: %d %q", status, body)
	}
	if _, err := asAlice.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("rls")}); apiCode(err) != "InvalidAccessKeyId" {
		t.Fatalf("deleted credential: %v, want InvalidAccessKeyId", err)
	}
}
