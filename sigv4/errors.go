package sigv4

// Error is the only error type this package returns (apart from io.EOF from
// readers). Code is the S3 error code the S3 dialect writes on the wire; the
// dialect maps it to an HTTP status in its one table. Message is safe to show
// to clients: it never contains secrets, signatures or computed canonical
// strings.
//
// Match with errors.Is against the sentinels below: an *Error returned by
// this package "is" the sentinel it was derived from, whatever its Message.
type Error struct {
	Code    string
	Message string
	// Err is the cause (for example the body's read error), for logs only.
	Err error
	// HeadersNotSigned lists, comma-separated, the x-amz-* headers a request
	// carried without signing them (ErrUnsignedHeaders): S3's <HeadersNotSigned>.
	HeadersNotSigned string
	// Region is the region the server expects (ErrWrongRegion): S3's <Region>.
	Region string

	kind *Error // the sentinel this error was derived from; nil on sentinels
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel e was derived from (or e itself).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return e.root() == t.root()
}

func (e *Error) root() *Error {
	if e.kind != nil {
		return e.kind
	}
	return e
}

// with returns a copy of the sentinel e with a more specific message.
func (e *Error) with(message string) *Error {
	return &Error{Code: e.Code, Message: message, kind: e.root()}
}

// wrap returns a copy of the sentinel e carrying cause.
func (e *Error) wrap(cause error) *Error {
	return &Error{Code: e.Code, Message: e.Message, Err: cause, kind: e.root()}
}

// Sentinels. The comment gives the HTTP status the S3 dialect should use.
// Where the reference server's contract (spec/s3-api.md §2) names a code it is
// used, otherwise the code AWS S3 answers.
var (
	// ErrMissingAuth: no SigV4 Authorization header and no presigned query (403).
	ErrMissingAuth = &Error{Code: "AccessDenied", Message: "Missing signature"}
	// ErrAccessDenied: credential scope names another service; presigned URL
	// not yet valid (403).
	ErrAccessDenied = &Error{Code: "AccessDenied", Message: "Access Denied"}
	// ErrInvalidAccessKeyID: Lookup does not know the access key (403).
	ErrInvalidAccessKeyID = &Error{Code: "InvalidAccessKeyId", Message: "The AWS Access Key Id you provided does not exist in our records."}
	// ErrSignatureDoesNotMatch: request, chunk or trailer signature mismatch,
	// including a request or policy signature that is not 64 hex digits (403).
	ErrSignatureDoesNotMatch = &Error{Code: "SignatureDoesNotMatch", Message: "The request signature we calculated does not match the signature you provided. Check your key and signing method."}
	// ErrRequestTimeTooSkewed: x-amz-date/Date further than MaxSkew from now (403).
	ErrRequestTimeTooSkewed = &Error{Code: "RequestTimeTooSkewed", Message: "The difference between the request time and the current time is too large."}
	// ErrAuthorizationHeaderMalformed: unparsable Authorization header or
	// credential scope (400). The reference answers InvalidSignature here.
	ErrAuthorizationHeaderMalformed = &Error{Code: "InvalidSignature", Message: "The authorization header is malformed"}
	// ErrAuthorizationQueryParametersError: unparsable presigned query (400).
	ErrAuthorizationQueryParametersError = &Error{Code: "AuthorizationQueryParametersError", Message: "Error parsing the X-Amz-Credential parameter"}
	// ErrExpiredPresigned: presigned URL or POST policy past its expiry (400,
	// as the reference; AWS answers 403 AccessDenied "Request has expired").
	ErrExpiredPresigned = &Error{Code: "ExpiredToken", Message: "The provided token has expired."}
	// ErrMissingSecurityHeader: neither x-amz-date nor Date is present (400).
	ErrMissingSecurityHeader = &Error{Code: "MissingSecurityHeader", Message: "Your request is missing a required header: x-amz-date"}
	// ErrInvalidContentSHA256: x-amz-content-sha256 is neither a hex SHA-256,
	// UNSIGNED-PAYLOAD nor a supported streaming algorithm (400).
	ErrInvalidContentSHA256 = &Error{Code: "InvalidRequest", Message: "Invalid x-amz-content-sha256"}
	// ErrXAmzContentSHA256Mismatch: the body does not hash to the declared value (400).
	ErrXAmzContentSHA256Mismatch = &Error{Code: "XAmzContentSHA256Mismatch", Message: "The provided 'x-amz-content-sha256' header does not match what was computed."}
	// ErrIncompleteBody: the body ended before the framing or the declared
	// length said it would, or reading it failed (400).
	ErrIncompleteBody = &Error{Code: "IncompleteBody", Message: "The request body terminated unexpectedly"}
	// ErrMalformedChunk: aws-chunked framing or trailer section is invalid (400).
	ErrMalformedChunk = &Error{Code: "InvalidRequest", Message: "Invalid chunk header"}
	// ErrMissingChunkSignature: a signed stream lacks a chunk or trailer signature (400).
	ErrMissingChunkSignature = &Error{Code: "InvalidSignature", Message: "Missing chunk signature"}
	// ErrChunkTooLarge: a chunk declares more than the chunk size cap (413).
	ErrChunkTooLarge = &Error{Code: "EntityTooLarge", Message: "The chunk exceeded the maximum allowed chunk size"}
	// ErrBadDigest: a trailing x-amz-checksum-* value does not match the body (400).
	ErrBadDigest = &Error{Code: "BadDigest", Message: "The checksum you specified did not match the calculated checksum."}
	// ErrPolicyMalformed: POST form fields or policy document unusable (400).
	ErrPolicyMalformed = &Error{Code: "InvalidSignature", Message: "Invalid POST policy"}
	// ErrPolicyConditionFailed: a POST form does not satisfy its policy (403).
	ErrPolicyConditionFailed = &Error{Code: "AccessDenied", Message: "Policy condition failed"}
	// ErrEntityTooLarge: POST upload above the policy's content-length-range (400).
	ErrEntityTooLarge = &Error{Code: "EntityTooLarge", Message: "Your proposed upload exceeds the maximum allowed size"}
	// ErrUnsignedHeaders: an x-amz-* header is present but not in SignedHeaders,
	// so it could have been added by anyone holding the request (403).
	ErrUnsignedHeaders = &Error{Code: "AccessDenied", Message: "There were headers present in the request which were not signed"}
	// ErrWrongRegion: with EnforceRegion, the credential scope names another
	// region (400). Header auth answers AuthorizationHeaderMalformed; presigned
	// URLs and POST forms answer AuthorizationQueryParametersError, as S3 does.
	ErrWrongRegion = &Error{Code: "AuthorizationHeaderMalformed", Message: "The authorization header is malformed; the region is wrong"}
	// ErrInvalidArgument: an unparsable SigV2 Authorization header, more than one
	// authentication mechanism in one request, a repeated SigV2 query parameter (400).
	ErrInvalidArgument = &Error{Code: "InvalidArgument", Message: "Invalid argument"}
	// ErrRequestExpired: a SigV2 presigned URL past its Expires (403, as S3).
	ErrRequestExpired = &Error{Code: "AccessDenied", Message: "Request has expired"}
	// ErrEntityTooSmall: POST upload below the policy's content-length-range (400).
	ErrEntityTooSmall = &Error{Code: "EntityTooSmall", Message: "Your proposed upload is smaller than the minimum allowed size"}
	// ErrV2Disabled: a SigV2 header, presigned URL or POST form while the Verifier has
	// DisableV2 (400), as S3 answers SigV2 in regions that accept only SigV4.
	ErrV2Disabled = &Error{Code: "InvalidRequest", Message: "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."}
)
