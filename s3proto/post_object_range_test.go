package s3proto

import (
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/stowage/stowage/sigv4"
)

// TestLengthRangeReader: the file part is cut one byte past the policy's maximum, and a
// maximum of math.MaxInt64 (a client number) neither overflows nor panics.
func TestLengthRangeReader(t *testing.T) {
	cases := []struct {
		name    string
		rng     sigv4.ContentLengthRange
		body    string
		want    string
		wantErr error
	}{
		{"no range", sigv4.ContentLengthRange{}, "hello", "hello", nil},
		{"within", sigv4.ContentLengthRange{Min: 1, Max: 5, Set: true}, "hello", "hello", nil},
		{"too large", sigv4.ContentLengthRange{Min: 0, Max: 3, Set: true}, "hello", "hell", sigv4.ErrEntityTooLarge},
		{"too small", sigv4.ContentLengthRange{Min: 6, Max: 10, Set: true}, "hello", "hello", sigv4.ErrEntityTooSmall},
		{"max int64", sigv4.ContentLengthRange{Min: 0, Max: math.MaxInt64, Set: true}, "hello", "hello", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &lengthRangeReader{r: strings.NewReader(tc.body), rng: tc.rng}
			got, err := io.ReadAll(r)
			if string(got) != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err %v, want %v", err, tc.wantErr)
			}
		})
	}
}
