package sigv4

import (
	"crypto/sha1"
	"crypto/sha256"
	"hash"
	"hash/crc32"
	"hash/crc64"
)

// crc64NVME is the CRC-64/NVME table (reflected polynomial 0x9a6c9329ac4bc9b5),
// the polynomial S3 uses for x-amz-checksum-crc64nvme. Read-only after init.
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// newChecksum returns the hash behind a trailing x-amz-checksum-* header, or
// nil for an algorithm this package does not verify.
func newChecksum(trailer string) hash.Hash {
	switch trailer {
	case "x-amz-checksum-crc32":
		return crc32.NewIEEE()
	case "x-amz-checksum-crc32c":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "x-amz-checksum-crc64nvme":
		return crc64.New(crc64NVME)
	case "x-amz-checksum-sha1":
		return sha1.New()
	case "x-amz-checksum-sha256":
		return sha256.New()
	}
	return nil
}
