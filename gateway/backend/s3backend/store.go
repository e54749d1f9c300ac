// Package s3backend keeps blobs in an upstream S3 bucket (AWS S3, MinIO, R2, ...) through
// aws-sdk-go-v2, laid out like the reference server's S3 backend (spec §0.10): the blob of key
// is the object <Prefix><key> of the bucket, with Content-Type and Cache-Control as object
// headers.
//
// Bytes stream both ways. A Put of known size is one PutObject whose body is the caller's
// reader (Content-Length set, UNSIGNED-PAYLOAD, so nothing is buffered or read twice); past
// 5 GiB it becomes a multipart upload whose parts are streamed slices of the same reader. A
// Put of unknown size fills part buffers from a shared pool (two per upload at most: one
// uploading, one filling) and becomes a PutObject if the body fits in the first one.
//
// Calls that carry a body are never retried (the body is spent); the others are retried by
// the SDK's standard retryer. With a path-style custom endpoint (MinIO), GetObject,
// PutObject and a single-key DeleteObject skip the SDK's per-call middleware (direct.go); a
// GetObject or DeleteObject that fails that way goes again through the SDK. Upstream failures that are not the client's or the key's
// (refused connections, timeouts, 5xx, a missing upstream bucket) wrap backend.ErrUnavailable.
package s3backend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/gateway/backend"
)

var (
	_ backend.Store     = (*Store)(nil)
	_ backend.Copier    = (*Store)(nil)
	_ backend.Composer  = (*Store)(nil)
	_ backend.Multipart = (*Store)(nil)

	_ backend.MD5Provider = (*Store)(nil)
)

// S3 limits the store works within.
const (
	minPartSize     = 5 << 20  // every part but the last
	maxPartSize     = 5 << 30  // also the largest PutObject and CopyObject
	maxParts        = 10000    // per multipart upload
	defaultPartSize = 16 << 20 // the reference server's STORAGE_S3_UPLOAD_PART_SIZE default
	copyPartSize    = 1 << 30  // ranges of an UploadPartCopy of a blob past 5 GiB
)

// Options configure a Store.
type Options struct {
	// Bucket is the upstream bucket (STORAGE_S3_BUCKET). Required.
	Bucket string
	// Endpoint is a custom S3 endpoint URL (MinIO, R2, ...); empty means AWS.
	Endpoint string
	// Region of the bucket; empty means the SDK chain's (AWS_REGION), else "us-east-1".
	Region string
	// ForcePathStyle addresses the bucket as a path segment instead of a host name.
	ForcePathStyle bool
	// AccessKeyID and SecretAccessKey are static credentials. Both empty: the SDK's default
	// chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, shared files, web
	// identity, container and instance roles).
	AccessKeyID, SecretAccessKey string
	// MaxSockets caps the connections to the upstream (STORAGE_S3_MAX_SOCKETS); 0 means 200.
	MaxSockets int
	// Timeout bounds every call without a body as a whole (each attempt), and the wait for
	// response headers of every call. 0: no whole-call limit; headers are still awaited at
	// most 5 minutes and connecting at most 10 seconds, so a dead upstream never hangs a
	// request.
	Timeout time.Duration
	// PartSize is the part size of uploads of unknown size (STORAGE_S3_UPLOAD_PART_SIZE);
	// 0 means 16 MiB, the minimum is 5 MiB. Each upload holds at most two such buffers.
	PartSize int64
	// Prefix is prepended to every key (a folder inside Bucket). Usually empty: the
	// reference server stores keys at the bucket's root.
	Prefix string
	// CABundle is PEM CA certificates to trust (beside the system's) for an https
	// endpoint, usually the contents of AWS_CA_BUNDLE. It is ignored for http endpoints.
	CABundle []byte
}

// Store keeps blobs in an upstream S3 bucket. It is safe for concurrent use.
type Store struct {
	client   *s3.Client
	direct   *direct // nil: every call goes through client
	bucket   string
	prefix   string
	timeout  time.Duration
	partSize int64
	bufs     sync.Pool // *[]byte of partSize

	// singlePutMax is the largest known-size Put sent as one PutObject (5 GiB; tests lower
	// it to exercise the streamed multipart path).
	singlePutMax int64
	// etagNotMD5 is set once a PutObject answered an ETag that is not the body's MD5
	// (SSE-KMS, SSE-C, an upstream with other ETags): ProvidesMD5 then answers false.
	etagNotMD5 atomic.Bool
}

