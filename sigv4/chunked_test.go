package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// AWS's published examples (S3 API reference, "Signature Calculations for the
// Authorization Header: Transferring Payload in Multiple Chunks" and
// "… for trailing headers"): 66560 bytes of 'a' in a 64 KiB and a 1 KiB chunk.
const (
	awsExampleSeed        = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	awsExampleChunk1      = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
	awsExampleChunk2      = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
	awsExampleFinal       = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
	awsTrailerSeed        = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
	awsTrailerChunk1      = "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2"
	awsTrailerChunk2      = "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7"
	awsTrailerFinal       = "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"
	awsTrailerSignature   = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
	awsTrailerCRC32C      = "sOO8/Q=="
	awsExampleTimestamp   = "20130524T000000Z"
	awsExampleScope       = "20130524/us-east-1/s3/aws4_request"
	awsExampleDecodedSize = 66560
)

var awsExampleTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

// awsExampleRequest is the published streaming PUT, with its Authorization.
func awsExampleRequest(payload, seed string, signed string, extra map[string]string) Request {
	h := Header{}
	for name, value := range map[string]string{
		"x-amz-date":                   awsExampleTimestamp,
		"x-amz-storage-class":          "REDUCED_REDUNDANCY",
		"x-amz-content-sha256":         payload,
		"content-encoding":             "aws-chunked",
		"x-amz-decoded-content-length": "66560",
		"content-length":               "66824",
	} {
		h.Add(name, value)
	}
	for name, value := range extra {
		h.Add(name, value)
	}
	h.Add("authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"+awsExampleScope+
		",SignedHeaders="+signed+",Signature="+seed)
	return Request{Method: "PUT", RawPath: "/examplebucket/chunkObject.txt", Host: "s3.amazonaws.com", Header: h}
}

func awsExampleBody(final, trailer string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "10000;chunk-signature=%s\r\n%s\r\n", awsExampleChunk1, strings.Repeat("a", 65536))
	fmt.Fprintf(&b, "400;chunk-signature=%s\r\n%s\r\n", awsExampleChunk2, strings.Repeat("a", 1024))
	fmt.Fprintf(&b, "0;chunk-signature=%s\r\n%s", final, trailer)
	return b.String()
}

func TestAWSStreamingExample(t *testing.T) {
	t.Parallel()
	const signed = "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class"
	req := awsExampleRequest(streamingSignedPayload, awsExampleSeed, signed, nil)
	res, err := testVerifier(awsExampleTime.Add(time.Minute)).Verify(req)
	wantError(t, err, nil)
	if res.Signature != awsExampleSeed || res.Payload != PayloadStreamingSigned || res.Timestamp() != awsExampleTimestamp {
		t.Fatalf("result = %+v", res)
	}
	want := strings.Repeat("a", awsExampleDecodedSize)
	for _, size := range []int{1, 7, 4096, 65537, 70000} {
		t.Run(fmt.Sprintf("read size %d", size), func(t *testing.T) {
			t.Parallel()
			body, err := res.Body(strings.NewReader(awsExampleBody(awsExampleFinal, "\r\n")), BodyOptions{DecodedLength: awsExampleDecodedSize})
			wantError(t, err, nil)
			got, err := readAll(body, size)
			wantError(t, err, nil)
			if string(got) != want {
				t.Fatalf("decoded %d bytes, want %d", len(got), len(want))
			}
		})
	}
	t.Run("tampered data", func(t *testing.T) {
		t.Parallel()
		wire := []byte(awsExampleBody(awsExampleFinal, "\r\n"))
		wire[66000] = 'b'
		body, _ := res.Body(bytes.NewReader(wire), BodyOptions{DecodedLength: awsExampleDecodedSize})
		_, err := readAll(body, 4096)
		wantError(t, err, ErrSignatureDoesNotMatch)
	})
	t.Run("seed from another request", func(t *testing.T) {
		t.Parallel()
		opts := res.ChunkedOptions(BodyOptions{DecodedLength: -1})
		opts.SeedSignature = awsTrailerSeed
		body, _ := NewChunkedReader(strings.NewReader(awsExampleBody(awsExampleFinal, "\r\n")), opts)
		_, err := readAll(body, 4096)
		wantError(t, err, ErrSignatureDoesNotMatch)
	})
}

