package s3backend

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/gateway/backend"
)

var _ backend.Lister = (*Store)(nil)

// listPage is how many keys one ListObjectsV2 call asks for (S3's maximum).
const listPage = 1000

// List reports the blobs whose keys start with prefix and sort after startAfter with
// ListObjectsV2, one page (at most 1000 keys) at a time: S3 lists keys in ascending UTF-8
// byte order, which is the order List promises. Uploads in progress are not objects and are
// not listed. Each page is a call without a body, retried by the SDK and bounded by the
// store's timeout.
func (s *Store) List(ctx context.Context, prefix, startAfter string, fn func(backend.Listed) error) error {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix), MaxKeys: aws.Int32(listPage)}
	if startAfter != "" {
		in.StartAfter = aws.String(s.prefix + startAfter)
	}
	for {
		out, err := s.listPage(ctx, in)
		if err != nil {
			return err
		}
		for _, o := range out.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || key <= startAfter {
				continue
			}
			if err := fn(backend.Listed{Key: key, Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return nil
		}
		in.ContinuationToken, in.StartAfter = out.NextContinuationToken, nil
	}
}

func (s *Store) listPage(ctx context.Context, in *s3.ListObjectsV2Input) (*s3.ListObjectsV2Output, error) {
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	out, err := s.client.ListObjectsV2(cctx, in)
	if err != nil {
		return nil, s.mapErr(ctx, "list", aws.ToString(in.Prefix), err)
	}
	return out, nil
}
