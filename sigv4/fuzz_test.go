package sigv4

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
)

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/20130524/r/s/aws4_request,SignedHeaders=HOST,Signature=")
	f.Add("AWS4-HMAC-SHA256 ,,,===")
	f.Fuzz(func(t *testing.T, header string) {
		a, err := ParseAuthorization(header)
		if err != nil {
			if !isTyped(err) {
				t.Fatalf("untyped error %T %v", err, err)
			}
			return
		}
		// A signature that is not 64 hex digits parses as nil: it never matches.
		if (a.Signature != nil && len(a.Signature) != 32) || a.AccessKeyID == "" || !slices.IsSorted(a.SignedHeaders) {
			t.Fatalf("accepted %q as %+v", header, a)
		}
		if _, ok := slices.BinarySearch(a.SignedHeaders, "host"); !ok {
			t.Fatalf("accepted %q without host", header)
		}
	})
}

func FuzzParsePresigned(f *testing.F) {
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
	f.Add("X-Amz-Expires=-0&X-Amz-Date=20130524T250000Z&X-Amz-Signature=%zz")
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=604800&X-Amz-Expires=1")
	v := testVerifier(awsExampleTime)
	f.Fuzz(func(t *testing.T, raw string) {
		params, err := parseQuery(raw)
		if err != nil {
			if !isTyped(err) {
				t.Fatalf("untyped parse error %v", err)
			}
			return
		}
		q := url.Values{}
		for _, p := range params {
			q[p.key] = append(q[p.key], p.value)
		}
		a, err := ParsePresigned(q)
		if !isTyped(err) {
			t.Fatalf("untyped error %v", err)
		}
		if err == nil && (a.Expires < 0 || a.Expires > MaxPresignExpires || (a.Signature != nil && len(a.Signature) != 32)) {
			t.Fatalf("accepted %+v", a)
		}
		_, err = v.Verify(Request{Method: "GET", RawPath: "/b/k", RawQuery: raw, Host: "h", Header: Header{}})
		if err == nil || !isTyped(err) {
			t.Fatalf("Verify(%q) = %v", raw, err)
		}
	})
}

func FuzzCanonicalQuery(f *testing.F) {
	for _, s := range requestShapes {
		f.Add(s.query)
	}
	f.Add("a=%e6%97&b=+&=&&c=%2b%2B")
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := CanonicalQuery(raw)
		if err != nil {
			if !isTyped(err) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		again, err := CanonicalQuery(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", raw, got, again, err)
		}
	})
}

// FuzzSDKSigned checks the property that whatever aws-sdk-go-v2 signs verifies.
func FuzzSDKSigned(f *testing.F) {
	f.Add("my file.txt", "prefix", "a/b c")
	f.Add("ключ+100%~=&", "x-id", "")
	f.Add("a//./../b", "a%2Fb", "+")
	v := testVerifier(testTime)
	f.Fuzz(func(t *testing.T, key, name, value string) {
		u := &url.URL{Scheme: "http", Host: "127.0.0.1:5000", Path: "/bucket/" + key, RawQuery: url.Values{name: {value}}.Encode()}
		r := &http.Request{Method: "PUT", URL: u, Host: u.Host, Header: http.Header{}}
		r.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
		if err := sdkSigner().SignHTTP(context.Background(), sdkCredentials(""), r, unsignedPayload, "s3", testRegion, testTime); err != nil {
			t.Skip(err)
		}
		if _, err := v.Verify(toRequest(r)); err != nil {
			t.Fatalf("SDK-signed %q ?%s rejected: %v", u.EscapedPath(), u.RawQuery, err)
		}
		q := u.Query()
		q.Set("X-Amz-Expires", "60")
		u.RawQuery = q.Encode()
		r = &http.Request{Method: "GET", URL: u, Host: u.Host, Header: http.Header{}}
		signed, _, err := sdkSigner().PresignHTTP(context.Background(), sdkCredentials(""), r, unsignedPayload, "s3", testRegion, testTime)
		if err != nil {
			t.Skip(err)
		}
		pu, err := url.Parse(signed)
		if err != nil {
			t.Skip(err)
		}
		r.URL = pu
		if _, err := v.Verify(toRequest(r)); err != nil {
			t.Fatalf("SDK-presigned %s rejected: %v", signed, err)
		}
	})
}

func FuzzChunkedReader(f *testing.F) {
	// Small seeds keep the fuzzer's minimisation of new inputs cheap.
	data := bytes.Repeat([]byte("abc"), 30)
	f.Add(encodeChunked(data, encoding{payload: PayloadStreamingSigned, chunk: 40}), uint8(0), int64(len(data)), "")
	f.Add(encodeChunked(data, encoding{payload: PayloadStreamingSignedTrailer, chunk: 64, trailers: []string{"x-amz-checksum-crc32c"}}), uint8(1), int64(len(data)), "x-amz-checksum-crc32c")
	f.Add(encodeChunked(data, encoding{payload: PayloadStreamingUnsignedTrailer, chunk: 50, trailers: []string{"x-amz-checksum-sha256", "x-amz-checksum-crc64nvme"}}), uint8(2), int64(-1), "x-amz-checksum-sha256,x-amz-checksum-crc64nvme")
	f.Add([]byte("ffffffff\r\n"), uint8(2), int64(-1), "")
	f.Add([]byte("0\r\n\r\nx-amz-checksum-crc32:AAAAAA==\r\n"), uint8(2), int64(0), "x-amz-checksum-crc32")
	modes := []Payload{PayloadStreamingSigned, PayloadStreamingSignedTrailer, PayloadStreamingUnsignedTrailer}
	f.Fuzz(func(t *testing.T, body []byte, mode uint8, decoded int64, trailer string) {
		if decoded < -1 {
			decoded = -1
		}
		opts := encOptions(modes[int(mode)%len(modes)], trailer, decoded)
		opts.MaxChunkSize = 1 << 16
		r, err := NewChunkedReader(bytes.NewReader(body), opts)
		if err != nil {
			if !isTyped(err) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		got, err := readAll(r, 1+int(mode)%700)
		if !isTyped(err) {
			t.Fatalf("untyped error %T %v", err, err)
		}
		if len(got) > len(body) {
			t.Fatalf("decoded %d bytes from %d", len(got), len(body))
		}
		if err == nil && decoded >= 0 && int64(len(got)) != decoded {
			t.Fatalf("decoded %d bytes, declared %d", len(got), decoded)
		}
	})
}
