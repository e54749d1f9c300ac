package s3proto

import (
	"net/url"
	"strings"
)

// op is an S3 operation.
type op int

const (
	opUnknown op = iota
	opNotImplemented
	opListBuckets
	opCreateBucket
	opDeleteBucket
	opHeadBucket
	opGetBucketLocation
	opGetBucketVersioning
	opGetBucketProbe // read-only sub-resources of an unconfigured bucket (?acl, ?cors, ...)
	opListObjects
	opListObjectsV2
	opListObjectVersions
	opDeleteObjects
	opPutObject
	opCopyObject
	opGetObject
	opHeadObject
	opDeleteObject
	opGetObjectTagging
	opPutObjectTagging
	opDeleteObjectTagging
	opGetObjectAttributes
	opGetObjectACL
	opCreateMultipartUpload
	opUploadPart
	opUploadPartCopy
	opCompleteMultipartUpload
	opAbortMultipartUpload
	opListParts
	opListMultipartUploads
	opPostObject
	opGetBucketTagging
	opPutBucketTagging
	opDeleteBucketTagging
	opGetBucketACL
	opPutBucketACL
	opPutObjectACL
	opGetBucketNotification
	opPutBucketNotification
	opPutBucketVersioning
	opGetBucketLifecycle
	opPutBucketLifecycle
	opDeleteBucketLifecycle
	numOps
)

var opNames = [...]string{
	opUnknown: "Unknown", opNotImplemented: "NotImplemented", opListBuckets: "ListBuckets",
	opCreateBucket: "CreateBucket", opDeleteBucket: "DeleteBucket", opHeadBucket: "HeadBucket",
	opGetBucketLocation: "GetBucketLocation", opGetBucketVersioning: "GetBucketVersioning",
	opGetBucketProbe: "GetBucketConfiguration", opListObjects: "ListObjects", opListObjectsV2: "ListObjectsV2",
	opListObjectVersions: "ListObjectVersions", opDeleteObjects: "DeleteObjects", opPutObject: "PutObject",
	opCopyObject: "CopyObject", opGetObject: "GetObject", opHeadObject: "HeadObject",
	opDeleteObject: "DeleteObject", opGetObjectTagging: "GetObjectTagging", opPutObjectTagging: "PutObjectTagging",
	opDeleteObjectTagging: "DeleteObjectTagging", opGetObjectAttributes: "GetObjectAttributes",
	opGetObjectACL: "GetObjectAcl", opCreateMultipartUpload: "CreateMultipartUpload", opUploadPart: "UploadPart",
	opUploadPartCopy: "UploadPartCopy", opCompleteMultipartUpload: "CompleteMultipartUpload",
	opAbortMultipartUpload: "AbortMultipartUpload", opListParts: "ListParts",
	opListMultipartUploads: "ListMultipartUploads", opPostObject: "PostObject",
	opGetBucketTagging: "GetBucketTagging", opPutBucketTagging: "PutBucketTagging", opDeleteBucketTagging: "DeleteBucketTagging",
	opGetBucketACL: "GetBucketAcl", opPutBucketACL: "PutBucketAcl", opPutObjectACL: "PutObjectAcl",
	opGetBucketNotification: "GetBucketNotificationConfiguration", opPutBucketNotification: "PutBucketNotificationConfiguration",
	opPutBucketVersioning: "PutBucketVersioning", opGetBucketLifecycle: "GetBucketLifecycleConfiguration",
	opPutBucketLifecycle: "PutBucketLifecycleConfiguration", opDeleteBucketLifecycle: "DeleteBucketLifecycle",
}

func (o op) String() string {
	if o >= 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return "Unknown"
}

// bucketProbes are the bucket sub-resources clients read to learn a bucket's configuration.
// Stowage has none of these configurations, so each answers what S3 answers for a bucket
// where it was never set (see probe.go).
var bucketProbes = []string{"acl", "cors", "policy", "policyStatus", "lifecycle", "encryption", "tagging",
	"object-lock", "website", "logging", "notification", "replication", "ownershipControls",
	"publicAccessBlock", "accelerate", "requestPayment", "analytics", "metrics", "inventory",
	"intelligent-tiering"}

// unsupportedSubresources are S3 sub-resources that Stowage does not implement; a request
// naming one is answered NotImplemented instead of falling through to the base operation
// (the reference overwrites an object with the XML of a PUT ?acl, for example).
var unsupportedSubresources = []string{"acl", "cors", "policy", "lifecycle", "encryption", "tagging",
	"object-lock", "website", "logging", "notification", "replication", "ownershipControls",
	"publicAccessBlock", "accelerate", "requestPayment", "versioning", "retention", "legal-hold",
	"torrent", "restore", "select", "analytics", "metrics", "inventory", "intelligent-tiering",
	"policyStatus", "attributes", "versions", "uploads", "uploadId", "delete", "location", "session",
	"renameObject", "metadataConfiguration", "metadataTable"}