func TestAWSStreamingTrailerExample(t *testing.T) {
	t.Parallel()
	const signed = "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer"
	req := awsExampleRequest(streamingSignedPayloadTrailer, awsTrailerSeed, signed, map[string]string{"x-amz-trailer": "x-amz-checksum-crc32c"})
	res, err := testVerifier(awsExampleTime).Verify(req)
	wantError(t, err, nil)
	if res.Signature != awsTrailerSeed || res.Payload != PayloadStreamingSignedTrailer {
		t.Fatalf("result = %+v", res)
	}
	body := func(trailerSection string) string {
		b := awsExampleBody(awsTrailerFinal, trailerSection)
		b = strings.Replace(b, awsExampleChunk1, awsTrailerChunk1, 1)
		return strings.Replace(b, awsExampleChunk2, awsTrailerChunk2, 1)
	}
	lines := "x-amz-checksum-crc32c:" + awsTrailerCRC32C + "\r\nx-amz-trailer-signature:" + awsTrailerSignature + "\r\n"
	tests := []struct {
		name    string
		trailer string
		want    error
	}{
		{"sdk layout", lines + "\r\n", nil},
		{"published layout", "\r\n" + lines, nil},
		{"published layout with blank end", "\r\n" + lines + "\r\n", nil},
		{"checksum changed", strings.Replace(lines, awsTrailerCRC32C, "AAAAAA==", 1) + "\r\n", ErrSignatureDoesNotMatch},
		{"trailer signature changed", strings.Replace(lines, "d81f", "d82f", 1) + "\r\n", ErrSignatureDoesNotMatch},
		{"trailer signature missing", "x-amz-checksum-crc32c:" + awsTrailerCRC32C + "\r\n\r\n", ErrMissingChunkSignature},
		{"trailer missing", "x-amz-trailer-signature:" + awsTrailerSignature + "\r\n\r\n", ErrMalformedChunk},
		{"no trailer section", "\r\n", ErrMalformedChunk},
		{"data after trailers", lines + "\r\nmore", ErrMalformedChunk},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := res.Body(strings.NewReader(body(tc.trailer)), BodyOptions{DecodedLength: awsExampleDecodedSize, Trailer: "x-amz-checksum-crc32c"})
			wantError(t, err, nil)
			got, err := readAll(r, 1000)
			wantError(t, err, tc.want)
			if err != nil {
				return
			}
			trailers := r.(*ChunkedReader).Trailers()
			if len(got) != awsExampleDecodedSize || len(trailers) != 1 || trailers[0] != (Trailer{"x-amz-checksum-crc32c", awsTrailerCRC32C}) {
				t.Fatalf("decoded %d bytes, trailers %v", len(got), trailers)
			}
		})
	}
}

// encoding describes how the test encoder frames a body.
type encoding struct {
	payload  Payload
	chunk    int
	trailers []string // trailer names; checksum values are computed
	corrupt  func(name, value string) string
}

var (
	encKey   = DeriveSigningKey(testSecret, Scope{Date: "20130524", Region: "us-east-1", Service: "s3"})
	encSeed  = strings.Repeat("ab", 32)
	encScope = awsExampleScope
)

func encMAC(s string) string {
	m := hmac.New(sha256.New, encKey)
	io.WriteString(m, s)
	return hex.EncodeToString(m.Sum(nil))
}

