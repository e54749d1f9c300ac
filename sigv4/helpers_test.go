package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testAccessKey = "AKIAIOSFODNN7EXAMPLE"
	testSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testRegion    = "us-east-1"
)

var testTime = time.Date(2024, 3, 15, 9, 30, 0, 0, time.UTC)

// testVerifier knows testAccessKey and sees the clock at now.
func testVerifier(now time.Time) *Verifier {
	return &Verifier{
		Region: testRegion,
		Lookup: func(id string) (string, bool) {
			if id == testAccessKey {
				return testSecret, true
			}
			return "", false
		},
		Now: func() time.Time { return now },
	}
}

// sdkSigner signs like the S3 client does: the path is used as sent.
func sdkSigner() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

func sdkCredentials(token string) aws.Credentials {
	return aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret, SessionToken: token}
}

// newHTTPRequest builds a request whose path and query are sent exactly as given.
func newHTTPRequest(t testing.TB, method, rawPath, rawQuery string) *http.Request {
	t.Helper()
	target := "http://127.0.0.1:5000" + rawPath
	if rawQuery != "" {
		target += "?" + rawQuery
	}
	r, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatalf("new request %q: %v", target, err)
	}
	return r
}

// signHeader signs r with an Authorization header and the given payload hash
// (sent as x-amz-content-sha256).
func signHeader(t testing.TB, r *http.Request, payload, region string, at time.Time) {
	t.Helper()
	r.Header.Set("X-Amz-Content-Sha256", payload)
	if err := sdkSigner().SignHTTP(context.Background(), sdkCredentials(""), r, payload, "s3", region, at); err != nil {
		t.Fatalf("sign: %v", err)
	}
}

// presign rewrites r's URL into a presigned one valid for expires.
func presign(t testing.TB, r *http.Request, expires time.Duration, at time.Time) {
	t.Helper()
	q := r.URL.Query()
	q.Set("X-Amz-Expires", strconv.Itoa(int(expires/time.Second)))
	r.URL.RawQuery = q.Encode()
	signed, headers, err := sdkSigner().PresignHTTP(context.Background(), sdkCredentials(""), r, unsignedPayload, "s3", testRegion, at)
	if err != nil {
		t.Fatalf("presign: %v", err)
	}
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatalf("parse presigned url: %v", err)
	}
	r.URL = u
	// The URL's user sends only the signed headers; those the signer hoisted into the query
	// (X-Amz-Security-Token, …) are not headers any more.
	r.Header = headers.Clone()
	r.Header.Del("Host")
}

// toRequest converts a signed net/http request into what the server sees.
func toRequest(r *http.Request) Request {
	h := Header{}
	for name, values := range r.Header {
		for _, v := range values {
			h.Add(name, v)
		}
	}
	if r.ContentLength > 0 && h.Get("content-length") == "" {
		h.Add("content-length", strconv.FormatInt(r.ContentLength, 10))
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	return Request{Method: r.Method, RawPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Host: host, Header: h}
}

func sha256HexBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// wantError fails unless err is the sentinel want (nil meaning success).
func wantError(t testing.TB, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Code == "" {
		t.Fatalf("error %v is not a coded *Error", err)
	}
}

// isTyped reports whether err is nil or an *Error.
func isTyped(err error) bool {
	var e *Error
	return err == nil || errors.As(err, &e)
}

func hexString(b []byte) string { return hex.EncodeToString(b) }

// readAll reads r to the end with reads of at most size bytes, so framing is
// exercised at every split.
func readAll(r io.Reader, size int) ([]byte, error) {
	var out []byte
	buf := make([]byte, size)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}
