package s3backend

import (
	"errors"
	"net/http"
	"testing"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stowage/stowage/gateway/backend"
)

// An upstream that says it is full (MinIO's 507 XMinioStorageFull, as the SDK builds the
// error, or a bare 507) is ErrInsufficientStorage, not ErrUnavailable: the engine answers
// the latter with a retryable 503, and retrying will not make room.
func TestMapErrStorageFull(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, code string }{{"MinIO code", "XMinioStorageFull"}, {"bare 507", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var api error = &smithy.GenericAPIError{Code: tc.code, Message: "Storage backend has reached its minimum free drive threshold."}
			if tc.code == "" {
				api = errors.New("http 507")
			}
			err := &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusInsufficientStorage}}, Err: api}}
			got := (&Store{}).mapErr(t.Context(), "put", "k", err)
			if !errors.Is(got, backend.ErrInsufficientStorage) || errors.Is(got, backend.ErrUnavailable) {
				t.Fatalf("mapErr = %v, want ErrInsufficientStorage only", got)
			}
		})
	}
}