func encHash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// encodeChunked frames data as aws-chunked, independently of the decoder.
func encodeChunked(data []byte, e encoding) []byte {
	signed := e.payload != PayloadStreamingUnsignedTrailer
	var b bytes.Buffer
	prev := encSeed
	for off := 0; ; {
		end := min(off+e.chunk, len(data))
		chunk := data[off:end]
		if signed {
			prev = encMAC("AWS4-HMAC-SHA256-PAYLOAD\n" + awsExampleTimestamp + "\n" + encScope + "\n" + prev + "\n" + encHash(nil) + "\n" + encHash(chunk))
			fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(chunk), prev)
		} else {
			fmt.Fprintf(&b, "%x\r\n", len(chunk))
		}
		if len(chunk) == 0 {
			break
		}
		b.Write(chunk)
		b.WriteString("\r\n")
		off = end
	}
	if e.payload == PayloadStreamingSigned {
		b.WriteString("\r\n")
		return b.Bytes()
	}
	var canonical strings.Builder
	for _, name := range e.trailers {
		value := checksumOf(name, data)
		if e.corrupt != nil {
			value = e.corrupt(name, value)
		}
		fmt.Fprintf(&b, "%s:%s\r\n", name, value)
		canonical.WriteString(name + ":" + value + "\n")
	}
	if signed {
		sig := encMAC("AWS4-HMAC-SHA256-TRAILER\n" + awsExampleTimestamp + "\n" + encScope + "\n" + prev + "\n" + encHash([]byte(canonical.String())))
		fmt.Fprintf(&b, "x-amz-trailer-signature:%s\r\n", sig)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// checksumOf computes a trailing checksum with code independent of the decoder.
func checksumOf(name string, data []byte) string {
	var sum []byte
	switch name {
	case "x-amz-checksum-crc32":
		sum = binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))
	case "x-amz-checksum-crc32c":
		sum = binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	case "x-amz-checksum-crc64nvme":
		sum = binary.BigEndian.AppendUint64(nil, bitwiseCRC64NVME(data))
	case "x-amz-checksum-sha1":
		s := sha1.Sum(data)
		sum = s[:]
	case "x-amz-checksum-sha256":
		s := sha256.Sum256(data)
		sum = s[:]
	default:
		return "opaque-value"
	}
	return base64.StdEncoding.EncodeToString(sum)
}

// bitwiseCRC64NVME is CRC-64/NVME computed bit by bit from its definition.
func bitwiseCRC64NVME(data []byte) uint64 {
	crc := ^uint64(0)
	for _, c := range data {
		crc ^= uint64(c)
		for range 8 {
			if crc&1 == 1 {
				crc = crc>>1 ^ 0x9a6c9329ac4bc9b5
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

func TestCRC64NVMECheckValue(t *testing.T) {
	t.Parallel()
	if got := bitwiseCRC64NVME([]byte("123456789")); got != 0xae8b14860a799888 {
		t.Fatalf("reference CRC-64/NVME = %x", got)
	}
	h := newChecksum("x-amz-checksum-crc64nvme")
	h.Write([]byte("123456789"))
	if got := binary.BigEndian.Uint64(h.Sum(nil)); got != 0xae8b14860a799888 {
		t.Fatalf("CRC-64/NVME = %x", got)
	}
}

func encOptions(p Payload, trailer string, decoded int64) ChunkedOptions {
	return ChunkedOptions{Payload: p, SigningKey: encKey, Scope: encScope, Timestamp: awsExampleTimestamp,
		SeedSignature: encSeed, Trailer: trailer, DecodedLength: decoded}
}

func TestChunkedRoundTrip(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("0123456789abcdefghij"), 1000) // 20000 bytes
	algorithms := []string{"x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme", "x-amz-checksum-sha1", "x-amz-checksum-sha256"}
	type tcase struct {
		name     string
		payload  Payload
		trailers []string
		data     []byte
	}
	var tests []tcase
	for _, p := range []Payload{PayloadStreamingSignedTrailer, PayloadStreamingUnsignedTrailer} {
		for _, alg := range algorithms {
			tests = append(tests, tcase{p.String() + " " + alg, p, []string{alg}, data})
		}
		tests = append(tests, tcase{p.String() + " two trailers", p, []string{"x-amz-checksum-sha256", "x-amz-checksum-crc32"}, data})
		tests = append(tests, tcase{p.String() + " unverified algorithm", p, []string{"x-amz-checksum-xxhash64"}, data})
		tests = append(tests, tcase{p.String() + " no trailers", p, nil, data})
		tests = append(tests, tcase{p.String() + " empty body", p, []string{"x-amz-checksum-crc32"}, nil})
	}
	tests = append(tests, tcase{"signed no trailer", PayloadStreamingSigned, nil, data}, tcase{"signed empty", PayloadStreamingSigned, nil, nil})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wire := encodeChunked(tc.data, encoding{payload: tc.payload, chunk: 8192, trailers: tc.trailers})
			for _, size := range []int{1, 100, 8193, 1 << 16} {
				r, err := NewChunkedReader(bytes.NewReader(wire), encOptions(tc.payload, strings.Join(tc.trailers, ","), int64(len(tc.data))))
				wantError(t, err, nil)
				got, err := readAll(r, size)
				wantError(t, err, nil)
				if !bytes.Equal(got, tc.data) {
					t.Fatalf("read size %d: decoded %d bytes, want %d", size, len(got), len(tc.data))
				}
				if len(r.Trailers()) != len(tc.trailers) {
					t.Fatalf("trailers = %v", r.Trailers())
				}
			}
		})
	}
}

