// Package s3proto is the S3 protocol dialect: it classifies a request into one S3 operation,
// verifies its AWS Signature V4 (bodies while they stream) or V2, makes one engine call and renders
// S3's XML. One Handler serves /s3 on the main port (path-style) and the root of the
// optional S3 listener (path- and virtual-hosted-style).
package s3proto

import (
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/gateway/forwarded"
	"github.com/stowage/stowage/sigv4"
)

// Options configure the S3 dialect.
type Options struct {
	// AccessKeyID and SecretKey are the service credentials (S3_PROTOCOL_ACCESS_KEY_*):
	// requests signed with them act as the service role.
	AccessKeyID string
	SecretKey   string
	// TenantID and AnonKey are the session-token credentials: access key = tenant id,
	// secret = anon key, X-Amz-Security-Token = a user JWT checked by Verifier (RLS applies).
	TenantID string
	AnonKey  string
	Verifier *auth.Verifier
	Roles    auth.Roles
	// ServiceKey is the service role's JWT, the identity of service-credential requests.
	ServiceKey string
	// Region is STORAGE_S3_REGION (or SERVER_REGION).
	Region string
	// EnforceRegion (S3_PROTOCOL_ENFORCE_REGION) refuses signatures whose credential scope
	// names another region than Region, as AWS does; off, any region is accepted.
	EnforceRegion bool
	// DisableSigV2 (S3_PROTOCOL_ALLOW_SIGV2=false) refuses SigV2 headers, presigned URLs
	// and POST forms with 400 InvalidRequest, as S3 regions that accept only SigV4.
	DisableSigV2 bool
	// StandardLimit is UPLOAD_FILE_SIZE_LIMIT_STANDARD (0 = off).
	StandardLimit int64
	// XMLLimit caps XML request bodies (DeleteObjects, tagging); 0 means 2 MiB, enough for
	// 1000 keys of 1024 bytes.
	XMLLimit int64
	// VirtualHostDomains are the host names under which the S3 listener's root accepts
	// virtual-hosted-style requests (<bucket>.<domain>).
	VirtualHostDomains []string
	// What the client signed when a proxy stands in front (spec s3-api §2.2): PathPrefix
	// (S3_PROTOCOL_PREFIX) goes before the path that arrives, or X-Forwarded-Prefix when
	// AllowForwardedPath (REQUEST_ALLOW_X_FORWARDED_PATH). The signed host is, in order,
	// PublicHost (STORAGE_PUBLIC_URL's), Forwarded: host= when AllowForwardedHeader
	// (S3_ALLOW_FORWARDED_HEADER), the header HostHeader names
	// (S3_PROTOCOL_NON_CANONICAL_HOST_HEADER), X-Forwarded-Host, then Host.
	PathPrefix           string
	AllowForwardedPath   bool
	PublicHost           string
	AllowForwardedHeader bool
	HostHeader           string
	// DownloadTimeout bounds one GetObject's upstream read; 0 means one hour.
	DownloadTimeout time.Duration
	Logger          *slog.Logger
	// Now is the clock of signature checks; nil means time.Now.
	Now func() time.Time
}

// Handler serves the S3 operations over one engine.
type Handler struct {
	engine   *gateway.Engine
	opts     Options
	verifier *sigv4.Verifier
	ops      map[op]func(*fiber.Ctx, *request) error
}

// New returns a Handler.
func New(e *gateway.Engine, opts Options) *Handler {
	if opts.XMLLimit <= 0 {
		opts.XMLLimit = 2 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slogDiscard
	}
	if opts.DownloadTimeout <= 0 {
		opts.DownloadTimeout = time.Hour
	}
	if opts.TenantID == "" {
		opts.TenantID = "storage-single-tenant"
	}
	h := &Handler{engine: e, opts: opts}
	h.verifier = &sigv4.Verifier{Region: opts.Region, EnforceRegion: opts.EnforceRegion, Now: opts.Now, Lookup: h.lookup,
		DisableV2: opts.DisableSigV2}
	h.ops = h.operations()
	return h
}

