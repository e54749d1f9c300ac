package s3proto

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/sigv4"
)

// errV2UnsignedOperation refuses a SigV2 request whose operation is chosen by a query
// parameter that SigV2 does not sign.
var errV2UnsignedOperation = errorf(403, "AccessDenied",
	"This operation is selected by a query parameter that Signature Version 2 does not sign; sign the request with Signature Version 4")

// errV2OnMount refuses SigV2 under a path prefix (/s3 on the main port). SigV2 does not sign
// the host, so its resource "/s3/b/k" would name bucket b there and bucket s3 (key b/k) at
// the S3 listener's root: a signature must not be replayable onto another object. At the
// root, as at S3, a resource names one bucket and key.
var errV2OnMount = errorf(403, "AccessDenied",
	"Signature Version 2 is accepted only at the root of the S3 listener (S3_PORT); sign with Signature Version 4 here")

// v2SignedOperation reports whether the operation of a SigV2-signed request is the one its
// signature covers. SigV2 signs the path and sigv4.SubresourcesV2 only, so whoever holds a
// presigned URL, or replays a request, may add any other parameter. Such a parameter may
// still pick a read-only neighbour of the signed operation (ListObjectsV2 for list-type=2,
// as botocore sends unsigned; GetObjectAttributes; a configuration probe) or an operation
// that is refused anyway; never another operation that changes or reveals something else,
// whatever classify learns later.
func v2SignedOperation(method string, req *request, h header) bool {
	signed := url.Values{}
	for name, values := range req.query {
		if sigv4.SignedV2(name) {
			signed[name] = values
		}
	}
	if classify(method, req.bucket, req.hasKey, signed, h) == req.op {
		return true
	}
	switch req.op {
	case opListObjectsV2, opGetObjectAttributes, opGetBucketProbe, opNotImplemented, opUnknown:
		return true
	}
	return false
}

// errDeleteUnbound is S3's answer to a DeleteObjects whose body is not bound to the request
// by Content-MD5 or an x-amz-checksum-* header.
var errDeleteUnbound = errorf(400, "InvalidRequest", "Missing required header for this request: Content-MD5 OR x-amz-checksum-*")

// v2BodyBound reports whether a request's body is bound to its signature: SigV2 signs
// Content-MD5 and the x-amz-* headers (a checksum, a hex x-amz-content-sha256) but no body;
// SigV4 with UNSIGNED-PAYLOAD signs the same headers. DeleteObjects needs it, as at S3: else
// a captured request could be replayed within the clock skew with another list of keys.
func v2BodyBound(c *fiber.Ctx, req *request) bool {
	if c.Get("Content-MD5") != "" || req.sig.Payload == sigv4.PayloadSHA256 {
		return true
	}
	for _, alg := range gateway.ChecksumAlgorithms {
		if c.Get("x-amz-checksum-"+strings.ToLower(alg)) != "" {
			return true
		}
	}
	return false
}
