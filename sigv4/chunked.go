package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"io"
	"strconv"
	"strings"
)

// Limits of the aws-chunked decoder (spec §2.4, §6).
const (
	// DefaultMaxChunkSize caps the declared size of one chunk.
	DefaultMaxChunkSize = 8 << 20
	// maxChunkHeader caps a chunk header line, CRLF excluded.
	maxChunkHeader = 256
	// maxTrailerLine caps one trailing header line, CRLF excluded.
	maxTrailerLine = 1024
	// maxTrailers caps the number of trailing headers (and declared names).
	maxTrailers = 16
	// readBuffer is the decoder's only buffer; it bounds every line.
	readBuffer = 4096
)

// ChunkedOptions configures NewChunkedReader. Result.ChunkedOptions fills it
// from a verified request.
type ChunkedOptions struct {
	// Payload is PayloadStreamingSigned, PayloadStreamingSignedTrailer or
	// PayloadStreamingUnsignedTrailer.
	Payload Payload
	// SigningKey, Scope ("20130524/us-east-1/s3/aws4_request"), Timestamp
	// (X-Amz-Date) and SeedSignature (the request signature, hex) drive the
	// chunk signature chain; unused for PayloadStreamingUnsignedTrailer.
	SigningKey    SigningKey
	Scope         string
	Timestamp     string
	SeedSignature string
	// Trailer is the x-amz-trailer header: the trailing headers the client
	// announced. Only announced trailers are accepted, and all must arrive.
	Trailer string
	// DecodedLength is x-amz-decoded-content-length; the decoded body must
	// have exactly this length. -1 skips the check.
	DecodedLength int64
	// MaxChunkSize caps one chunk; 0 means DefaultMaxChunkSize.
	MaxChunkSize int64
}

// Trailer is one trailing header of an aws-chunked body.
type Trailer struct {
	Name  string // lower-case
	Value string
}

// ChunkedReader decodes an aws-chunked body while it streams, verifying the
// chunk signature chain, the trailer signature, the trailing checksums
// (crc32, crc32c, crc64nvme, sha1, sha256; others are passed on unverified)
// and the decoded length. It holds one 4 KiB buffer and never allocates by a
// declared size. Data is returned before its chunk's signature is checked:
// treat it as unverified until Read returns io.EOF. Every other error is an
// *Error, except read errors of the underlying body other than a short body,
// which are returned unchanged.
type ChunkedReader struct {
	r         *bufio.Reader
	opts      ChunkedOptions
	signed    bool
	trailer   bool
	max       int64
	state     int
	remaining int64  // data bytes left in the current chunk
	total     int64  // decoded bytes so far
	want      []byte // declared signature of the current chunk
	prev      string // previous signature (hex)
	chunk     hash.Hash
	declared  []string
	checksums map[string]hash.Hash
	trailers  []Trailer
	err       error
}

const (
	stateHeader = iota
	stateData
	stateDataEnd
	stateDone
)

// NewChunkedReader returns a decoder of an aws-chunked body.
func NewChunkedReader(body io.Reader, opts ChunkedOptions) (*ChunkedReader, error) {
	c := &ChunkedReader{r: bufio.NewReaderSize(body, readBuffer), opts: opts, prev: opts.SeedSignature, max: opts.MaxChunkSize}
	switch opts.Payload {
	case PayloadStreamingSigned:
		c.signed = true
	case PayloadStreamingSignedTrailer:
		c.signed, c.trailer = true, true
	case PayloadStreamingUnsignedTrailer:
		c.trailer = true
	default:
		return nil, ErrInvalidContentSHA256.with("Not an aws-chunked payload: " + opts.Payload.String())
	}
	if c.max <= 0 {
		c.max = DefaultMaxChunkSize
	}
	if c.signed {
		c.chunk = sha256.New()
		if len(opts.SigningKey) == 0 || opts.Scope == "" || opts.Timestamp == "" || opts.SeedSignature == "" {
			return nil, ErrMissingChunkSignature.with("Signed aws-chunked body without a seed signature")
		}
	}
	if c.trailer && opts.Trailer != "" {
		c.checksums = map[string]hash.Hash{}
		for name := range strings.SplitSeq(opts.Trailer, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			if len(c.declared) == maxTrailers || c.isDeclared(name) {
				return nil, ErrMalformedChunk.with("Invalid x-amz-trailer header")
			}
			c.declared = append(c.declared, name)
			if h := newChecksum(name); h != nil {
				c.checksums[name] = h
			}
		}
	}
	return c, nil
}

// Trailers returns the trailing headers (x-amz-trailer-signature excluded),
// in the order received, once Read has returned io.EOF; nil before.
func (c *ChunkedReader) Trailers() []Trailer {
	if c.state != stateDone || c.err != io.EOF {
		return nil
	}
	return c.trailers
}

// DecodedLength returns the number of decoded bytes read so far.
func (c *ChunkedReader) DecodedLength() int64 { return c.total }

