package sigv4

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strings"
)

// Payload is how a request body is covered by the signature (the value of
// x-amz-content-sha256).
type Payload int

// Payload modes. The zero value is invalid.
const (
	// PayloadUnsigned: UNSIGNED-PAYLOAD, the body is not covered.
	PayloadUnsigned Payload = iota + 1
	// PayloadSHA256: a hex SHA-256 of the body was signed; check it with NewSHA256Reader.
	PayloadSHA256
	// PayloadStreamingSigned: STREAMING-AWS4-HMAC-SHA256-PAYLOAD, aws-chunked
	// with a signature per chunk.
	PayloadStreamingSigned
	// PayloadStreamingSignedTrailer: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER,
	// signed chunks then signed trailing headers.
	PayloadStreamingSignedTrailer
	// PayloadStreamingUnsignedTrailer: STREAMING-UNSIGNED-PAYLOAD-TRAILER,
	// unsigned chunks then trailing (checksum) headers.
	PayloadStreamingUnsignedTrailer
)

const (
	unsignedPayload                 = "UNSIGNED-PAYLOAD"
	streamingSignedPayload          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedPayloadTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// String returns the x-amz-content-sha256 spelling ("hex sha256" for PayloadSHA256).
func (p Payload) String() string {
	switch p {
	case PayloadUnsigned:
		return unsignedPayload
	case PayloadSHA256:
		return "hex sha256"
	case PayloadStreamingSigned:
		return streamingSignedPayload
	case PayloadStreamingSignedTrailer:
		return streamingSignedPayloadTrailer
	case PayloadStreamingUnsignedTrailer:
		return streamingUnsignedPayloadTrailer
	}
	return "invalid"
}

// Streaming reports whether the body uses aws-chunked framing.
func (p Payload) Streaming() bool {
	return p == PayloadStreamingSigned || p == PayloadStreamingSignedTrailer || p == PayloadStreamingUnsignedTrailer
}

func classifyPayload(s string) (Payload, error) {
	switch s {
	case unsignedPayload:
		return PayloadUnsigned, nil
	case streamingSignedPayload:
		return PayloadStreamingSigned, nil
	case streamingSignedPayloadTrailer:
		return PayloadStreamingSignedTrailer, nil
	case streamingUnsignedPayloadTrailer:
		return PayloadStreamingUnsignedTrailer, nil
	}
	if strings.HasPrefix(s, "STREAMING-") {
		return 0, ErrInvalidContentSHA256.with("Invalid streaming algorithm: " + truncate(s))
	}
	if len(s) == 64 {
		if _, err := hex.DecodeString(s); err == nil {
			return PayloadSHA256, nil
		}
	}
	return 0, ErrInvalidContentSHA256.with("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER), STREAMING-UNSIGNED-PAYLOAD-TRAILER or a hex SHA-256")
}

// BodyOptions carries the request headers that describe the body.
type BodyOptions struct {
	// DecodedLength is x-amz-decoded-content-length, or -1 when absent.
	// It is checked for aws-chunked bodies only.
	DecodedLength int64
	// Trailer is the x-amz-trailer header (comma-separated trailer names).
	Trailer string
	// MaxChunkSize caps one aws-chunked chunk; 0 means DefaultMaxChunkSize.
	MaxChunkSize int64
}

// Body wraps body in the reader that checks it against the signature while
// it streams: unchanged for PayloadUnsigned, a SHA-256 check for
// PayloadSHA256, a *ChunkedReader for the streaming modes. Bytes read are
// unverified until Read returns io.EOF; any other error is an *Error.
func (r *Result) Body(body io.Reader, opts BodyOptions) (io.Reader, error) {
	switch {
	case r.Payload == PayloadUnsigned:
		return body, nil
	case r.Payload == PayloadSHA256:
		return NewSHA256Reader(body, r.ContentSHA256)
	case r.Payload.Streaming():
		return NewChunkedReader(body, r.ChunkedOptions(opts))
	}
	return nil, ErrInvalidContentSHA256
}

// ChunkedOptions returns the options to decode this request's aws-chunked body.
func (r *Result) ChunkedOptions(opts BodyOptions) ChunkedOptions {
	return ChunkedOptions{
		Payload:       r.Payload,
		SigningKey:    r.SigningKey,
		Scope:         r.Scope.String(),
		Timestamp:     r.Timestamp(),
		SeedSignature: r.Signature,
		Trailer:       opts.Trailer,
		DecodedLength: opts.DecodedLength,
		MaxChunkSize:  opts.MaxChunkSize,
	}
}

// SHA256Reader passes a body through and, at its end, checks that it hashed
// to the declared x-amz-content-sha256.
type SHA256Reader struct {
	r    io.Reader
	h    hash.Hash
	want []byte
	err  error
}

// NewSHA256Reader returns a reader of body whose final Read returns
// ErrXAmzContentSHA256Mismatch instead of io.EOF when the body does not hash
// to expectedHex, so a caller that commits only on io.EOF never commits it.
func NewSHA256Reader(body io.Reader, expectedHex string) (*SHA256Reader, error) {
	want, err := hex.DecodeString(expectedHex)
	if err != nil || len(want) != sha256.Size {
		return nil, ErrInvalidContentSHA256.with("x-amz-content-sha256 is not a hex SHA-256")
	}
	return &SHA256Reader{r: body, h: sha256.New(), want: want}, nil
}

// Read implements io.Reader.
func (s *SHA256Reader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.h.Write(p[:n])
	switch {
	case err == io.EOF:
		if sum := s.h.Sum(nil); !bytes.Equal(sum, s.want) {
			s.err = ErrXAmzContentSHA256Mismatch
		} else {
			s.err = io.EOF
		}
		return n, s.err
	case err != nil:
		s.err = bodyError(err)
		return n, s.err
	}
	return n, nil
}

// bodyError classifies a read error of the underlying body: a short body is
// ErrIncompleteBody; anything else (the caller's own size limit, a network
// error) passes through unchanged for the caller to classify.
func bodyError(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrIncompleteBody.wrap(err)
	}
	return err
}