// New returns a Store for opts. It does no network I/O; Check verifies the bucket.
func New(ctx context.Context, opts Options) (*Store, error) {
	if opts.Bucket == "" {
		return nil, errors.New("s3backend: empty bucket name")
	}
	partSize := opts.PartSize
	switch {
	case partSize == 0:
		partSize = defaultPartSize
	case partSize < minPartSize || partSize > maxPartSize:
		return nil, fmt.Errorf("s3backend: part size %d outside S3's %d..%d", partSize, minPartSize, int64(maxPartSize))
	}
	tlsEndpoint := true
	if opts.Endpoint != "" {
		u, err := url.Parse(opts.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3backend: endpoint %q: want an http or https URL", opts.Endpoint)
		}
		tlsEndpoint = u.Scheme == "https"
	}
	httpClient, err := newHTTPClient(opts, tlsEndpoint)
	if err != nil {
		return nil, err
	}
	cfg, err := awsConfig(ctx, opts, httpClient)
	if err != nil {
		return nil, err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = opts.ForcePathStyle
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		// Streamed bodies cannot be read twice to compute a checksum up front (and plain
		// http refuses unseekable bodies without one); the engine verifies integrity itself.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	s := &Store{client: client, direct: newDirect(opts, httpClient, cfg), bucket: opts.Bucket, prefix: opts.Prefix,
		timeout: opts.Timeout, partSize: partSize, singlePutMax: maxPartSize}
	s.bufs.New = func() any { b := make([]byte, s.partSize); return &b }
	return s, nil
}

// newHTTPClient builds the transport ourselves: pool size, connect and header timeouts, and
// the CA bundle only where TLS is spoken.
func newHTTPClient(opts Options, tlsEndpoint bool) (*http.Client, error) {
	maxConns := opts.MaxSockets
	if maxConns <= 0 {
		maxConns = 200
	}
	headerTimeout := opts.Timeout
	if headerTimeout <= 0 {
		headerTimeout = 5 * time.Minute
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	tr.DialContext = dialChunked((&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext)
	tr.MaxConnsPerHost = maxConns
	tr.MaxIdleConns = maxConns
	tr.MaxIdleConnsPerHost = maxConns
	tr.ResponseHeaderTimeout = headerTimeout
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ExpectContinueTimeout = time.Second
	tr.ForceAttemptHTTP2 = false
	// Larger than the 4 KiB defaults: fewer syscalls per streamed body.
	tr.ReadBufferSize, tr.WriteBufferSize = 64<<10, 64<<10
	if tlsEndpoint && len(opts.CABundle) > 0 {
		pool, err := systemPoolWith(opts.CABundle)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tr.TLSClientConfig.Clone()
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = newTLSConfig()
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr}, nil
}

// awsConfig resolves credentials and the retryer. The SDK's loader applies AWS_CA_BUNDLE to
// its HTTP client and fails outright when that file is missing or the client is not its own
// type (FIELD-NOTES); our client already carries opts.CABundle, so the loader is handed a
// throw-away bundle that takes precedence over the environment, and its client is discarded.
func awsConfig(ctx context.Context, opts Options, hc *http.Client) (aws.Config, error) {
	retryer := func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.MaxBackoff = 2 * time.Second
			o.RateLimiter = ratelimit.None
		})
	}
	if opts.AccessKeyID != "" || opts.SecretAccessKey != "" {
		return aws.Config{
			Region:      cmp.Or(opts.Region, "us-east-1"),
			Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(opts.AccessKeyID, opts.SecretAccessKey, "")),
			HTTPClient:  hc,
			Retryer:     retryer,
		}, nil
	}
	pem, err := placeholderCA()
	if err != nil {
		return aws.Config{}, fmt.Errorf("s3backend: %w", err)
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(opts.Region), // empty: the chain's (AWS_REGION, profile)
		config.WithHTTPClient(awshttp.NewBuildableClient()),
		config.WithCustomCABundle(strings.NewReader(pem)),
		config.WithRetryer(retryer),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("s3backend: load AWS configuration: %w", err)
	}
	cfg.HTTPClient = hc
	cfg.Region = cmp.Or(cfg.Region, "us-east-1")
	return cfg, nil
}

// Check verifies that the bucket exists and the credentials may use it.
func (s *Store) Check(ctx context.Context) error {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	switch err = s.mapErr(ctx, "check bucket", "", err); {
	case errors.Is(err, backend.ErrNotFound):
		return fmt.Errorf("s3backend: %w: upstream bucket %q does not exist", backend.ErrUnavailable, s.bucket)
	case err != nil:
		return fmt.Errorf("s3backend: upstream bucket %q: %w", s.bucket, err)
	}
	return nil
}

// Bucket is the upstream bucket name.
func (s *Store) Bucket() string { return s.bucket }

// objectKey is the upstream key of a blob key.
func (s *Store) objectKey(key string) (*string, error) {
	if key == "" || strings.IndexByte(key, 0) >= 0 || len(s.prefix)+len(key) > 1024 {
		return nil, fmt.Errorf("%w: %q", backend.ErrInvalidKey, key)
	}
	k := s.prefix + key
	return &k, nil
}

// callContext bounds a call that carries no streamed body by the configured timeout.
func (s *Store) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout > 0 {
		return context.WithTimeout(ctx, s.timeout)
	}
	return context.WithCancel(ctx)
}

func (s *Store) getBuf() *[]byte  { return s.bufs.Get().(*[]byte) }
func (s *Store) putBuf(b *[]byte) { s.bufs.Put(b) }
