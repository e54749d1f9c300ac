// Package sigv4 verifies AWS Signature Version 4 as Amazon S3 does: the
// Authorization header, presigned URLs, browser POST policies and the
// aws-chunked streaming bodies (signed chunks, trailing checksums, trailer
// signatures). It also verifies Signature Version 2 (v2.go), for older
// clients: "Authorization: AWS key:signature", presigned URLs with
// AWSAccessKeyId, Expires and Signature, and POST forms with AWSAccessKeyId and
// signature fields.
//
// Contract:
//
//   - It works on a plain Request (method, raw path, raw query, host,
//     lower-case headers) and imports nothing but the standard library: no
//     HTTP server, no fiber, no AWS SDK (the SDK is used only by tests, as the
//     reference signer).
//   - The canonical request is built from the path exactly as sent (no
//     normalisation, no double encoding), the query decoded then re-encoded
//     per SigV4 and sorted after encoding, and the signed headers with values
//     trimmed and inner spaces collapsed; "host" comes from Request.Host.
//     Signatures are compared in constant time; a signature that is not 64
//     hex digits simply does not match (SignatureDoesNotMatch, as S3).
//   - Every x-amz-* header of the request must be signed (ErrUnsignedHeaders,
//     S3's 403 "There were headers present in the request which were not
//     signed"), for presigned URLs too: unsigned, they would let whoever holds
//     the URL or replays the request change what it does (x-amz-copy-source
//     turns a PUT into a copy). The one exception is x-amz-content-sha256 on a
//     presigned URL, whose value is the canonical payload line and so is
//     covered anyway. Other headers (Content-Type, Range, …) may be unsigned.
//   - SigV2 is HMAC-SHA1 over method, Content-MD5, Content-Type, Date (empty
//     when x-amz-date is sent; Expires for presigned URLs), every x-amz-*
//     header (so none can be added unsigned; a presigned URL's x-amz-* query
//     parameters count as headers, as botocore signs them) and the resource:
//     "/bucket" for virtual-hosted requests, the path as sent, and only the
//     SubresourcesV2 of the query. It signs no payload hash (aws-chunked is
//     refused) and no other query parameter: a caller must not let such a
//     parameter change the signed operation (Result.Version tells it was V2).
//     One mechanism per request: a SigV2 carrier beside any other is refused.
//   - Every error is an *Error whose Code is the S3 error code to send; match
//     with errors.Is against the exported sentinels. Messages never contain
//     secrets, signatures or canonical strings.
//   - Bodies are verified while they stream: Result.Body, NewSHA256Reader and
//     NewChunkedReader return io.Readers that hold a bounded buffer (never the
//     body, never a buffer sized by a client's declaration) and report a
//     mismatch as the error of a Read, never as io.EOF. Bytes read before
//     io.EOF are unverified: a caller must commit an upload only after Read
//     returned io.EOF.
//   - Limits: chunk header lines ≤ 256 bytes, chunks ≤ DefaultMaxChunkSize
//     (8 MiB) unless configured, at most 16 trailing headers, X-Amz-Expires ≤
//     7 days, clock skew ≤ 15 minutes, POST policies ≤ 64 KiB.
//
// Typical use for a header-signed streaming PUT:
//
//	res, err := verifier.Verify(req)
//	if err != nil {
//		return err // *sigv4.Error: write res.Code
//	}
//	body, err := res.Body(stream, sigv4.BodyOptions{
//		DecodedLength: decodedLength, // x-amz-decoded-content-length, -1 if absent
//		Trailer:       req.Header.Get("x-amz-trailer"),
//	})
//	if err != nil {
//		return err
//	}
//	// store body; commit only when it returned io.EOF
package sigv4