// Read implements io.Reader.
func (c *ChunkedReader) Read(p []byte) (int, error) {
	for c.err == nil {
		switch c.state {
		case stateHeader:
			c.err = c.readHeader()
		case stateData:
			if len(p) == 0 {
				return 0, nil
			}
			return c.readData(p)
		case stateDataEnd:
			c.err = c.endChunk()
		case stateDone:
			c.err = io.EOF
		}
	}
	return 0, c.err
}

func (c *ChunkedReader) fail(err error) (int, error) {
	c.err = err
	return 0, err
}

func (c *ChunkedReader) readData(p []byte) (int, error) {
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.r.Read(p)
	if n > 0 {
		data := p[:n]
		if c.signed {
			c.chunk.Write(data)
		}
		for _, h := range c.checksums {
			h.Write(data)
		}
		c.remaining -= int64(n)
		c.total += int64(n)
		if c.remaining == 0 {
			c.state = stateDataEnd
		}
		return n, nil
	}
	if err == nil {
		return 0, nil
	}
	return c.fail(bodyError(err))
}

// readLine reads one CRLF-terminated line of at most limit bytes (CRLF
// excluded). It returns io.EOF only when the body ends before any byte.
func (c *ChunkedReader) readLine(limit int) ([]byte, error) {
	return c.readLineEnding(limit, false)
}

// readLineEnding is readLine; lfOK also accepts a line ended by LF alone.
func (c *ChunkedReader) readLineEnding(limit int, lfOK bool) ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull || len(line) > limit+2:
		return nil, ErrMalformedChunk.with("Chunk header or trailer line too long")
	case err == io.EOF && len(line) == 0:
		return nil, io.EOF
	case err != nil:
		return nil, bodyError(err)
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		if lfOK {
			return line[:len(line)-1], nil
		}
		return nil, ErrMalformedChunk.with("Invalid chunk header: missing CRLF")
	}
	return line[:len(line)-2], nil
}

// readHeader parses "<hex size>[;chunk-signature=<64 hex>]".
func (c *ChunkedReader) readHeader() error {
	line, err := c.readLine(maxChunkHeader)
	if err == io.EOF {
		return ErrIncompleteBody.with("Missing final chunk")
	}
	if err != nil {
		return err
	}
	sizeText, ext, hasExt := bytes.Cut(line, []byte(";"))
	if len(sizeText) == 0 || len(sizeText) > 16 {
		return ErrMalformedChunk.with("Invalid chunk header")
	}
	size, err := strconv.ParseUint(string(sizeText), 16, 64)
	if err != nil {
		return ErrMalformedChunk.with("Invalid chunk size")
	}
	if size > uint64(c.max) {
		return ErrChunkTooLarge.with("The chunk exceeded the maximum allowed chunk size of " + strconv.FormatInt(c.max, 10) + " bytes")
	}
	if c.opts.DecodedLength >= 0 && c.total+int64(size) > c.opts.DecodedLength {
		return ErrMalformedChunk.with("The chunks carry more data than x-amz-decoded-content-length")
	}
	switch {
	case c.signed && !hasExt:
		return ErrMissingChunkSignature
	case c.signed:
		sig, ok := bytes.CutPrefix(ext, []byte("chunk-signature="))
		if !ok || len(sig) != 64 {
			return ErrMalformedChunk.with("Invalid chunk signature")
		}
		c.want = c.want[:0]
		if c.want, err = hex.AppendDecode(c.want, sig); err != nil {
			return ErrMalformedChunk.with("Invalid chunk signature")
		}
	case hasExt:
		return ErrMalformedChunk.with("Unexpected chunk extension in an unsigned aws-chunked body")
	}
	c.remaining = int64(size)
	if size > 0 {
		c.state = stateData
		return nil
	}
	return c.finalChunk()
}

