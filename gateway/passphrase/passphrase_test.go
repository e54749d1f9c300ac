package passphrase

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// opensslVector was written by `openssl enc -aes-256-cbc -md md5 -pass pass:my-encryption-key
// -a -A` (OpenSSL 3), the format CryptoJS.AES.encrypt and so the reference's encrypt() emit.
const opensslVector = "U2FsdGVkX1+tAQ9Zb5/fFrrt/5ON6wz/87MvEG7qLdE9pJxGHcFlCk6HRHPwtl9iFAcKAjXNEgvJYX1j63wqbg=="

func TestDecryptOpenSSLVector(t *testing.T) {
	t.Parallel()
	got, err := Decrypt("my-encryption-key", opensslVector)
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgres://u:p@db:5432/postgres?sslmode=disable"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, pass, plain string }{
		{"empty", "k", ""},
		{"one block exactly", "k", "0123456789abcdef"},
		{"unicode", "ключ", "sécret ✓"},
		{"empty passphrase", "", "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ct, err := Encrypt(tc.pass, tc.plain)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(ct, "U2FsdGVkX1") { // base64 of "Salted__"
				t.Fatalf("ciphertext %q lacks the OpenSSL salt header", ct)
			}
			got, err := Decrypt(tc.pass, ct)
			if err != nil || got != tc.plain {
				t.Fatalf("Decrypt = %q, %v; want %q", got, err, tc.plain)
			}
		})
	}
}

func TestDecryptRejects(t *testing.T) {
	t.Parallel()
	good, _ := Encrypt("right", "a secret value")
	for _, tc := range []struct{ name, pass, ct string }{
		{"wrong passphrase", "wrong", good},
		{"not base64", "right", "%%%"},
		{"no salt header", "right", "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8="},
		{"truncated", "right", good[:20]},
		{"empty", "right", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Decrypt(tc.pass, tc.ct)
			// A wrong passphrase passes the padding check about once in 256 tries; the
			// text is then garbage, never the plaintext.
			if err == nil && got == "a secret value" {
				t.Fatalf("Decrypt opened %q", tc.ct)
			}
			if err != nil && !errors.Is(err, ErrDecrypt) {
				t.Fatalf("err = %v, want ErrDecrypt", err)
			}
		})
	}
}

// TestOpenSSLReadsOurs checks the other direction with the openssl binary, when present.
func TestOpenSSLReadsOurs(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed; TestDecryptOpenSSLVector covers the format")
	}
	ct, err := Encrypt("pass phrase", "written by stowage")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "enc", "-d", "-aes-256-cbc", "-md", "md5", "-pass", "pass:pass phrase", "-a", "-A")
	cmd.Stdin = strings.NewReader(ct)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	if string(out) != "written by stowage" {
		t.Fatalf("openssl decrypted %q", out)
	}
}

func FuzzDecrypt(f *testing.F) {
	f.Add("k", opensslVector)
	f.Add("k", "U2FsdGVkX18AAAAAAAAAAA==")
	f.Fuzz(func(t *testing.T, pass, ct string) {
		if _, err := Decrypt(pass, ct); err != nil && !errors.Is(err, ErrDecrypt) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