func TestChunkedFailures(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("x"), 10000)
	signed := encodeChunked(data, encoding{payload: PayloadStreamingSigned, chunk: 4096})
	unsignedTrailer := encodeChunked(data, encoding{payload: PayloadStreamingUnsignedTrailer, chunk: 4096, trailers: []string{"x-amz-checksum-crc32"}})
	sig := func(s string) string { return s + strings.Repeat("0", 64-len(s)) }
	tests := []struct {
		name    string
		payload Payload
		trailer string
		decoded int64
		max     int64
		wire    []byte
		want    error
	}{
		{"valid signed", PayloadStreamingSigned, "", 10000, 0, signed, nil},
		{"valid without decoded length", PayloadStreamingSigned, "", -1, 0, signed, nil},
		{"bad chunk signature", PayloadStreamingSigned, "", 10000, 0, bytes.Replace(signed, []byte("chunk-signature="), []byte("chunk-signature=0"), 1)[:len(signed)], ErrMalformedChunk},
		{"flipped chunk signature", PayloadStreamingSigned, "", 10000, 0, flipSignature(signed, 1), ErrSignatureDoesNotMatch},
		{"flipped final signature", PayloadStreamingSigned, "", 10000, 0, flipSignature(signed, 3), ErrSignatureDoesNotMatch},
		{"chunks reordered", PayloadStreamingSigned, "", 10000, 0, swapFirstChunks(signed), ErrSignatureDoesNotMatch},
		{"tampered data", PayloadStreamingSigned, "", 10000, 0, bytes.Replace(signed, []byte("xxxxx"), []byte("xxxxy"), 1), ErrSignatureDoesNotMatch},
		{"truncated in data", PayloadStreamingSigned, "", 10000, 0, signed[:5000], ErrIncompleteBody},
		{"truncated in header", PayloadStreamingSigned, "", 10000, 0, signed[:4], ErrIncompleteBody},
		{"truncated before final chunk", PayloadStreamingSigned, "", 10000, 0, signed[:bytes.LastIndex(signed, []byte("0;chunk"))], ErrIncompleteBody},
		{"empty body", PayloadStreamingSigned, "", 10000, 0, nil, ErrIncompleteBody},
		{"decoded length short", PayloadStreamingSigned, "", 10001, 0, signed, ErrIncompleteBody},
		{"decoded length long", PayloadStreamingSigned, "", 9999, 0, signed, ErrMalformedChunk},
		{"chunk above cap", PayloadStreamingSigned, "", 10000, 4095, signed, ErrChunkTooLarge},
		{"chunk above default cap", PayloadStreamingSigned, "", -1, 0, []byte("800001;chunk-signature=" + sig("") + "\r\n"), ErrChunkTooLarge},
		{"huge declared size", PayloadStreamingUnsignedTrailer, "", -1, 0, []byte("ffffffffffffffff\r\n"), ErrChunkTooLarge},
		{"size too many digits", PayloadStreamingUnsignedTrailer, "", -1, 0, []byte("00000000000000001\r\nx\r\n"), ErrMalformedChunk},
		{"bad hex size", PayloadStreamingSigned, "", -1, 0, []byte("1g;chunk-signature=" + sig("") + "\r\n"), ErrMalformedChunk},
		{"empty size", PayloadStreamingSigned, "", -1, 0, []byte(";chunk-signature=" + sig("") + "\r\n"), ErrMalformedChunk},
		{"oversized chunk header", PayloadStreamingSigned, "", -1, 0, []byte("10;chunk-signature=" + strings.Repeat("a", 300) + "\r\n"), ErrMalformedChunk},
		{"endless header line", PayloadStreamingSigned, "", -1, 0, bytes.Repeat([]byte("1"), 10000), ErrMalformedChunk},
		{"bare LF", PayloadStreamingSigned, "", -1, 0, []byte("10;chunk-signature=" + sig("") + "\n"), ErrMalformedChunk},
		{"missing chunk signature", PayloadStreamingSigned, "", -1, 0, []byte("10\r\n"), ErrMissingChunkSignature},
		{"other extension", PayloadStreamingSigned, "", -1, 0, []byte("10;foo=bar\r\n"), ErrMalformedChunk},
		{"non-hex signature", PayloadStreamingSigned, "", -1, 0, []byte("10;chunk-signature=" + strings.Repeat("z", 64) + "\r\n"), ErrMalformedChunk},
		{"missing CRLF after data", PayloadStreamingSigned, "", -1, 0, bytes.Replace(signed, []byte("x\r\n"), []byte("xx\n"), 1), ErrMalformedChunk},
		{"data after final chunk", PayloadStreamingSigned, "", 10000, 0, append(bytes.Clone(signed), "extra"...), ErrMalformedChunk},
		{"valid unsigned trailer", PayloadStreamingUnsignedTrailer, "x-amz-checksum-crc32", 10000, 0, unsignedTrailer, nil},
		{"trailer checksum mismatch", PayloadStreamingUnsignedTrailer, "x-amz-checksum-crc32", 10000, 0,
			encodeChunked(data, encoding{payload: PayloadStreamingUnsignedTrailer, chunk: 4096, trailers: []string{"x-amz-checksum-crc32"},
				corrupt: func(_, v string) string { return "AAAAAA==" }}), ErrBadDigest},
		{"trailer checksum not base64", PayloadStreamingUnsignedTrailer, "x-amz-checksum-crc32", 10000, 0,
			encodeChunked(data, encoding{payload: PayloadStreamingUnsignedTrailer, chunk: 4096, trailers: []string{"x-amz-checksum-crc32"},
				corrupt: func(_, v string) string { return "!!" }}), ErrBadDigest},
		{"signed trailer checksum mismatch", PayloadStreamingSignedTrailer, "x-amz-checksum-sha256", 10000, 0,
			encodeChunked(data, encoding{payload: PayloadStreamingSignedTrailer, chunk: 4096, trailers: []string{"x-amz-checksum-sha256"},
				corrupt: func(_, v string) string { return checksumOf("x-amz-checksum-sha256", []byte("other")) }}), ErrBadDigest},
		{"trailer not announced", PayloadStreamingUnsignedTrailer, "", 10000, 0, unsignedTrailer, ErrMalformedChunk},
		{"trailer announced but missing", PayloadStreamingUnsignedTrailer, "x-amz-checksum-crc32,x-amz-checksum-sha1", 10000, 0, unsignedTrailer, ErrMalformedChunk},
		{"trailer signature in unsigned body", PayloadStreamingUnsignedTrailer, "", 0, 0, []byte("0\r\nx-amz-trailer-signature:" + sig("") + "\r\n\r\n"), ErrMalformedChunk},
		{"trailer without colon", PayloadStreamingUnsignedTrailer, "x", 0, 0, []byte("0\r\nx\r\n\r\n"), ErrMalformedChunk},
		{"trailer line too long", PayloadStreamingUnsignedTrailer, "x", 0, 0, []byte("0\r\nx:" + strings.Repeat("v", 2000) + "\r\n\r\n"), ErrMalformedChunk},
		{"truncated trailer", PayloadStreamingUnsignedTrailer, "x-amz-checksum-crc32", 10000, 0, unsignedTrailer[:len(unsignedTrailer)-6], ErrIncompleteBody},
		{"unsigned body with signature", PayloadStreamingUnsignedTrailer, "", -1, 0, signed, ErrMalformedChunk},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := encOptions(tc.payload, tc.trailer, tc.decoded)
			opts.MaxChunkSize = tc.max
			r, err := NewChunkedReader(bytes.NewReader(tc.wire), opts)
			wantError(t, err, nil)
			_, err = readAll(r, 1000)
			wantError(t, err, tc.want)
			if tc.want != nil {
				if _, again := r.Read(make([]byte, 10)); again != err {
					t.Fatalf("error is not sticky: %v then %v", err, again)
				}
				if r.Trailers() != nil {
					t.Fatalf("trailers exposed after failure")
				}
			}
		})
	}
}