// header is what classify needs from the request headers.
type header struct {
	copySource bool // x-amz-copy-source present
	formData   bool // Content-Type multipart/form-data (a browser POST upload)
}

// classify picks the operation from method, path shape, sub-resources and headers. It is the
// only routing decision of the dialect: no ordered route list. bucket == "" is the service
// (ListBuckets); hasKey means the path names an object.
func classify(method, bucket string, hasKey bool, q url.Values, h header) op {
	switch {
	case bucket == "":
		if method == "GET" || method == "HEAD" {
			return opListBuckets
		}
		return opUnknown
	case hasKey:
		return classifyObject(method, q, h)
	}
	return classifyBucket(method, q, h)
}

func classifyBucket(method string, q url.Values, h header) op {
	switch method {
	case "GET":
		switch {
		case q.Has("uploads"):
			return opListMultipartUploads
		case q.Has("location"):
			return opGetBucketLocation
		case q.Has("versioning"):
			return opGetBucketVersioning
		case q.Has("versions"):
			return opListObjectVersions
		case q.Has("tagging"):
			return opGetBucketTagging
		case q.Has("notification"):
			return opGetBucketNotification
		case q.Has("lifecycle"):
			return opGetBucketLifecycle
		case q.Has("acl"):
			return opGetBucketACL
		case hasAny(q, bucketProbes):
			return opGetBucketProbe
		case hasAny(q, unsupportedSubresources):
			return opNotImplemented
		case q.Get("list-type") == "2":
			return opListObjectsV2
		case q.Has("list-type"):
			return opUnknown
		}
		return opListObjects
	case "HEAD":
		return opHeadBucket
	case "PUT":
		switch {
		case q.Has("tagging"):
			return opPutBucketTagging
		case q.Has("notification"):
			return opPutBucketNotification
		case q.Has("acl"):
			return opPutBucketACL
		case q.Has("versioning"):
			return opPutBucketVersioning
		case q.Has("lifecycle"):
			return opPutBucketLifecycle
		case hasAny(q, unsupportedSubresources):
			return opNotImplemented
		}
		return opCreateBucket
	case "DELETE":
		if q.Has("tagging") {
			return opDeleteBucketTagging
		}
		if q.Has("lifecycle") {
			return opDeleteBucketLifecycle
		}
		if hasAny(q, unsupportedSubresources) {
			return opNotImplemented
		}
		return opDeleteBucket
	case "POST":
		switch {
		case h.formData:
			return opPostObject
		case q.Has("delete"):
			return opDeleteObjects
		}
		return opNotImplemented
	}
	return opUnknown
}

func classifyObject(method string, q url.Values, h header) op {
	switch method {
	case "PUT":
		switch {
		case q.Has("uploadId") && q.Has("partNumber") && h.copySource:
			return opUploadPartCopy
		case q.Has("uploadId") && q.Has("partNumber"):
			return opUploadPart
		case q.Has("tagging"):
			return opPutObjectTagging
		case q.Has("acl"):
			return opPutObjectACL
		case hasAny(q, unsupportedSubresources):
			return opNotImplemented
		case h.copySource:
			return opCopyObject
		}
		return opPutObject
	case "POST":
		switch {
		case q.Has("uploadId"):
			return opCompleteMultipartUpload
		case q.Has("uploads"):
			return opCreateMultipartUpload
		}
		return opNotImplemented
	case "DELETE":
		switch {
		case q.Has("uploadId"):
			return opAbortMultipartUpload
		case q.Has("tagging"):
			return opDeleteObjectTagging
		case hasAny(q, unsupportedSubresources):
			return opNotImplemented
		}
		return opDeleteObject
	case "GET":
		switch {
		case q.Has("uploadId"):
			return opListParts
		case q.Has("tagging"):
			return opGetObjectTagging
		case q.Has("attributes"):
			return opGetObjectAttributes
		case q.Has("acl"):
			return opGetObjectACL
		case hasAny(q, unsupportedSubresources):
			return opNotImplemented
		}
		return opGetObject
	case "HEAD":
		return opHeadObject
	}
	return opUnknown
}

func hasAny(q url.Values, names []string) bool {
	for _, n := range names {
		if q.Has(n) {
			return true
		}
	}
	return false
}

// splitPath turns a path-style path (mount prefix removed, still percent-encoded) into the
// bucket and the once-decoded key. hasKey is true when the path goes past "/bucket/", even
// if the key is empty ("/bucket/" is the bucket itself).
func splitPath(raw string) (bucket, key string, hasKey bool, err error) {
	raw = strings.TrimPrefix(raw, "/")
	b, k, found := strings.Cut(raw, "/")
	if bucket, err = url.PathUnescape(b); err != nil {
		return "", "", false, err
	}
	if !found || k == "" {
		return bucket, "", false, nil
	}
	if key, err = url.PathUnescape(k); err != nil {
		return "", "", false, err
	}
	return bucket, key, true, nil
}
