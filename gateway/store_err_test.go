package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stowage/stowage/gateway/backend"
)

// TestStoreErr pins how store failures reach clients: an outage must be retryable (503),
// never a NoSuchKey that tells the client the object is gone, nor a 500.
func TestStoreErr(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want Code
	}{
		{"missing blob", fmt.Errorf("open: %w", backend.ErrNotFound), CodeNoSuchKey},
		{"store unavailable", fmt.Errorf("open: %w", backend.ErrUnavailable), CodeUnavailable},
		{"anything else", errors.New("disk on fire"), CodeInternal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := storeErr(tc.err, "b", "k")
			if got.Code != tc.want || !errors.Is(got, tc.err) || got.Bucket != "b" || got.Key != "k" {
				t.Fatalf("storeErr = %+v, want code %v wrapping the cause", got, tc.want)
			}
		})
	}
}

// An unreachable store while parts are assembled is retryable (503) as on any other path;
// a part that vanished is the client's stale part list.
func TestAssembleErr(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want Code
	}{
		{"part gone", fmt.Errorf("compose: %w", backend.ErrNotFound), CodeInvalidPart},
		{"part resized", fmt.Errorf("compose: %w", backend.ErrSizeMismatch), CodeInvalidPart},
		{"store unavailable", fmt.Errorf("compose: %w", backend.ErrUnavailable), CodeUnavailable},
		{"engine error kept", &Error{Code: CodeTooLarge}, CodeTooLarge},
		{"anything else", errors.New("disk on fire"), CodeInternal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := assembleErr(tc.err); CodeOf(got) != tc.want || !errors.Is(got, tc.err) {
				t.Fatalf("assembleErr = %v, want code %v wrapping the cause", got, tc.want)
			}
		})
	}
}

// openFailStore fails every Open with err.
type openFailStore struct {
	backend.Store
	err error
}

func (s openFailStore) Open(context.Context, string, backend.Range) (io.ReadCloser, error) {
	return nil, s.err
}

// A resumable upload's tail that cannot be read because the store is down is a 503, not
// a 500; a tail the row names but the store lacks stays ours (500), never NoSuchKey.
func TestWithTailStoreErr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want Code
	}{
		{fmt.Errorf("open: %w", backend.ErrUnavailable), CodeUnavailable},
		{fmt.Errorf("open: %w", backend.ErrNotFound), CodeInternal},
	} {
		e := &Engine{store: openFailStore{err: tc.err}}
		_, _, err := e.withTail(context.Background(), "t/b/k/v.tail/x", nil)
		if CodeOf(err) != tc.want || !errors.Is(err, tc.err) {
			t.Fatalf("withTail(%v) = %v, want code %v", tc.err, err, tc.want)
		}
	}
}
