package sigv4

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// requestShapes are paths and queries as real clients send them.
var requestShapes = []struct {
	name, method, path, query string
}{
	{"plain get", "GET", "/bucket/key.txt", ""},
	{"root list buckets", "GET", "/", ""},
	{"space in key", "PUT", "/bucket/my%20file.txt", ""},
	{"unicode key", "PUT", "/bucket/%D0%BA%D0%BB%D1%8E%D1%87/%E6%97%A5%E6%9C%AC.txt", ""},
	{"plus in key", "PUT", "/bucket/a+b", ""},
	{"percent in key", "PUT", "/bucket/100%25", ""},
	{"tilde equals ampersand", "PUT", "/bucket/~a=b&c", ""},
	{"reserved characters", "PUT", "/bucket/test%21$&%27%28%29%20%2A+,:;=@ing", ""},
	{"mount prefix and trailing slash", "GET", "/s3/bucket/", ""},
	{"double slash kept", "GET", "/bucket//a/./b/../c", ""},
	{"uploads", "POST", "/bucket/key", "uploads"},
	{"upload part", "PUT", "/bucket/key", "partNumber=1&uploadId=x"},
	{"list v2 encoded prefix", "GET", "/bucket", "list-type=2&prefix=a%2Fb"},
	{"empty values", "GET", "/bucket", "delimiter=&prefix=&list-type=2"},
	{"multiple values", "GET", "/bucket", "a=2&a=1&a=10"},
	{"plus in query is space", "GET", "/bucket", "prefix=a+b"},
	{"encoded plus in query", "GET", "/bucket", "prefix=a%2Bb"},
	{"unicode and reserved query", "GET", "/bucket", "prefix=%E6%97%A5%20%21%27%28%29%2A&x-id=ListObjectsV2"},
	{"sort after encoding", "GET", "/bucket", "a-b=1&a%2Fb=2&a=3"},
	{"tilde in query", "GET", "/bucket", "prefix=~x&marker=a~b"},
}

func TestVerifySDKHeaderSigned(t *testing.T) {
	t.Parallel()
	for _, tc := range requestShapes {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newHTTPRequest(t, tc.method, tc.path, tc.query)
			r.Header.Set("X-Amz-Meta-Note", "  two   spaces  ")
			r.Header.Set("Content-Type", "text/plain")
			signHeader(t, r, unsignedPayload, testRegion, testTime)
			res, err := testVerifier(testTime).Verify(toRequest(r))
			wantError(t, err, nil)
			if res.AccessKeyID != testAccessKey || res.Presigned || res.Payload != PayloadUnsigned || res.Scope.Region != testRegion {
				t.Fatalf("result = %+v", res)
			}
		})
	}
}

func TestVerifySDKPresigned(t *testing.T) {
	t.Parallel()
	for _, tc := range requestShapes {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newHTTPRequest(t, tc.method, tc.path, tc.query)
			presign(t, r, time.Hour, testTime)
			res, err := testVerifier(testTime.Add(59 * time.Minute)).Verify(toRequest(r))
			wantError(t, err, nil)
			if !res.Presigned || res.Payload != PayloadUnsigned {
				t.Fatalf("result = %+v", res)
			}
		})
	}
}

func TestVerifySignedPayloadAndToken(t *testing.T) {
	t.Parallel()
	body := []byte("hello world")
	r := newHTTPRequest(t, "PUT", "/bucket/k", "")
	r.Header.Set("X-Amz-Content-Sha256", sha256HexBytes(body))
	err := sdkSigner().SignHTTP(context.Background(), sdkCredentials("user-jwt"), r, sha256HexBytes(body), "s3", testRegion, testTime)
	if err != nil {
		t.Fatal(err)
	}
	res, err := testVerifier(testTime).Verify(toRequest(r))
	wantError(t, err, nil)
	if res.Payload != PayloadSHA256 || res.ContentSHA256 != sha256HexBytes(body) || res.SessionToken != "user-jwt" {
		t.Fatalf("result = %+v", res)
	}
	got, err := res.Body(strings.NewReader(string(body)), BodyOptions{DecodedLength: -1})
	wantError(t, err, nil)
	if _, err := readAll(got, 3); err != nil {
		t.Fatalf("body: %v", err)
	}
	tampered, _ := res.Body(strings.NewReader("hello worle"), BodyOptions{DecodedLength: -1})
	_, err = readAll(tampered, 3)
	wantError(t, err, ErrXAmzContentSHA256Mismatch)
}