// flipSignature changes the first hex digit of the n-th chunk signature.
func flipSignature(wire []byte, n int) []byte {
	out := bytes.Clone(wire)
	idx := 0
	for range n {
		idx += bytes.Index(out[idx:], []byte("chunk-signature=")) + len("chunk-signature=")
	}
	if out[idx] == '0' {
		out[idx] = '1'
	} else {
		out[idx] = '0'
	}
	return out
}

// swapFirstChunks exchanges the first two 4096-byte chunks, signatures included.
func swapFirstChunks(wire []byte) []byte {
	const frame = len("1000;chunk-signature=") + 64 + 2 + 4096 + 2
	out := append([]byte{}, wire[frame:2*frame]...)
	out = append(out, wire[:frame]...)
	return append(out, wire[2*frame:]...)
}

func TestNewChunkedReaderOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts ChunkedOptions
		want error
	}{
		{"not streaming", ChunkedOptions{Payload: PayloadUnsigned}, ErrInvalidContentSHA256},
		{"zero payload", ChunkedOptions{}, ErrInvalidContentSHA256},
		{"signed without key", ChunkedOptions{Payload: PayloadStreamingSigned}, ErrMissingChunkSignature},
		{"duplicate announced trailer", ChunkedOptions{Payload: PayloadStreamingUnsignedTrailer, Trailer: "a,A"}, ErrMalformedChunk},
		{"unsigned trailer", ChunkedOptions{Payload: PayloadStreamingUnsignedTrailer, Trailer: " x-amz-checksum-crc32 "}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewChunkedReader(strings.NewReader(""), tc.opts)
			wantError(t, err, tc.want)
		})
	}
}