// lookup returns the secret of the service credentials or of the session-token mode.
func (h *Handler) lookup(accessKeyID string) (string, bool) {
	switch {
	case h.opts.AccessKeyID != "" && accessKeyID == h.opts.AccessKeyID:
		return h.opts.SecretKey, h.opts.SecretKey != ""
	case h.opts.AnonKey != "" && accessKeyID == h.opts.TenantID:
		return h.opts.AnonKey, true
	}
	return "", false
}

// Mount serves S3 path-style under prefix of r ("/s3" on the main port).
func (h *Handler) Mount(r fiber.Router, prefix string) {
	serve := h.serve(prefix, false)
	r.All(prefix, serve)
	r.All(prefix+"/*", serve)
}

// MountRoot serves S3 at the root of r (the S3 listener): path-style, and virtual-hosted
// style for hosts under Options.VirtualHostDomains.
func (h *Handler) MountRoot(r fiber.Router) {
	serve := h.serve("", true)
	r.All("/", serve)
	r.All("/*", serve)
}

// request is one classified, authenticated S3 request.
type request struct {
	op          op
	bucket, key string
	hasKey      bool
	query       url.Values
	sig         sigv4.Result
	principal   auth.Principal
	resource    string
}

// caller is the engine's view of this request for RLS policies.
func (h *Handler) caller(c *fiber.Ctx, req *request) gateway.Caller {
	headers := gateway.RequestHeaders(c.Request().Header.VisitAll, func(name string) bool {
		return name == "authorization" || name == "x-amz-security-token"
	})
	return gateway.Caller{Principal: req.principal, Operation: "storage.s3." + req.op.String(),
		Method: c.Method(), Path: c.OriginalURL(), Headers: headers}
}

func (h *Handler) serve(prefix string, virtualHost bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set("x-amz-request-id", requestID(c))
		req, err := h.parse(c, prefix, virtualHost)
		if err != nil {
			return &requestError{err: err, resource: req.resource}
		}
		if err := h.dispatch(c, req); err != nil {
			return &requestError{err: err, resource: req.resource}
		}
		return nil
	}
}

// parse addresses, classifies and authenticates the request.
func (h *Handler) parse(c *fiber.Ctx, prefix string, virtualHost bool) (*request, error) {
	req := &request{}
	rawPath := string(c.Request().URI().PathOriginal())
	if i := strings.IndexByte(rawPath, '?'); i >= 0 {
		rawPath = rawPath[:i]
	}
	rest := strings.TrimPrefix(rawPath, prefix)
	var err error
	vbucket := h.virtualBucket(c, virtualHost)
	if b := vbucket; b != "" {
		req.bucket = b
		if k := strings.TrimPrefix(rest, "/"); k != "" {
			req.key, err = url.PathUnescape(k)
			req.hasKey = true
		}
	} else {
		req.bucket, req.key, req.hasKey, err = splitPath(rest)
	}
	req.resource = strings.Trim(req.bucket+"/"+req.key, "/")
	if err != nil {
		return req, errorf(400, "InvalidURI", "Couldn't parse the specified URI.")
	}
	rawQuery := string(c.Request().URI().QueryString())
	if req.query, err = url.ParseQuery(rawQuery); err != nil {
		return req, errorf(400, "InvalidArgument", "Invalid query string")
	}
	hdr := header{copySource: c.Get("x-amz-copy-source") != "", formData: isFormData(c.Get(fiber.HeaderContentType))}
	req.op = classify(c.Method(), req.bucket, req.hasKey, req.query, hdr)
	if req.op == opPostObject {
		return req, nil // signed by its form fields: postObject authenticates (spec §2.1.3)
	}
	sreq := sigv4.Request{Method: c.Method(), RawPath: h.signedPrefix(c) + rawPath, RawQuery: rawQuery, Host: h.signedHost(c),
		Header: sigv4.Header{}, VirtualHostBucket: vbucket}
	c.Request().Header.VisitAll(func(k, v []byte) { sreq.Header.Add(string(k), string(v)) })
	creds := h.credentials(c.UserContext())
	if req.sig, err = creds.verifier().Verify(sreq); err != nil {
		return req, creds.failed(err)
	}
	if req.sig.Version == 2 && prefix != "" {
		return req, errV2OnMount
	}
	if req.sig.Version == 2 && !v2SignedOperation(c.Method(), req, hdr) {
		return req, errV2UnsignedOperation
	}
	req.principal, err = h.principal(req.sig, creds)
	return req, err
}