func TestVerifyRegion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		region    string
		enforce   bool
		presigned bool
		want      error
		code, msg string
	}{
		{"configured region", testRegion, false, false, nil, "", ""},
		{"other region accepted without enforcement", "eu-west-3", false, false, nil, "", ""},
		{"auto region", "auto", false, false, nil, "", ""},
		{"presigned other region accepted without enforcement", "eu-west-3", false, true, nil, "", ""},
		{"other region rejected with enforcement", "eu-west-3", true, false, ErrWrongRegion, "AuthorizationHeaderMalformed",
			"The authorization header is malformed; the region 'eu-west-3' is wrong; expecting 'us-east-1'"},
		{"presigned other region rejected with enforcement", "eu-west-3", true, true, ErrWrongRegion, "AuthorizationQueryParametersError",
			"Error parsing the X-Amz-Credential parameter; the region 'eu-west-3' is wrong; expecting 'us-east-1'"},
		{"configured region with enforcement", testRegion, true, false, nil, "", ""},
		{"presigned configured region with enforcement", testRegion, true, true, nil, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newHTTPRequest(t, "GET", "/bucket/k", "")
			if tc.presigned {
				q := r.URL.Query()
				q.Set("X-Amz-Expires", "60")
				r.URL.RawQuery = q.Encode()
				signed, headers, err := sdkSigner().PresignHTTP(context.Background(), sdkCredentials(""), r, unsignedPayload, "s3", tc.region, testTime)
				if err != nil {
					t.Fatal(err)
				}
				r = newHTTPRequest(t, "GET", "/bucket/k", signed[strings.IndexByte(signed, '?')+1:])
				r.Header = headers
			} else {
				signHeader(t, r, unsignedPayload, tc.region, testTime)
			}
			v := testVerifier(testTime)
			v.EnforceRegion = tc.enforce
			res, err := v.Verify(toRequest(r))
			wantError(t, err, tc.want)
			if err == nil && res.Scope.Region != tc.region {
				t.Fatalf("scope region = %q", res.Scope.Region)
			}
			var e *Error
			if errors.As(err, &e) && (e.Code != tc.code || e.Message != tc.msg || e.Region != testRegion) {
				t.Fatalf("error = %q %q region %q", e.Code, e.Message, e.Region)
			}
		})
	}
}

