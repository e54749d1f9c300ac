package sigv4

import (
	"net/url"
	"slices"
	"testing"
	"time"
)

func TestCanonicalQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, want string
		err             error
	}{
		{"empty", "", "", nil},
		{"flag without value", "uploads", "uploads=", nil},
		{"sorted by name then value", "b=2&a=2&a=1", "a=1&a=2&b=2", nil},
		{"sorted after encoding", "a-b=1&a%2Fb=2", "a%2Fb=2&a-b=1", nil},
		{"plus is space", "prefix=a+b", "prefix=a%20b", nil},
		{"encoded plus kept", "prefix=a%2Bb", "prefix=a%2Bb", nil},
		{"slash encoded", "prefix=a/b", "prefix=a%2Fb", nil},
		{"unreserved kept", "k=AZaz09-_.~", "k=AZaz09-_.~", nil},
		{"lower-case escapes upper-cased", "k=%e6%97%a5", "k=%E6%97%A5", nil},
		{"reserved encoded", "k=!'()*", "k=%21%27%28%29%2A", nil},
		{"empty segments skipped", "a=1&&b=", "a=1&b=", nil},
		{"empty name", "=x", "=x", nil},
		{"second equals is data", "a=b=c", "a=b%3Dc", nil},
		{"bad escape", "a=%zz", "", ErrAuthorizationQueryParametersError},
		{"truncated escape", "a=%4", "", ErrAuthorizationQueryParametersError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := CanonicalQuery(tc.raw)
			wantError(t, err, tc.err)
			if got != tc.want {
				t.Fatalf("CanonicalQuery(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestTrimAll(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"plain", "a b", "a b"},
		{"outer", "  a b \t", "a b"},
		{"inner runs", "a   b    c", "a b c"},
		{"empty", "   ", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := trimAll(tc.in); got != tc.want {
				t.Fatalf("trimAll(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	const sig = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
	const cred = "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
	tests := []struct {
		name, header string
		want         Authorization
		err          error
	}{
		{"aws documented", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;range;x-amz-date, Signature=" + sig,
			Authorization{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", Scope: Scope{"20130524", "us-east-1", "s3"}, SignedHeaders: []string{"host", "range", "x-amz-date"}}, nil},
		{"no spaces, other order", "AWS4-HMAC-SHA256 Signature=" + sig + ",SignedHeaders=x-amz-date;Host," + cred,
			Authorization{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", Scope: Scope{"20130524", "us-east-1", "s3"}, SignedHeaders: []string{"host", "x-amz-date"}}, nil},
		{"empty region", "AWS4-HMAC-SHA256 Credential=AK/20130524//s3/aws4_request, SignedHeaders=host, Signature=" + sig,
			Authorization{AccessKeyID: "AK", Scope: Scope{"20130524", "", "s3"}, SignedHeaders: []string{"host"}}, nil},
		{"other scheme", "AWS AK:sig", Authorization{}, ErrAuthorizationHeaderMalformed},
		{"missing signature", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host", Authorization{}, ErrAuthorizationHeaderMalformed},
		{"duplicate component", "AWS4-HMAC-SHA256 " + cred + ", " + cred + ", SignedHeaders=host, Signature=" + sig, Authorization{}, ErrAuthorizationHeaderMalformed},
		{"unknown component", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + sig + ", Foo=bar", Authorization{}, ErrAuthorizationHeaderMalformed},
		{"host not signed", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=x-amz-date, Signature=" + sig, Authorization{}, ErrAuthorizationHeaderMalformed},
		{"duplicate signed header", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;host, Signature=" + sig, Authorization{}, ErrAuthorizationHeaderMalformed},
		{"empty signed header", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;, Signature=" + sig, Authorization{}, ErrAuthorizationHeaderMalformed},
		{"short scope", "AWS4-HMAC-SHA256 Credential=AK/20130524/s3/aws4_request, SignedHeaders=host, Signature=" + sig, Authorization{}, ErrAuthorizationHeaderMalformed},
		{"bad terminator", "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws5_request, SignedHeaders=host, Signature=" + sig, Authorization{}, ErrAuthorizationHeaderMalformed},
		{"bad date", "AWS4-HMAC-SHA256 Credential=AK/2013-05-24/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig, Authorization{}, ErrAuthorizationHeaderMalformed},
		{"empty access key", "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig, Authorization{}, ErrAuthorizationHeaderMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAuthorization(tc.header)
			wantError(t, err, tc.err)
			if err != nil {
				return
			}
			if got.AccessKeyID != tc.want.AccessKeyID || got.Scope != tc.want.Scope || !slices.Equal(got.SignedHeaders, tc.want.SignedHeaders) || hexString(got.Signature) != sig {
				t.Fatalf("ParseAuthorization = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestParseAuthorizationTamperedSignature: a Signature that is not 64 hex digits parses, with
// no signature that could ever match, so that the request is answered SignatureDoesNotMatch
// (403) as S3 answers a tampered signature, not a 400 parse error.
func TestParseAuthorizationTamperedSignature(t *testing.T) {
	t.Parallel()
	const cred = "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
	const sig = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
	for name, value := range map[string]string{"short": "abc", "63 digits": sig[:63], "65 digits": sig + "0",
		"non-hex": sig[:63] + "z", "empty": ""} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAuthorization("AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + value)
			wantError(t, err, nil)
			if got.Signature != nil || got.AccessKeyID != "AKIAIOSFODNN7EXAMPLE" {
				t.Fatalf("ParseAuthorization = %+v", got)
			}
		})
	}
}

func TestParsePresigned(t *testing.T) {
	t.Parallel()
	valid := func() url.Values {
		return url.Values{
			"X-Amz-Algorithm":      {"AWS4-HMAC-SHA256"},
			"X-Amz-Credential":     {"AK/20130524/us-east-1/s3/aws4_request"},
			"X-Amz-Date":           {"20130524T000000Z"},
			"X-Amz-Expires":        {"86400"},
			"X-Amz-SignedHeaders":  {"host"},
			"X-Amz-Signature":      {"aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"},
			"X-Amz-Security-Token": {"tok"},
		}
	}
	tests := []struct {
		name   string
		mutate func(url.Values)
		err    error
	}{
		{"valid", func(url.Values) {}, nil},
		{"zero expiry", func(q url.Values) { q.Set("X-Amz-Expires", "0") }, nil},
		{"one week", func(q url.Values) { q.Set("X-Amz-Expires", "604800") }, nil},
		{"over one week", func(q url.Values) { q.Set("X-Amz-Expires", "604801") }, ErrAuthorizationQueryParametersError},
		{"huge expiry", func(q url.Values) { q.Set("X-Amz-Expires", "99999999999999999999999") }, ErrAuthorizationQueryParametersError},
		{"missing expiry", func(q url.Values) { q.Del("X-Amz-Expires") }, ErrAuthorizationQueryParametersError},
		{"bad date", func(q url.Values) { q.Set("X-Amz-Date", "2013-05-24T00:00:00Z") }, ErrAuthorizationQueryParametersError},
		{"duplicate date", func(q url.Values) { q.Add("X-Amz-Date", "20130524T000000Z") }, ErrAuthorizationQueryParametersError},
		{"wrong algorithm", func(q url.Values) { q.Set("X-Amz-Algorithm", "AWS4-ECDSA-P256-SHA256") }, ErrAuthorizationQueryParametersError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := valid()
			tc.mutate(q)
			got, err := ParsePresigned(q)
			wantError(t, err, tc.err)
			if err == nil && (!got.Presigned || got.SecurityToken != "tok" || !got.Date.Equal(awsExampleTime) || got.Expires > MaxPresignExpires) {
				t.Fatalf("ParsePresigned = %+v", got)
			}
		})
	}
}

// TestAWSSingleChunkExample pins the S3 documentation's GET Object example
// (Range header, signed payload of the empty body).
func TestAWSSingleChunkExample(t *testing.T) {
	t.Parallel()
	h := Header{}
	h.Add("range", "bytes=0-9")
	h.Add("x-amz-content-sha256", emptySHA256)
	h.Add("x-amz-date", "20130524T000000Z")
	h.Add("authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
	req := Request{Method: "GET", RawPath: "/test.txt", Host: "examplebucket.s3.amazonaws.com", Header: h}
	res, err := testVerifier(awsExampleTime.Add(time.Minute)).Verify(req)
	wantError(t, err, nil)
	if res.Payload != PayloadSHA256 {
		t.Fatalf("payload = %v", res.Payload)
	}
}
