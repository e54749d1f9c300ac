package gateway

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"strings"
)

// Integrity asks the engine to check a body while it streams and to remember a checksum of
// it. A mismatch fails the body's last Read, so nothing is committed (CodeBadDigest).
type Integrity struct {
	// ContentMD5 is the Content-MD5 header (base64), "" for none.
	ContentMD5 string
	// ChecksumAlgorithm is CRC32, CRC32C, CRC64NVME, SHA1 or SHA256 (any case), "" for none.
	ChecksumAlgorithm string
	// Checksum is the expected base64 value; "" computes and stores without checking (the
	// value arrives in an aws-chunked trailer, which the SigV4 reader verifies itself).
	Checksum string
}

// ChecksumAlgorithms are the checksum algorithms S3 defines for objects, in S3's spelling.
var ChecksumAlgorithms = []string{"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"}

// crc64NVME is the CRC-64/NVME table (reflected polynomial 0x9a6c9329ac4bc9b5). Read-only.
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// NewChecksum returns the hash of an S3 checksum algorithm, nil when unknown.
func NewChecksum(algorithm string) hash.Hash {
	switch strings.ToUpper(algorithm) {
	case "CRC32":
		return crc32.NewIEEE()
	case "CRC32C":
		return crc32.New(crc32c)
	case "CRC64NVME":
		return crc64.New(crc64NVME)
	case "SHA1":
		return sha1.New()
	case "SHA256":
		return sha256.New()
	}
	return nil
}

// check validates the declared values before any byte is read.
func (in Integrity) check() error {
	if in.ContentMD5 != "" {
		if b, err := base64.StdEncoding.DecodeString(in.ContentMD5); err != nil || len(b) != md5.Size {
			return &Error{Code: CodeBadDigest, Message: "The Content-MD5 you specified is not valid."}
		}
	}
	if in.ChecksumAlgorithm != "" {
		h := NewChecksum(in.ChecksumAlgorithm)
		if h == nil {
			return &Error{Code: CodeInvalidArgument, Message: "Invalid checksum algorithm: " + in.ChecksumAlgorithm}
		}
		if in.Checksum != "" {
			if b, err := base64.StdEncoding.DecodeString(in.Checksum); err != nil || len(b) != h.Size() {
				return &Error{Code: CodeInvalidArgument, Message: "Value for x-amz-checksum-" + strings.ToLower(in.ChecksumAlgorithm) + " header is invalid."}
			}
		}
	} else if in.Checksum != "" {
		return &Error{Code: CodeInvalidArgument, Message: "a checksum value needs a checksum algorithm"}
	}
	return nil
}

// integrityReader hashes a body and, at its end, replaces io.EOF by CodeBadDigest when a
// declared value does not match.
type integrityReader struct {
	r        io.Reader
	in       Integrity
	md5      hash.Hash
	checksum hash.Hash
	err      error
}

func newIntegrityReader(r io.Reader, in Integrity) (*integrityReader, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	if r == nil {
		r = eofReader{}
	}
	ir := &integrityReader{r: r, in: in}
	if in.ContentMD5 != "" {
		ir.md5 = md5.New()
	}
	if in.ChecksumAlgorithm != "" {
		ir.checksum = NewChecksum(in.ChecksumAlgorithm)
	}
	return ir, nil
}

func (ir *integrityReader) Read(p []byte) (int, error) {
	if ir.err != nil {
		return 0, ir.err
	}
	n, err := ir.r.Read(p)
	if ir.md5 != nil {
		ir.md5.Write(p[:n])
	}
	if ir.checksum != nil {
		ir.checksum.Write(p[:n])
	}
	if err == io.EOF {
		err = ir.finish()
	}
	if err != nil {
		ir.err = err
	}
	return n, err
}

func (ir *integrityReader) finish() error {
	if ir.md5 != nil {
		want, _ := base64.StdEncoding.DecodeString(ir.in.ContentMD5)
		if !bytes.Equal(want, ir.md5.Sum(nil)) {
			return &Error{Code: CodeBadDigest, Message: "The Content-MD5 you specified did not match what we received."}
		}
	}
	if ir.checksum != nil && ir.in.Checksum != "" && ir.in.Checksum != ir.sum() {
		return &Error{Code: CodeBadDigest, Message: "The " + strings.ToUpper(ir.in.ChecksumAlgorithm) + " you specified did not match the calculated checksum."}
	}
	return io.EOF
}

func (ir *integrityReader) sum() string {
	return base64.StdEncoding.EncodeToString(ir.checksum.Sum(nil))
}

// stored returns the algorithm and value to keep with the object ("" when none).
func (ir *integrityReader) stored() (string, string) {
	if ir.checksum == nil {
		return "", ""
	}
	return strings.ToUpper(ir.in.ChecksumAlgorithm), ir.sum()
}