// TestVerifyUnsignedHeaders: an x-amz-* header that the signature does not cover is refused
// (403 AccessDenied, listed in HeadersNotSigned as S3 lists them) before anything acts on it.
func TestVerifyUnsignedHeaders(t *testing.T) {
	t.Parallel()
	t.Run("header signed", func(t *testing.T) {
		t.Parallel()
		r := newHTTPRequest(t, "PUT", "/bucket/k", "")
		r.Header.Set("X-Amz-Meta-Color", "blue")
		signHeader(t, r, unsignedPayload, testRegion, testTime)
		// A captured request replayed with more headers: metadata, tagging, a copy source.
		r.Header.Set("X-Amz-Tagging", "a=b")
		r.Header.Set("X-Amz-Copy-Source", "/priv/x.txt")
		r.Header.Set("X-Amz-Meta-Foo", "bar")
		_, err := testVerifier(testTime).Verify(toRequest(r))
		wantError(t, err, ErrUnsignedHeaders)
		var e *Error
		if !errors.As(err, &e) || e.Code != "AccessDenied" || e.HeadersNotSigned != "x-amz-copy-source, x-amz-meta-foo, x-amz-tagging" {
			t.Fatalf("error = %+v", e)
		}
	})
	t.Run("header signed without its payload header signed", func(t *testing.T) {
		t.Parallel()
		r := newHTTPRequest(t, "PUT", "/bucket/k", "")
		signHeader(t, r, unsignedPayload, testRegion, testTime)
		req := toRequest(r)
		a := req.Header.Get("authorization")
		// The same request whose SignedHeaders leave x-amz-content-sha256 out.
		req.Header["authorization"] = []string{strings.Replace(a, ";x-amz-content-sha256", "", 1)}
		_, err := testVerifier(testTime).Verify(req)
		wantError(t, err, ErrUnsignedHeaders)
	})
	t.Run("presigned put with a copy source", func(t *testing.T) {
		t.Parallel()
		r := newHTTPRequest(t, "PUT", "/bucket/k", "")
		presign(t, r, time.Hour, testTime)
		r.Header.Set("X-Amz-Copy-Source", "/priv/x.txt")
		_, err := testVerifier(testTime).Verify(toRequest(r))
		wantError(t, err, ErrUnsignedHeaders)
	})
	t.Run("presigned with signed x-amz headers", func(t *testing.T) {
		t.Parallel()
		r := newHTTPRequest(t, "PUT", "/bucket/k", "")
		// The SDK keeps x-amz-meta-* and x-amz-tagging as signed headers when presigning.
		r.Header.Set("X-Amz-Meta-Color", "blue")
		r.Header.Set("X-Amz-Tagging", "a=b")
		presign(t, r, time.Hour, testTime)
		if r.Header.Get("X-Amz-Meta-Color") != "blue" {
			t.Fatalf("the signer did not keep the metadata header: %v", r.Header)
		}
		_, err := testVerifier(testTime).Verify(toRequest(r))
		wantError(t, err, nil)
	})
}

