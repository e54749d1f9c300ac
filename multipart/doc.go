// Package multipart holds the rules of S3 multipart uploads that do not depend on where
// parts are stored: part number and size limits, which parts a CompleteMultipartUpload may
// name and in what order, the multipart ETag, composite and full-object checksums, and a
// bounded parser for CompleteMultipartUpload request bodies.
//
// Contract: every function is pure (no I/O beyond reading the body it is handed), every
// input a client controls is bounded before it is stored or looped over, and every failure
// is an *Error whose Kind is one of this package's sentinels, so dialects can map it to
// their wire error without reading message text.
//
// It is a leaf: it imports only the standard library.
package multipart