// endChunk consumes the CRLF after chunk data and checks the chunk signature.
func (c *ChunkedReader) endChunk() error {
	var crlf [2]byte
	if _, err := io.ReadFull(c.r, crlf[:]); err != nil {
		return bodyError(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return ErrMalformedChunk.with("Missing CRLF after chunk data")
	}
	if err := c.checkChunkSignature(); err != nil {
		return err
	}
	c.state = stateHeader
	return nil
}

func (c *ChunkedReader) checkChunkSignature() error {
	if !c.signed {
		return nil
	}
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + c.opts.Timestamp + "\n" + c.opts.Scope + "\n" + c.prev + "\n" +
		emptySHA256 + "\n" + hex.EncodeToString(c.chunk.Sum(nil))
	c.chunk.Reset()
	return c.chain(sts, c.want)
}

// chain checks one link of the signature chain and advances it.
func (c *ChunkedReader) chain(stringToSign string, want []byte) error {
	got := hmacSHA256(c.opts.SigningKey, stringToSign)
	if !hmac.Equal(got, want) {
		return ErrSignatureDoesNotMatch
	}
	c.prev = hex.EncodeToString(got)
	return nil
}

// finalChunk handles everything after the 0-size chunk header.
func (c *ChunkedReader) finalChunk() error {
	if err := c.checkChunkSignature(); err != nil {
		return err
	}
	if c.opts.DecodedLength >= 0 && c.total != c.opts.DecodedLength {
		return ErrIncompleteBody.with("The decoded body is shorter than x-amz-decoded-content-length")
	}
	if c.trailer {
		if err := c.readTrailers(); err != nil {
			return err
		}
	} else if err := c.expectEnd(true); err != nil {
		return err
	}
	c.state = stateDone
	return nil
}

// expectEnd accepts the end of the body, optionally after one CRLF.
func (c *ChunkedReader) expectEnd(allowCRLF bool) error {
	b, err := c.r.ReadByte()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return bodyError(err)
	}
	if allowCRLF && b == '\r' {
		if b, err = c.r.ReadByte(); err == nil && b == '\n' {
			return c.expectEnd(false)
		}
		if err != nil && err != io.EOF {
			return bodyError(err)
		}
	}
	return ErrMalformedChunk.with("Unexpected data after final chunk")
}

// readTrailers reads "name:value" lines up to a blank line (or the end of the
// body), then checks the trailer signature and checksums. A blank line right
// after the final chunk header followed by more lines is the layout of AWS's
// published example and is accepted too, and so are trailer lines ended by LF
// alone, which minio-go sends ("x-amz-checksum-crc32:…\n\r\n\r\n") and MinIO accepts,
// as is minio-go's blank line between the trailers and x-amz-trailer-signature.
func (c *ChunkedReader) readTrailers() error {
	var signature []byte
	leadingBlank, signatureBlank := false, false
	for {
		line, err := c.readLineEnding(maxTrailerLine, true)
		if err == io.EOF {
			break // no terminating blank line: lenient, everything was read
		}
		if err != nil {
			return err
		}
		if len(line) == 0 {
			if len(c.trailers) == 0 && signature == nil && !leadingBlank {
				if _, err := c.r.Peek(1); err == nil {
					leadingBlank = true
					continue
				}
			}
			if c.signed && len(c.trailers) > 0 && signature == nil && !signatureBlank {
				if _, err := c.r.Peek(1); err == nil {
					signatureBlank = true
					continue
				}
			}
			if err := c.expectEnd(true); err != nil {
				return err
			}
			break
		}
		if signature != nil {
			return ErrMalformedChunk.with("Trailing header after x-amz-trailer-signature")
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return ErrMalformedChunk.with("Invalid trailing header")
		}
		t := Trailer{Name: strings.ToLower(strings.TrimSpace(string(name))), Value: strings.TrimSpace(string(value))}
		switch {
		case t.Name == "x-amz-trailer-signature":
			if !c.signed {
				return ErrMalformedChunk.with("Unexpected x-amz-trailer-signature in an unsigned aws-chunked body")
			}
			if signature, err = hex.DecodeString(t.Value); err != nil || len(signature) != sha256.Size {
				return ErrMalformedChunk.with("Invalid x-amz-trailer-signature")
			}
		case !c.isDeclared(t.Name):
			return ErrMalformedChunk.with("Trailing header " + truncate(t.Name) + " was not announced in x-amz-trailer")
		case c.received(t.Name):
			return ErrMalformedChunk.with("Duplicate trailing header " + truncate(t.Name))
		default:
			c.trailers = append(c.trailers, t)
		}
	}
	if len(c.trailers) != len(c.declared) {
		return ErrMalformedChunk.with("Incomplete trailer section")
	}
	if c.signed {
		if signature == nil {
			return ErrMissingChunkSignature.with("Missing trailer signature")
		}
		var canonical strings.Builder
		for _, t := range c.trailers {
			canonical.WriteString(t.Name + ":" + t.Value + "\n")
		}
		sts := "AWS4-HMAC-SHA256-TRAILER\n" + c.opts.Timestamp + "\n" + c.opts.Scope + "\n" + c.prev + "\n" +
			sha256Hex(canonical.String())
		if err := c.chain(sts, signature); err != nil {
			return err
		}
	}
	for _, t := range c.trailers {
		h := c.checksums[t.Name]
		if h == nil {
			continue
		}
		want, err := base64.StdEncoding.DecodeString(t.Value)
		if err != nil || !bytes.Equal(want, h.Sum(nil)) {
			return ErrBadDigest.with("The " + strings.ToUpper(strings.TrimPrefix(t.Name, "x-amz-checksum-")) + " you specified did not match the calculated checksum.")
		}
	}
	return nil
}

func (c *ChunkedReader) isDeclared(name string) bool {
	for _, d := range c.declared {
		if d == name {
			return true
		}
	}
	return false
}

func (c *ChunkedReader) received(name string) bool {
	for _, t := range c.trailers {
		if t.Name == name {
			return true
		}
	}
	return false
}
