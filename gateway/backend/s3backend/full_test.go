package s3backend

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/backendtest"
	"github.com/stowage/stowage/gateway/backend/s3backend/miniotest"
)

// TestUpstreamFull fills MinIO's drive (a real tmpfs, all but 1 MiB taken by a file of
// ours): MinIO answers PutObject with 507 XMinioStorageFull, which the store reports as
// ErrInsufficientStorage (not ErrUnavailable, which the engine answers with a retryable
// 503), and nothing is visible under the key. The body is small enough to be sent whole
// before MinIO answers on an idle machine; a busy one can meet a reset connection instead
// of the 507, so a reset is tried again.
// (MinIO answers an UploadPart that meets a full drive with 500 InternalError, whose only
// sign of the cause is its message text: that stays ErrUnavailable.)
func TestUpstreamFull(t *testing.T) {
	dir := backendtest.SmallDisk(t, 64*mib)
	m := miniotest.StartOn(t, dir)
	s := newStore(t, m, nil)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	filler := int64(st.Bavail)*st.Bsize - mib
	if err := os.WriteFile(filepath.Join(dir, ".filler"), make([]byte, filler), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		key := fmt.Sprintf("full/%d/v1", i)
		// MinIO decides "full" from drive figures it refreshes now and then: until it has
		// seen the filler, a Put meets the disk's ENOSPC (500, an unavailable upstream, as it
		// should be). Once it has, it answers before reading the body and closes, so a busy
		// client may also see a reset. Both are tried again; the 507 must come (hang guard:
		// two minutes, not a timing threshold).
		var err error
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
			_, err = s.Put(t.Context(), key, newCycleReader(2*mib), backend.PutOptions{Size: 2 * mib})
			if !errors.Is(err, backend.ErrUnavailable) || time.Now().After(deadline) {
				break
			}
		}
		if !errors.Is(err, backend.ErrInsufficientStorage) {
			t.Fatalf("Put error = %v, want ErrInsufficientStorage", err)
		}
		if _, err := s.Stat(t.Context(), key); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Stat after the failed Put = %v, want ErrNotFound", err)
		}
	}
}

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