// signedPrefix is the path prefix a proxy in front stripped from what the client signed.
func (h *Handler) signedPrefix(c *fiber.Ctx) string {
	if h.opts.AllowForwardedPath {
		if p := c.Get("X-Forwarded-Prefix"); p != "" {
			return forwarded.Prefix(p)
		}
	}
	return forwarded.Prefix(h.opts.PathPrefix)
}

// signedHost is the host the client signed (see Options).
func (h *Handler) signedHost(c *fiber.Ctx) string {
	if h.opts.PublicHost != "" {
		return h.opts.PublicHost
	}
	if h.opts.AllowForwardedHeader {
		if host, _ := forwarded.Parse(c.Get("Forwarded")); host != "" {
			return host
		}
	}
	if h.opts.HostHeader != "" {
		if v := c.Get(h.opts.HostHeader); v != "" {
			return v
		}
	}
	if xh := c.Get("X-Forwarded-Host"); xh != "" {
		xh = strings.ToLower(xh)
		if p := c.Get("X-Forwarded-Port"); p != "" && p != "80" && p != "443" {
			if i := strings.LastIndexByte(xh, ':'); i >= 0 && !strings.HasSuffix(xh, "]") {
				xh = xh[:i]
			}
			xh += ":" + p
		}
		return xh
	}
	return string(c.Request().Host())
}

// principal maps verified credentials to an identity (spec §2.3): a session token is a user
// JWT whose role RLS applies to; the service credentials without one act as the service role;
// an admin-created credential acts as the claims stored with it.
func (h *Handler) principal(res sigv4.Result, creds *credentials) (auth.Principal, error) {
	if res.SessionToken != "" {
		if h.opts.Verifier == nil {
			return auth.Principal{}, errorf(403, "AccessDenied", "Session tokens are not accepted")
		}
		p, err := h.opts.Verifier.Verify(res.SessionToken)
		if err != nil {
			return auth.Principal{}, errorf(403, "AccessDenied", strings.TrimPrefix(err.Error(), auth.ErrInvalidToken.Error()+": "))
		}
		return p, nil
	}
	if res.AccessKeyID == h.opts.AccessKeyID {
		return h.opts.Roles.ServicePrincipal(h.opts.ServiceKey), nil
	}
	if creds.claims != nil { // an admin-created credential: its stored claims, under RLS
		return creds.principal()
	}
	return auth.Principal{}, errorf(403, "AccessDenied", "A session token (a user JWT) is required with these credentials")
}

// virtualBucket returns the bucket named by a virtual-hosted-style Host, "" otherwise.
func (h *Handler) virtualBucket(c *fiber.Ctx, allowed bool) string {
	if !allowed {
		return ""
	}
	host := strings.ToLower(string(c.Request().Host()))
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	for _, d := range h.opts.VirtualHostDomains {
		if b, ok := strings.CutSuffix(host, "."+strings.ToLower(d)); ok && b != "" {
			return b
		}
	}
	return ""
}

func (h *Handler) dispatch(c *fiber.Ctx, req *request) error {
	fn := h.ops[req.op]
	if fn == nil {
		return errMethodNotAllowed
	}
	return fn(c, req)
}