// errReader fails with a caller-defined error, like a size-limit reader.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestChunkedPassesCallerErrors(t *testing.T) {
	t.Parallel()
	limit := fmt.Errorf("caller limit")
	r, _ := NewChunkedReader(io.MultiReader(strings.NewReader("10\r\nabc"), errReader{limit}), encOptions(PayloadStreamingUnsignedTrailer, "", -1))
	_, err := readAll(r, 100)
	if err != limit {
		t.Fatalf("error = %v, want the caller's", err)
	}
}

func TestSHA256Reader(t *testing.T) {
	t.Parallel()
	body := []byte("some body")
	tests := []struct {
		name     string
		body     io.Reader
		expected string
		wantNew  error
		want     error
	}{
		{"match", bytes.NewReader(body), sha256HexBytes(body), nil, nil},
		{"match upper-case hex", bytes.NewReader(body), strings.ToUpper(sha256HexBytes(body)), nil, nil},
		{"mismatch", strings.NewReader("some bodY"), sha256HexBytes(body), nil, ErrXAmzContentSHA256Mismatch},
		{"short body", strings.NewReader("some"), sha256HexBytes(body), nil, ErrXAmzContentSHA256Mismatch},
		{"empty", strings.NewReader(""), emptySHA256, nil, nil},
		{"unexpected EOF", io.MultiReader(strings.NewReader("x"), errReader{io.ErrUnexpectedEOF}), emptySHA256, nil, ErrIncompleteBody},
		{"not hex", strings.NewReader(""), "zz", ErrInvalidContentSHA256, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewSHA256Reader(tc.body, tc.expected)
			wantError(t, err, tc.wantNew)
			if err != nil {
				return
			}
			_, err = readAll(r, 3)
			wantError(t, err, tc.want)
		})
	}
}