// TestVerifyMutations signs one request and changes one thing at a time.
func TestVerifyMutations(t *testing.T) {
	t.Parallel()
	sign := func(t *testing.T) Request {
		r := newHTTPRequest(t, "PUT", "/bucket/a%20b", "partNumber=1&uploadId=x")
		r.Header.Set("X-Amz-Meta-Color", "blue")
		signHeader(t, r, unsignedPayload, testRegion, testTime)
		return toRequest(r)
	}
	tests := []struct {
		name   string
		mutate func(r *Request, v *Verifier)
		want   error
	}{
		{"unchanged", func(*Request, *Verifier) {}, nil},
		{"method", func(r *Request, _ *Verifier) { r.Method = "POST" }, ErrSignatureDoesNotMatch},
		{"path", func(r *Request, _ *Verifier) { r.RawPath = "/bucket/a%20c" }, ErrSignatureDoesNotMatch},
		{"path decoded form", func(r *Request, _ *Verifier) { r.RawPath = "/bucket/a b" }, ErrSignatureDoesNotMatch},
		{"query value", func(r *Request, _ *Verifier) { r.RawQuery = "partNumber=2&uploadId=x" }, ErrSignatureDoesNotMatch},
		{"query added", func(r *Request, _ *Verifier) { r.RawQuery += "&acl" }, ErrSignatureDoesNotMatch},
		{"query reordered", func(r *Request, _ *Verifier) { r.RawQuery = "uploadId=x&partNumber=1" }, nil},
		{"signed header", func(r *Request, _ *Verifier) { r.Header["x-amz-meta-color"] = []string{"red"} }, ErrSignatureDoesNotMatch},
		{"signed header extra spaces", func(r *Request, _ *Verifier) { r.Header["x-amz-meta-color"] = []string{"  blue "} }, nil},
		{"signed header removed", func(r *Request, _ *Verifier) { delete(r.Header, "x-amz-meta-color") }, ErrSignatureDoesNotMatch},
		{"unsigned x-amz header added", func(r *Request, _ *Verifier) { r.Header.Add("x-amz-meta-other", "1") }, ErrUnsignedHeaders},
		{"unsigned other header added", func(r *Request, _ *Verifier) { r.Header.Add("content-disposition", "inline") }, nil},
		{"signature 63 digits", func(r *Request, _ *Verifier) {
			a := r.Header.Get("authorization")
			r.Header["authorization"] = []string{a[:len(a)-1]}
		}, ErrSignatureDoesNotMatch},
		{"signature 65 digits", func(r *Request, _ *Verifier) {
			r.Header["authorization"] = []string{r.Header.Get("authorization") + "0"}
		}, ErrSignatureDoesNotMatch},
		{"signature not hex", func(r *Request, _ *Verifier) {
			a := r.Header.Get("authorization")
			r.Header["authorization"] = []string{a[:len(a)-1] + "g"}
		}, ErrSignatureDoesNotMatch},
		{"signature empty", func(r *Request, _ *Verifier) {
			a := r.Header.Get("authorization")
			r.Header["authorization"] = []string{a[:strings.LastIndex(a, "=")+1]}
		}, ErrSignatureDoesNotMatch},
		{"host", func(r *Request, _ *Verifier) { r.Host = "127.0.0.1:5001" }, ErrSignatureDoesNotMatch},
		{"payload hash", func(r *Request, _ *Verifier) {
			r.Header["x-amz-content-sha256"] = []string{streamingSignedPayload}
		}, ErrSignatureDoesNotMatch},
		{"date same day", func(r *Request, _ *Verifier) {
			r.Header["x-amz-date"] = []string{testTime.Add(time.Second).Format(timeFormat)}
		}, ErrSignatureDoesNotMatch},
		{"date other day", func(r *Request, _ *Verifier) {
			r.Header["x-amz-date"] = []string{testTime.Add(-24 * time.Hour).Format(timeFormat)}
		}, ErrAuthorizationHeaderMalformed},
		{"date garbage", func(r *Request, _ *Verifier) { r.Header["x-amz-date"] = []string{"yesterday"} }, ErrAccessDenied},
		{"date missing", func(r *Request, _ *Verifier) { delete(r.Header, "x-amz-date") }, ErrMissingSecurityHeader},
		{"clock ahead", func(_ *Request, v *Verifier) { v.Now = func() time.Time { return testTime.Add(16 * time.Minute) } }, ErrRequestTimeTooSkewed},
		{"clock behind", func(_ *Request, v *Verifier) { v.Now = func() time.Time { return testTime.Add(-16 * time.Minute) } }, ErrRequestTimeTooSkewed},
		{"clock within skew", func(_ *Request, v *Verifier) { v.Now = func() time.Time { return testTime.Add(14 * time.Minute) } }, nil},
		{"secret", func(_ *Request, v *Verifier) {
			v.Lookup = func(string) (string, bool) { return "another-secret", true }
		}, ErrSignatureDoesNotMatch},
		{"unknown access key", func(_ *Request, v *Verifier) {
			v.Lookup = func(string) (string, bool) { return "", false }
		}, ErrInvalidAccessKeyID},
		{"service", func(_ *Request, v *Verifier) { v.Service = "execute-api" }, ErrAccessDenied},
		{"signature", func(r *Request, _ *Verifier) {
			a := r.Header.Get("authorization")
			r.Header["authorization"] = []string{a[:len(a)-1] + flipHex(a[len(a)-1])}
		}, ErrSignatureDoesNotMatch},
		{"authorization replaced by a sigv2 one", func(r *Request, _ *Verifier) {
			r.Header["authorization"] = []string{"AWS " + testAccessKey + ":c2lnbmF0dXJl"}
		}, ErrSignatureDoesNotMatch},
		{"authorization garbage", func(r *Request, _ *Verifier) {
			r.Header["authorization"] = []string{"AWS4-HMAC-SHA256 Credential=x"}
		}, ErrAuthorizationHeaderMalformed},
		{"content sha256 garbage", func(r *Request, v *Verifier) {
			// Signed consistently, but not a valid payload mode.
			r.Header["x-amz-content-sha256"] = []string{"not-a-hash"}
		}, ErrSignatureDoesNotMatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := sign(t)
			v := testVerifier(testTime)
			tc.mutate(&req, v)
			_, err := v.Verify(req)
			wantError(t, err, tc.want)
		})
	}
}

