package harness

import (
	"context"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// forwardedHost sends every request to addr with X-Forwarded-Host set to the host the
// client signed for, as the reverse proxy in front of a multi-tenant Stowage does.
type forwardedHost struct{ rt http.RoundTripper }

func (p forwardedHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-Host", r.URL.Host)
	return p.rt.RoundTrip(r)
}

// TenantS3Client is a path-style S3 client with a static key of endpoint (a tenant's
// http://<tenant host><prefix>) whose requests all reach a multi-tenant Stowage at addr
// with X-Forwarded-Host naming the tenant host; no retries, checksums only when required.
func TenantS3Client(addr, endpoint, keyID, secret string) *s3.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials:                awscreds.NewStaticCredentialsProvider(keyID, secret, ""),
		HTTPClient:                 &http.Client{Transport: forwardedHost{tr}},
		RetryMaxAttempts:           1,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}
