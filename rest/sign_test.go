package rest

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSignedURLs(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bucket("s", nil)
	f.put("s", "dir/hello.txt", "hello")
	user := f.user("0b7c56d1-3b0e-4d8a-9f57-1f3a5d2e0c44")

	r := f.must(f.do("POST", "/object/sign/s/dir/hello.txt", f.service, map[string]any{"expiresIn": "60"}), 200).json(t)
	signed, _ := r["signedURL"].(string)
	if !strings.HasPrefix(signed, "/object/sign/s/dir/hello.txt?token=") {
		t.Fatalf("signedURL %q", signed)
	}
	token := strings.TrimPrefix(signed, "/object/sign/s/dir/hello.txt?token=")
	now := time.Now()
	sign := func(claims map[string]any) string {
		tok, err := f.v.SignURL(claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	expired := sign(map[string]any{"url": "s/dir/hello.txt", "scope": "download", "iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-time.Minute).Unix()})
	other := sign(map[string]any{"url": "s/other.txt", "scope": "download", "exp": now.Add(time.Minute).Unix()})
	uploadTok := sign(map[string]any{"url": "s/dir/hello.txt", "scope": "upload", "upsert": false, "exp": now.Add(time.Minute).Unix()})
	legacy := sign(map[string]any{"url": "s/dir/hello.txt", "exp": now.Add(time.Minute).Unix()})
	tampered := token[:len(token)-3] + flip(token[len(token)-3:])

	t.Run("download", func(t *testing.T) {
		f.t = t
		r := f.must(f.do("GET", "/storage/v1"+signed+"&download=x.txt", "", nil), 200)
		if string(r.body) != "hello" || r.header.Get("Expires") == "" || r.header.Get("Cache-Control") != "" ||
			r.header.Get("Content-Disposition") != "attachment; filename=x.txt; filename*=UTF-8''x.txt" {
			t.Fatalf("%q %v", r.body, r.header)
		}
		f.must(f.do("GET", "/object/sign/s/dir/hello.txt?token="+legacy, "", nil), 200)
	})
	for _, tc := range []struct {
		name, path string
		want       envelope
	}{
		{"tampered", "/object/sign/s/dir/hello.txt?token=" + tampered, envelope{400, "400", "InvalidJWT", "signature verification failed"}},
		{"expired", "/object/sign/s/dir/hello.txt?token=" + expired, envelope{400, "400", "InvalidJWT", `"exp" claim timestamp check failed`}},
		{"path mismatch", "/object/sign/s/dir/hello.txt?token=" + other, envelope{400, "400", "InvalidSignature", "Invalid signature"}},
		{"upload token used to download", "/object/sign/s/dir/hello.txt?token=" + uploadTok, envelope{400, "400", "InvalidSignature", "Token is not scoped for download"}},
		{"user jwt is not a url token", "/object/sign/s/dir/hello.txt?token=" + user, envelope{400, "400", "InvalidSignature", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			f.checkError(f.do("GET", tc.path, "", nil), tc.want)
		})
	}
	t.Run("sign many", func(t *testing.T) {
		f.t = t
		var out []map[string]any
		mustJSON(t, f.must(f.do("POST", "/object/sign/s", f.service, map[string]any{"expiresIn": 60, "paths": []string{"missing.txt", "dir/hello.txt"}}), 200).body, &out)
		if len(out) != 2 || out[0]["path"] != "missing.txt" || out[0]["signedURL"] != nil || out[0]["error"] == nil ||
			out[1]["error"] != nil || !strings.HasPrefix(fmt.Sprint(out[1]["signedURL"]), "/object/sign/s/dir/hello.txt?token=") {
			t.Fatalf("%v", out)
		}
		f.must(f.do("GET", out[1]["signedURL"].(string), "", nil), 200)
	})
	t.Run("signed upload", func(t *testing.T) {
		f.t = t
		f.sql(`create policy s_all on storage.objects for all to authenticated using (bucket_id = 's') with check (bucket_id = 's')`)
		r := f.must(f.do("POST", "/object/upload/sign/s/up/new.txt", user, map[string]any{}), 200).json(t)
		tok := r["token"].(string)
		if r["url"] != "/object/upload/sign/s/up/new.txt?token="+tok {
			t.Fatalf("%v", r)
		}
		put := f.must(f.do("PUT", "/object/upload/sign/s/up/new.txt?token="+url.QueryEscape(tok), "", "data", "Content-Type", "text/plain"), 200).json(t)
		if put["Key"] != "s/up/new.txt" {
			t.Fatalf("%v", put)
		}
		var owner string
		if err := f.pool.QueryRow(context.Background(), `select owner_id from storage.objects where name = 'up/new.txt'`).Scan(&owner); err != nil || owner != "0b7c56d1-3b0e-4d8a-9f57-1f3a5d2e0c44" {
			t.Fatalf("owner %q %v", owner, err)
		}
		f.checkError(f.do("PUT", "/object/upload/sign/s/up/new.txt?token="+tok, "", "again", "x-upsert", "true"), envelope{400, "409", "KeyAlreadyExists", ""})
		f.checkError(f.do("POST", "/object/upload/sign/s/up/new.txt", user, map[string]any{}), envelope{400, "409", "KeyAlreadyExists", ""})
		up := f.must(f.do("POST", "/object/upload/sign/s/up/new.txt", user, map[string]any{}, "x-upsert", "true"), 200).json(t)["token"].(string)
		f.must(f.do("PUT", "/object/upload/sign/s/up/new.txt?token="+up, "", "v2"), 200)
		f.must(f.do("PUT", "/object/upload/sign/s/up/new.txt?token="+up, "", "v3"), 200)
		if got := f.must(f.do("GET", "/object/s/up/new.txt", f.service, nil), 200).body; string(got) != "v3" {
			t.Fatalf("got %q", got)
		}
		f.checkError(f.do("PUT", "/object/upload/sign/s/up/other.txt?token="+up, "", "x"), envelope{400, "400", "InvalidSignature", "Invalid signature"})
		f.checkError(f.do("PUT", "/object/upload/sign/s/dir/hello.txt?token="+token, "", "x"), envelope{400, "400", "InvalidSignature", "Token is not scoped for upload"})
	})
}

// flip changes the characters of a token's tail so its signature no longer matches.
func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}
