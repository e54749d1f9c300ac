package gateway

import (
	"errors"
	"fmt"
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
