package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/stowage/stowage/conformance/harness"
)

// eventually polls ok until it holds; the guard only fails after minutes (docs/admin.md
// states the real bound, 10 s, which a busy machine must not turn into a flaky test).
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not the case after 3 minutes", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSecondGateway: a credential deleted, or a key added and disabled, through one
// gateway's admin API takes effect on a second gateway on the same database.
func TestSecondGateway(t *testing.T) {
	e := start(t)
	second := harness.Start(t, harness.Options{DatabaseURL: e.dbURL, Env: map[string]string{
		"ENCRYPTION_KEY": "encryption-key-for-tests", "TENANT_ID": tenantID, "STORAGE_S3_REGION": region}})
	ctx := context.Background()
	if _, err := e.s3(harness.S3AccessKeyID, harness.S3Secret).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("two")}); err != nil {
		t.Fatal(err)
	}
	id, ak, secret := e.credential(t, `{"description":"used on the second gateway"}`)
	onSecond := s3.New(s3.Options{Region: region, BaseEndpoint: aws.String(second.URL + "/s3"), UsePathStyle: true,
		Credentials: aws.NewCredentialsCache(staticCreds{ak, secret})})
	list := func() error {
		_, err := onSecond.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("two")})
		return err
	}
	if err := list(); err != nil {
		t.Fatalf("credential on the second gateway: %v", err)
	}
	if status, body := e.call(t, "DELETE", "/s3/"+tenantID+"/credentials", apiKey, `{"id":"`+id+`"}`); status != 204 {
		t.Fatalf("delete: %d %s", status, body)
	}
	eventually(t, "deleted credential refused by the second gateway", func() bool {
		return apiCode(list()) == "InvalidAccessKeyId"
	})

	key := []byte("second gateway key of 32 bytes!!")
	status, body := e.call(t, "POST", "/tenants/"+tenantID+"/jwks", apiKey,
		`{"jwk":{"kty":"oct","alg":"HS256","k":"`+base64.RawURLEncoding.EncodeToString(key)+`"},"kind":"rotated"}`)
	var added struct{ Kid string }
	if status != 201 || json.Unmarshal([]byte(body), &added) != nil {
		t.Fatalf("add key: %d %s", status, body)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"role": "service_role", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = added.Kid
	signed, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	status2 := func() int {
		resp := harness.Do(t, "GET", second.URL+"/bucket", signed, nil, 0, nil)
		resp.Body.Close()
		return resp.StatusCode
	}
	eventually(t, "added key accepted by the second gateway", func() bool { return status2() == 200 })
	if status, body := e.call(t, "PUT", "/tenants/"+tenantID+"/jwks/"+added.Kid, apiKey, `{"active":false}`); status != 200 || !strings.Contains(body, "true") {
		t.Fatalf("disable: %d %s", status, body)
	}
	eventually(t, "disabled key refused by the second gateway", func() bool { return status2() == 400 })
}

type staticCreds struct{ id, secret string }

func (s staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: s.id, SecretAccessKey: s.secret}, nil
}
