package multitenant

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/passphrase"
)

// encryptionKey is startGateway's ENCRYPTION_KEY.
const encryptionKey = "multi-tenant-encryption-key"

// sealReference encrypts plain as the reference does (CryptoJS AES.encrypt = `openssl enc
// -aes-256-cbc -md md5`): with the openssl binary when installed, else gateway/passphrase
// (tested against openssl both ways).
func sealReference(t *testing.T, plain string) string {
	t.Helper()
	if bin, err := exec.LookPath("openssl"); err == nil {
		cmd := exec.Command(bin, "enc", "-aes-256-cbc", "-md", "md5", "-a", "-A", "-salt", "-pass", "pass:"+encryptionKey)
		cmd.Stdin = strings.NewReader(plain)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	s, err := passphrase.Encrypt(encryptionKey, plain)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// poll calls cond until it holds (hang guard only, no timing assertion) and returns how
// long that took.
func poll(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > hangGuard {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestReferenceCredentialsTwoGateways: S3 credentials and JWKs written into the control
// database as the reference writes them (rows inserted by SQL, secrets sealed with its
// encryption) serve their tenant only, on both gateways, with their claims; deleting a
// credential or disabling a key through the first gateway's admin API is refused on the
// second shortly after (its caches hear NOTIFY); what the admin API writes lands in the
// control database's tables.
func TestReferenceCredentialsTwoGateways(t *testing.T) {
	control := pgtest.EmptyURL(t)
	store := t.TempDir()
	g1 := startGateway(t, control, store)
	g2 := startGateway(t, control, store)
	cp := openPool(t, control)

	secrets := map[string]string{"alpha": "alpha-secret-0123456789-0123456789-xx", "beta": "beta-secret-0123456789-0123456789-yyy"}
	dbs := map[string]string{"alpha": pgtest.EmptyURL(t), "beta": pgtest.EmptyURL(t)}
	service := map[string]string{}
	for _, tn := range []string{"alpha", "beta"} {
		service[tn] = signKey(t, secrets[tn], "service_role")
		code, body := adminCall(t, g1, "POST", "/tenants/"+tn, map[string]any{
			"anonKey": signKey(t, secrets[tn], "anon"), "serviceKey": service[tn], "jwtSecret": secrets[tn],
			"databaseUrl": dbs[tn], "features": map[string]any{"s3Protocol": map[string]any{"enabled": true}}})
		if code != 201 {
			t.Fatalf("create tenant %s: %d %s", tn, code, body)
		}
		seedShared(t, g1, tn, service[tn])
	}
	// alpha's authenticated users may read and write bucket "shared".
	if _, err := openPool(t, dbs["alpha"]).Exec(t.Context(), `
		create policy shared_rw on storage.objects for all to authenticated
		using (bucket_id = 'shared') with check (bucket_id = 'shared')`); err != nil {
		t.Fatal(err)
	}

	// Credentials of alpha in the reference's layout.
	const userID = "8d3a5e51-6a3e-4c2f-9d0c-7f5f6f1c2b11"
	creds := map[string]struct{ id, key, secret string }{}
	for name, claims := range map[string]string{
		"user": `{"role":"authenticated","sub":"` + userID + `","issuer":"supabase.storage.alpha"}`,
		"anon": `{"role":"anon","issuer":"supabase.storage.alpha"}`,
	} {
		key, secret := fmt.Sprintf("%032x", name), name+"-secret-0123456789abcdef0123456789abcdef"
		var id string
		if err := cp.QueryRow(t.Context(), `insert into tenants_s3_credentials (tenant_id, description, access_key, secret_key, claims)
			values ('alpha', $1, $2, $3, $4) returning id`, "reference "+name, key, sealReference(t, secret), claims).Scan(&id); err != nil {
			t.Fatal(err)
		}
		creds[name] = struct{ id, key, secret string }{id, key, secret}
	}
	user, anon := creds["user"], creds["anon"]

	// The user credential writes as its claims, on both gateways.
	for i, g := range []gateway{g1, g2} {
		name := fmt.Sprintf("by-user-%d.txt", i)
		if _, err := s3Client(g, "alpha", user.key, user.secret).PutObject(t.Context(), &s3.PutObjectInput{
			Bucket: aws.String("shared"), Key: aws.String(name), Body: strings.NewReader("from the user")}); err != nil {
			t.Fatalf("gateway %d: user PutObject: %v", i+1, err)
		}
		var owner string
		if err := openPool(t, dbs["alpha"]).QueryRow(t.Context(), `select coalesce(owner_id, '') from storage.objects
			where bucket_id = 'shared' and name = $1`, name).Scan(&owner); err != nil || owner != userID {
			t.Fatalf("gateway %d: owner_id = %q, %v; want the credential's sub", i+1, owner, err)
		}
		out, err := s3Client(g, "alpha", user.key, user.secret).GetObject(t.Context(),
			&s3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String("doc.txt")})
		if err != nil {
			t.Fatalf("gateway %d: user GetObject: %v", i+1, err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != "bytes of alpha" {
			t.Errorf("gateway %d: user GetObject = %q", i+1, b)
		}
		// anon's claims may not write.
		_, err = s3Client(g, "alpha", anon.key, anon.secret).PutObject(t.Context(), &s3.PutObjectInput{
			Bucket: aws.String("shared"), Key: aws.String("by-anon.txt"), Body: strings.NewReader("x")})
		if err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("gateway %d: anon credential PutObject: %v, want 403", i+1, err)
		}
		// alpha's credential at beta's host.
		_, err = s3Client(g, "beta", user.key, user.secret).GetObject(t.Context(),
			&s3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String("doc.txt")})
		if err == nil || !strings.Contains(err.Error(), "InvalidAccessKeyId") {
			t.Errorf("gateway %d: alpha's credential at beta: %v, want InvalidAccessKeyId", i+1, err)
		}
	}

	// The admin API lists the reference's rows; a created credential lands in the table.
	code, body := adminCall(t, g2, "GET", "/s3/alpha/credentials", nil)
	if code != 200 || !strings.Contains(body, user.id) || !strings.Contains(body, anon.id) || strings.Contains(body, "secret") {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, body := adminCall(t, g2, "GET", "/s3/beta/credentials", nil); code != 200 || body != "[]" {
		t.Fatalf("beta's list: %d %s", code, body)
	}
	newKey, newSecret := s3Credentials(t, g1, "beta")
	var sealed string
	if err := cp.QueryRow(t.Context(), `select secret_key from tenants_s3_credentials where tenant_id = 'beta' and access_key = $1`, newKey).Scan(&sealed); err != nil {
		t.Fatalf("the created credential is not in the control database: %v", err)
	}
	if plain, err := passphrase.Decrypt(encryptionKey, sealed); err != nil || plain != newSecret {
		t.Fatalf("stored secret opens to %q, %v", plain, err)
	}
	if _, err := s3Client(g2, "beta", newKey, newSecret).HeadObject(t.Context(),
		&s3.HeadObjectInput{Bucket: aws.String("shared"), Key: aws.String("doc.txt")}); err != nil {
		t.Fatalf("created credential on the second gateway: %v", err)
	}

	// Deleted through g1: g2, which has it cached, refuses it shortly after.
	listWith := func(g gateway) error {
		_, err := s3Client(g, "alpha", user.key, user.secret).ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String("shared")})
		return err
	}
	if err := listWith(g2); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code, body := adminCall(t, g1, "DELETE", "/s3/alpha/credentials", map[string]any{"id": user.id}); code != 204 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if err := listWith(g1); err == nil || !strings.Contains(err.Error(), "InvalidAccessKeyId") {
		t.Fatalf("deleted credential on the deleting gateway: %v", err)
	}
	poll(t, "the second gateway to refuse the deleted credential", func() bool {
		err := listWith(g2)
		return err != nil && strings.Contains(err.Error(), "InvalidAccessKeyId")
	})
	t.Logf("credential deleted through gateway 1: refused on gateway 2 %v after the DELETE was sent", time.Since(start))
	var n int
	if err := cp.QueryRow(t.Context(), `select count(*) from tenants_s3_credentials where id = $1`, user.id).Scan(&n); err != nil || n != 0 {
		t.Fatalf("row still there: %d, %v", n, err)
	}

	// A key the reference stored (SQL) verifies alpha's JWTs on both gateways, not beta's.
	hs := []byte("a-reference-jwk-secret-0123456789abcdef")
	jwk, _ := json.Marshal(map[string]string{"kty": "oct", "alg": "HS256", "k": base64.RawURLEncoding.EncodeToString(hs)})
	var jwkID string
	if err := cp.QueryRow(t.Context(), `insert into tenants_jwks (tenant_id, kind, content, active)
		values ('alpha', 'custom', $1, true) returning id`, sealReference(t, string(jwk))).Scan(&jwkID); err != nil {
		t.Fatal(err)
	}
	kid := "custom_" + jwkID
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"role": "service_role", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = kid
	signed, err := tok.SignedString(hs)
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range []gateway{g1, g2} {
		poll(t, fmt.Sprintf("gateway %d to accept the key", i+1), func() bool {
			code, _ := call(t, "GET", g.URL+"/bucket", "alpha", bearer(signed), nil)
			return code == 200
		})
		if code, body := call(t, "GET", g.URL+"/bucket", "beta", bearer(signed), nil); code == 200 {
			t.Errorf("gateway %d: alpha's key accepted for beta: %s", i+1, body)
		}
	}
	// Disabled through g1: refused on g2 shortly after.
	start = time.Now()
	if code, body := adminCall(t, g1, "PUT", "/tenants/alpha/jwks/"+kid, map[string]any{"active": false}); code != 200 || body != `{"result":true}` {
		t.Fatalf("toggle: %d %s", code, body)
	}
	poll(t, "the second gateway to refuse the disabled key", func() bool {
		code, _ := call(t, "GET", g2.URL+"/bucket", "alpha", bearer(signed), nil)
		return code != 200
	})
	t.Logf("key disabled through gateway 1: refused on gateway 2 %v after the PUT was sent", time.Since(start))

	// Keys the admin API adds land in tenants_jwks, sealed with ENCRYPTION_KEY.
	if code, body := adminCall(t, g2, "POST", "/tenants/jwks/generate-all-missing", nil); code != 200 {
		t.Fatalf("generate-all-missing: %d %s", code, body)
	}
	rows, err := cp.Query(t.Context(), `select tenant_id, content from tenants_jwks where kind = 'storage-url-signing-key' and active order by tenant_id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var tn, content string
		if err := rows.Scan(&tn, &content); err != nil {
			t.Fatal(err)
		}
		plain, err := passphrase.Decrypt(encryptionKey, content)
		if err != nil || !strings.Contains(plain, `"HS512"`) {
			t.Errorf("%s's signing key opens to %q, %v", tn, plain, err)
		}
		got = append(got, tn)
	}
	rows.Close()
	if strings.Join(got, ",") != "alpha,beta" {
		t.Fatalf("signing keys for %v, want alpha and beta", got)
	}
}