func TestVerifyPresignedMutations(t *testing.T) {
	t.Parallel()
	sign := func(t *testing.T) *http.Request {
		r := newHTTPRequest(t, "GET", "/bucket/a+b", "response-content-type=text%2Fplain")
		r.Header.Set("X-Amz-Security-Token", "tok")
		presign(t, r, 10*time.Minute, testTime)
		return r
	}
	replace := func(r *Request, old, new string) { r.RawQuery = strings.Replace(r.RawQuery, old, new, 1) }
	tests := []struct {
		name   string
		now    time.Time
		mutate func(r *Request)
		want   error
	}{
		{"valid at start", testTime, func(*Request) {}, nil},
		{"valid at expiry", testTime.Add(10 * time.Minute), func(*Request) {}, nil},
		{"expired", testTime.Add(10*time.Minute + time.Second), func(*Request) {}, ErrExpiredPresigned},
		{"not yet valid", testTime.Add(-16 * time.Minute), func(*Request) {}, ErrAccessDenied},
		{"slightly early is fine", testTime.Add(-time.Minute), func(*Request) {}, nil},
		{"expires extended", testTime, func(r *Request) { replace(r, "X-Amz-Expires=600", "X-Amz-Expires=6000") }, ErrSignatureDoesNotMatch},
		{"expires too long", testTime, func(r *Request) { replace(r, "X-Amz-Expires=600", "X-Amz-Expires=604801") }, ErrAuthorizationQueryParametersError},
		{"expires negative", testTime, func(r *Request) { replace(r, "X-Amz-Expires=600", "X-Amz-Expires=-1") }, ErrAuthorizationQueryParametersError},
		{"expires not a number", testTime, func(r *Request) { replace(r, "X-Amz-Expires=600", "X-Amz-Expires=ten") }, ErrAuthorizationQueryParametersError},
		{"query value", testTime, func(r *Request) { replace(r, "text%2Fplain", "text%2Fhtml") }, ErrSignatureDoesNotMatch},
		{"path", testTime, func(r *Request) { r.RawPath = "/bucket/a%20b" }, ErrSignatureDoesNotMatch},
		{"method", testTime, func(r *Request) { r.Method = "PUT" }, ErrSignatureDoesNotMatch},
		{"algorithm", testTime, func(r *Request) { replace(r, "X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1") }, ErrAuthorizationQueryParametersError},
		{"duplicate signature", testTime, func(r *Request) { r.RawQuery += "&X-Amz-Signature=00" }, ErrAuthorizationQueryParametersError},
		{"missing credential", testTime, func(r *Request) { replace(r, "X-Amz-Credential=", "X-Amz-Kredential=") }, ErrAuthorizationQueryParametersError},
		{"host", testTime, func(r *Request) { r.Host = "evil.example" }, ErrSignatureDoesNotMatch},
		{"signature 63 digits", testTime, func(r *Request) { r.RawQuery = r.RawQuery[:len(r.RawQuery)-1] }, ErrSignatureDoesNotMatch},
		{"signature 65 digits", testTime, func(r *Request) { r.RawQuery += "0" }, ErrSignatureDoesNotMatch},
		{"signature not hex", testTime, func(r *Request) { r.RawQuery = r.RawQuery[:len(r.RawQuery)-1] + "x" }, ErrSignatureDoesNotMatch},
		// Unsigned x-amz-* headers would steer the request (x-amz-copy-source turns a
		// presigned PUT into a copy): refused, as S3 does.
		{"unsigned copy source", testTime, func(r *Request) { r.Header.Add("x-amz-copy-source", "/priv/x.txt") }, ErrUnsignedHeaders},
		{"unsigned metadata", testTime, func(r *Request) { r.Header.Add("x-amz-meta-a", "1") }, ErrUnsignedHeaders},
		{"unsigned security token header", testTime, func(r *Request) { r.Header.Add("x-amz-security-token", "other") }, ErrUnsignedHeaders},
		{"unsigned x-amz-date header", testTime, func(r *Request) { r.Header.Add("x-amz-date", testTime.Format(timeFormat)) }, ErrUnsignedHeaders},
		// x-amz-content-sha256 is the payload line even unsigned: the value the URL was
		// signed with passes, another one fails the signature (as at S3).
		{"unsigned payload header as signed", testTime, func(r *Request) { r.Header.Add("x-amz-content-sha256", unsignedPayload) }, nil},
		{"unsigned payload header changed", testTime, func(r *Request) { r.Header.Add("x-amz-content-sha256", emptySHA256) }, ErrSignatureDoesNotMatch},
		{"unsigned streaming payload header", testTime, func(r *Request) {
			r.Header.Add("x-amz-content-sha256", streamingUnsignedPayloadTrailer)
		}, ErrSignatureDoesNotMatch},
		{"unsigned standard headers", testTime, func(r *Request) {
			r.Header.Add("content-type", "text/plain")
			r.Header.Add("range", "bytes=0-1")
			r.Header.Add("x-amzn-trace-id", "Root=1")
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := toRequest(sign(t))
			tc.mutate(&req)
			res, err := testVerifier(tc.now).Verify(req)
			wantError(t, err, tc.want)
			if err == nil && res.SessionToken != "tok" {
				t.Fatalf("session token = %q", res.SessionToken)
			}
		})
	}
}

func TestVerifyMissingAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  Request
		want error
	}{
		{"nothing", Request{Method: "GET", RawPath: "/", Header: Header{}}, ErrMissingAuth},
		{"sigv2 query, expired", Request{Method: "GET", RawPath: "/b/k", RawQuery: "AWSAccessKeyId=x&Signature=y&Expires=1", Header: Header{}}, ErrRequestExpired},
		{"bad query escape", Request{Method: "GET", RawPath: "/b/k", RawQuery: "a=%zz", Header: Header{}}, ErrAuthorizationQueryParametersError},
		{"partial presign", Request{Method: "GET", RawPath: "/b/k", RawQuery: "X-Amz-Signature=abc", Header: Header{}}, ErrAuthorizationQueryParametersError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := testVerifier(testTime).Verify(tc.req)
			wantError(t, err, tc.want)
		})
	}
}

// TestVerifyDateHeader covers clients that sign Date instead of x-amz-date.
func TestVerifyDateHeader(t *testing.T) {
	t.Parallel()
	req := Request{Method: "GET", RawPath: "/bucket/k", Host: "h", Header: Header{}}
	req.Header.Add("date", testTime.Format(time.RFC1123))
	req.Header.Add("x-amz-content-sha256", unsignedPayload)
	scope := Scope{Date: "20240315", Region: testRegion, Service: "s3"}
	signed := []string{"date", "host", "x-amz-content-sha256"}
	headers, _ := canonicalHeaders(req, signed)
	canonical := canonicalRequest("GET", "/bucket/k", "", headers, signed, unsignedPayload)
	sig := hmacSHA256(DeriveSigningKey(testSecret, scope), stringToSign(testTime.Format(timeFormat), scope, canonical))
	req.Header.Add("authorization", "AWS4-HMAC-SHA256 Credential="+testAccessKey+"/"+scope.String()+", SignedHeaders=date;host;x-amz-content-sha256, Signature="+hexString(sig))
	_, err := testVerifier(testTime).Verify(req)
	wantError(t, err, nil)
}

func flipHex(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

func TestVerifyPayloadModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		want    Payload
		err     error
	}{
		{"unsigned", unsignedPayload, PayloadUnsigned, nil},
		{"hex", emptySHA256, PayloadSHA256, nil},
		{"streaming signed", streamingSignedPayload, PayloadStreamingSigned, nil},
		{"streaming signed trailer", streamingSignedPayloadTrailer, PayloadStreamingSignedTrailer, nil},
		{"streaming unsigned trailer", streamingUnsignedPayloadTrailer, PayloadStreamingUnsignedTrailer, nil},
		{"sigv4a streaming", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", 0, ErrInvalidContentSHA256},
		{"events", "STREAMING-AWS4-HMAC-SHA256-EVENTS", 0, ErrInvalidContentSHA256},
		{"garbage", "not-a-hash", 0, ErrInvalidContentSHA256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newHTTPRequest(t, "PUT", "/bucket/k", "")
			signHeader(t, r, tc.payload, testRegion, testTime)
			res, err := testVerifier(testTime).Verify(toRequest(r))
			wantError(t, err, tc.err)
			if res.Payload != tc.want {
				t.Fatalf("payload = %v, want %v", res.Payload, tc.want)
			}
		})
	}
}