// operations is the operation table; opUnknown has no entry (MethodNotAllowed).
func (h *Handler) operations() map[op]func(*fiber.Ctx, *request) error {
	return map[op]func(*fiber.Ctx, *request) error{
		opNotImplemented:          func(*fiber.Ctx, *request) error { return errNotImplemented },
		opListBuckets:             h.listBuckets,
		opCreateBucket:            h.createBucket,
		opDeleteBucket:            h.deleteBucket,
		opHeadBucket:              h.headBucket,
		opGetBucketLocation:       h.getBucketLocation,
		opGetBucketVersioning:     h.getBucketVersioning,
		opPutBucketVersioning:     h.putBucketVersioning,
		opGetBucketLifecycle:      h.getBucketLifecycle,
		opPutBucketLifecycle:      h.putBucketLifecycle,
		opDeleteBucketLifecycle:   h.deleteBucketLifecycle,
		opGetBucketProbe:          h.getBucketProbe,
		opListObjects:             h.listObjectsV1,
		opListObjectsV2:           h.listObjectsV2,
		opListObjectVersions:      h.listObjectVersions,
		opDeleteObjects:           h.deleteObjects,
		opPutObject:               h.putObject,
		opCopyObject:              h.copyObject,
		opGetObject:               h.getObject,
		opHeadObject:              h.headObject,
		opDeleteObject:            h.deleteObject,
		opGetObjectTagging:        h.getObjectTagging,
		opPutObjectTagging:        h.putObjectTagging,
		opDeleteObjectTagging:     h.deleteObjectTagging,
		opGetObjectAttributes:     h.getObjectAttributes,
		opGetObjectACL:            h.getObjectACL,
		opCreateMultipartUpload:   h.createMultipartUpload,
		opUploadPart:              h.uploadPart,
		opUploadPartCopy:          h.uploadPartCopy,
		opCompleteMultipartUpload: h.completeMultipartUpload,
		opAbortMultipartUpload:    h.abortMultipartUpload,
		opListParts:               h.listParts,
		opListMultipartUploads:    h.listMultipartUploads,
		opPostObject:              h.postObject,
		opGetBucketTagging:        h.getBucketTagging,
		opPutBucketTagging:        h.putBucketTagging,
		opDeleteBucketTagging:     h.deleteBucketTagging,
		opGetBucketACL:            h.getBucketACL,
		opPutBucketACL:            h.putBucketACL,
		opPutObjectACL:            h.putObjectACL,
		opGetBucketNotification:   h.getBucketNotification,
		opPutBucketNotification:   h.putBucketNotification,
	}
}

// body returns the request body as a stream checked against the signature, and its size
// (x-amz-decoded-content-length for aws-chunked bodies; -1 when unknown).
func (h *Handler) body(c *fiber.Ctx, req *request) (io.Reader, int64, error) {
	var stream io.Reader = c.Context().RequestBodyStream()
	if stream == nil {
		stream = strings.NewReader("")
	}
	size := int64(c.Request().Header.ContentLength())
	if size < 0 {
		size = -1
	}
	decoded := int64(-1)
	if req.sig.Payload.Streaming() {
		size = -1
		if v := c.Get("x-amz-decoded-content-length"); v != "" {
			n, err := parseNonNegative(v)
			if err != nil {
				return nil, 0, errorf(400, "InvalidArgument", "Invalid x-amz-decoded-content-length")
			}
			size, decoded = n, n
		}
	}
	body, err := req.sig.Body(stream, sigv4.BodyOptions{DecodedLength: decoded, Trailer: c.Get("x-amz-trailer")})
	if err != nil {
		return nil, 0, err
	}
	return body, size, nil
}

// readXMLBody reads a small XML body through its signature check and a size cap, then
// decodes it into v.
func (h *Handler) readXMLBody(c *fiber.Ctx, req *request, v any) error {
	data, err := h.readSmallBody(c, req)
	if err != nil {
		return err
	}
	if err := decodeXML(data, v); err != nil {
		return errMalformedXML
	}
	return nil
}

func (h *Handler) readSmallBody(c *fiber.Ctx, req *request) ([]byte, error) {
	if n := c.Request().Header.ContentLength(); int64(n) > h.opts.XMLLimit {
		return nil, errXMLTooLarge
	}
	body, _, err := h.body(c, req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(body, h.opts.XMLLimit+1))
	if err != nil {
		return nil, &gateway.Error{Code: gateway.CodeIncompleteBody, Err: err}
	}
	if int64(len(data)) > h.opts.XMLLimit {
		return nil, errXMLTooLarge
	}
	if err := checkSmallBodyDigests(c, data); err != nil {
		return nil, err
	}
	return data, nil
}
