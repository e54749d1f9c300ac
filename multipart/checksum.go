package multipart

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strconv"
	"sync"
)

// Algorithm is an S3 additional checksum algorithm.
type Algorithm string

// The algorithms S3 accepts in x-amz-checksum-algorithm.
const (
	CRC32     Algorithm = "CRC32"
	CRC32C    Algorithm = "CRC32C"
	CRC64NVME Algorithm = "CRC64NVME"
	SHA1      Algorithm = "SHA1"
	SHA256    Algorithm = "SHA256"
)

// crc64NVMEPoly is the bit-reflected CRC-64/NVME polynomial.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

var crc64NVMETable = sync.OnceValue(func() *crc64.Table { return crc64.MakeTable(crc64NVMEPoly) })

// New returns a hash computing alg's checksum, or false for an unknown algorithm.
func (a Algorithm) New() (hash.Hash, bool) {
	switch a {
	case CRC32:
		return crc32.NewIEEE(), true
	case CRC32C:
		return crc32.New(crc32.MakeTable(crc32.Castagnoli)), true
	case CRC64NVME:
		return crc64.New(crc64NVMETable()), true
	case SHA1:
		return sha1.New(), true
	case SHA256:
		return sha256.New(), true
	}
	return nil, false
}

// size is the length of alg's digest in bytes.
func (a Algorithm) size() int {
	h, ok := a.New()
	if !ok {
		return 0
	}
	return h.Size()
}

// decode parses one base64 checksum of alg.
func (a Algorithm) decode(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != a.size() || len(b) == 0 {
		return nil, fail(ErrInvalidChecksum, 0, fmt.Sprintf("%s value %q", a, truncate(s, 64)))
	}
	return b, nil
}

// Composite is S3's COMPOSITE checksum of a multipart upload: alg over the concatenated
// binary per-part checksums, base64, then "-" and the part count.
func Composite(alg Algorithm, partChecksums []string) (string, error) {
	h, ok := alg.New()
	if !ok {
		return "", fail(ErrInvalidChecksum, 0, "unknown algorithm "+strconv.Quote(truncate(string(alg), 16)))
	}
	for i, s := range partChecksums {
		b, err := alg.decode(s)
		if err != nil {
			err.(*Error).Part = i + 1
			return "", err
		}
		h.Write(b)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(partChecksums)), nil
}

// crcParams describes a bit-reflected CRC for combination.
type crcParams struct {
	poly  uint64 // reflected polynomial
	width uint
}

func (a Algorithm) crc() (crcParams, bool) {
	switch a {
	case CRC32:
		return crcParams{poly: crc32.IEEE, width: 32}, true
	case CRC32C:
		return crcParams{poly: crc32.Castagnoli, width: 32}, true
	case CRC64NVME:
		return crcParams{poly: crc64NVMEPoly, width: 64}, true
	}
	return crcParams{}, false
}

// FullObject is S3's FULL_OBJECT checksum of a multipart upload (CRC algorithms only): the
// CRC of the whole object, computed from the per-part CRCs and sizes without reading the
// bytes again. sizes[i] is the length of part i.
func FullObject(alg Algorithm, partChecksums []string, sizes []int64) (string, error) {
	p, ok := alg.crc()
	if !ok {
		return "", fail(ErrInvalidChecksum, 0, "full-object checksums need a CRC algorithm, not "+strconv.Quote(truncate(string(alg), 16)))
	}
	if len(partChecksums) != len(sizes) || len(sizes) == 0 {
		return "", fail(ErrInvalidChecksum, 0, "one checksum and one size per part")
	}
	var crc uint64
	for i, s := range partChecksums {
		b, err := alg.decode(s)
		if err != nil {
			err.(*Error).Part = i + 1
			return "", err
		}
		if sizes[i] < 0 {
			return "", fail(ErrInvalidChecksum, i+1, "negative size")
		}
		var v uint64
		if p.width == 32 {
			v = uint64(binary.BigEndian.Uint32(b))
		} else {
			v = binary.BigEndian.Uint64(b)
		}
		if i == 0 {
			crc = v
		} else {
			crc = p.combine(crc, v, sizes[i])
		}
	}
	out := make([]byte, p.width/8)
	if p.width == 32 {
		binary.BigEndian.PutUint32(out, uint32(crc))
	} else {
		binary.BigEndian.PutUint64(out, crc)
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// combine returns the CRC of A||B from crc(A), crc(B) and len(B), for reflected CRCs with
// all-ones initial value and final xor (zlib's crc32_combine: multiply crc(A) by
// x^(8·len(B)) modulo the polynomial, then add crc(B)).
func (p crcParams) combine(crcA, crcB uint64, lenB int64) uint64 {
	if lenB <= 0 {
		return crcA
	}
	return p.multmod(p.xPow8n(uint64(lenB)), crcA) ^ crcB
}

// multmod multiplies a and b modulo the polynomial, in reflected bit order (the top bit
// of the width is x^0).
func (p crcParams) multmod(a, b uint64) uint64 {
	top := uint64(1) << (p.width - 1)
	var prod uint64
	for m := top; m != 0; m >>= 1 {
		if a&m != 0 {
			prod ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ p.poly
		} else {
			b >>= 1
		}
	}
	return prod
}

// xPow8n returns x^(8n) modulo the polynomial by square-and-multiply.
func (p crcParams) xPow8n(n uint64) uint64 {
	result := uint64(1) << (p.width - 1) // x^0
	sq := uint64(1) << (p.width - 2)     // x^1
	for range 3 {                        // x^8
		sq = p.multmod(sq, sq)
	}
	for ; n != 0; n >>= 1 {
		if n&1 != 0 {
			result = p.multmod(sq, result)
		}
		sq = p.multmod(sq, sq)
	}
	return result
}