// TestChunkedBoundedMemory streams 64 MiB of 1 MiB chunks and checks the
// decoder allocates far less than one chunk. Not parallel: it reads the
// process-wide allocation counter.
func TestChunkedBoundedMemory(t *testing.T) {
	chunk := bytes.Repeat([]byte("z"), 1<<20)
	frame := append([]byte(fmt.Sprintf("%x\r\n", len(chunk))), chunk...)
	frame = append(frame, "\r\n"...)
	const n = 64
	body := io.MultiReader(&repeatReader{frame: frame, n: n}, strings.NewReader("0\r\n\r\n"))
	buf := make([]byte, 32<<10)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, _ := NewChunkedReader(body, encOptions(PayloadStreamingUnsignedTrailer, "", n<<20))
	for {
		_, err := r.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if r.DecodedLength() != n<<20 {
		t.Fatalf("decoded %d", r.DecodedLength())
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 256<<10 {
		t.Fatalf("allocated %d bytes to stream %d MiB", allocated, n)
	}
}

type repeatReader struct {
	frame []byte
	n     int
	off   int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	c := copy(p, r.frame[r.off:])
	r.off += c
	if r.off == len(r.frame) {
		r.off, r.n = 0, r.n-1
	}
	return c, nil
}

// TestChunkedMinioGoTrailer: minio-go ends its trailer lines with LF alone and then sends
// two CRLFs ("0\r\nx-amz-checksum-crc32:…\n\r\n\r\n"); MinIO accepts that, and so do we,
// still checking the checksum.
func TestChunkedMinioGoTrailer(t *testing.T) {
	t.Parallel()
	data := []byte("hello, trailer")
	sum := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data)))
	wrong := base64.StdEncoding.EncodeToString(make([]byte, 4))
	cases := []struct {
		name, trailer string
		want          error
	}{
		{"minio-go layout", "x-amz-checksum-crc32:" + sum + "\n\r\n\r\n", nil},
		{"minio-go layout, wrong checksum", "x-amz-checksum-crc32:" + wrong + "\n\r\n\r\n", ErrBadDigest},
		{"LF-only blank line", "x-amz-checksum-crc32:" + sum + "\n\n", nil},
		{"data after the trailer", "x-amz-checksum-crc32:" + sum + "\n\r\n\r\nmore", ErrMalformedChunk},
	}
	t.Run("signed, minio-go layout", func(t *testing.T) {
		// minio-go: "x-amz-checksum-crc32:…\n\r\nx-amz-trailer-signature:…\r\n\r\n".
		wire := encodeChunked(data, encoding{payload: PayloadStreamingSignedTrailer, chunk: 8192, trailers: []string{"x-amz-checksum-crc32"}})
		wire = bytes.Replace(wire, []byte("\r\nx-amz-trailer-signature:"), []byte("\n\r\nx-amz-trailer-signature:"), 1)
		r, err := NewChunkedReader(bytes.NewReader(wire), encOptions(PayloadStreamingSignedTrailer, "x-amz-checksum-crc32", int64(len(data))))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %q, %v", got, err)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wire := fmt.Sprintf("%x\r\n%s\r\n0\r\n%s", len(data), data, tc.trailer)
			r, err := NewChunkedReader(strings.NewReader(wire), encOptions(PayloadStreamingUnsignedTrailer, "x-amz-checksum-crc32", int64(len(data))))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			switch {
			case tc.want == nil && (err != nil || !bytes.Equal(got, data)):
				t.Fatalf("read %q, %v", got, err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}
