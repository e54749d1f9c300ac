package gateway

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/filebackend"
)

// streamOnly hides the file store's ReaderInto: the engine's fallback (Open and read).
type streamOnly struct{ backend.Store }

// TestGetObjectIntoBuffer checks that a read into GetObject.Buffer answers what the stream
// answers (bytes, range, partial), through the file store's ReaderInto and through the
// fallback, and that a body larger than the buffer still comes as a stream.
func TestGetObjectIntoBuffer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "buf")
	for key, data := range map[string]string{"ten": "0123456789", "empty": ""} {
		if _, err := f.put(t, service(), "buf", key, []byte(data), false); err != nil {
			t.Fatal(err)
		}
	}
	store, err := filebackend.New(f.root, filebackend.Options{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	fallback := New(f.db, streamOnly{store}, Options{Roles: testRoles, MaxObjectSize: 1 << 30, WriteTimeout: time.Minute})
	bodyOf := func(t *testing.T, r ObjectReader) []byte {
		t.Helper()
		if r.Body == nil {
			return r.Data
		}
		defer r.Body.Close()
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, e := range map[string]*Engine{"ReaderInto": f.e, "fallback": fallback} {
		t.Run(name, func(t *testing.T) {
			for _, key := range []string{"ten", "empty"} {
				for _, rng := range []string{"", "bytes=2-5", "bytes=-3", "bytes=8-", "bytes=9-9"} {
					in := GetObject{Bucket: "buf", Key: key, Range: rng, S3Range: true}
					want, werr := e.GetObject(ctx, service(), in)
					var wantBody []byte
					if werr == nil {
						wantBody = bodyOf(t, want)
					}
					for _, size := range []int{0, 3, 64} {
						in.Buffer = make([]byte, 0, size)
						got, err := e.GetObject(ctx, service(), in)
						if CodeOf(err) != CodeOf(werr) {
							t.Errorf("%s %q, buffer %d: error %v, stream's %v", key, rng, size, err, werr)
							continue
						}
						if err != nil {
							continue
						}
						fits := got.Size <= int64(size) || (got.Partial && got.Range.Length() <= int64(size))
						if fits != (got.Body == nil) {
							t.Errorf("%s %q, buffer %d: body stream %v, want one only when the bytes do not fit", key, rng, size, got.Body != nil)
						}
						if b := bodyOf(t, got); !bytes.Equal(b, wantBody) || got.Partial != want.Partial || got.Range != want.Range {
							t.Errorf("%s %q, buffer %d: %q partial %v %+v, stream: %q partial %v %+v",
								key, rng, size, b, got.Partial, got.Range, wantBody, want.Partial, want.Range)
						}
					}
				}
			}
			_, err := e.GetObject(ctx, service(), GetObject{Bucket: "buf", Key: "missing", Buffer: make([]byte, 0, 64)})
			wantCode(t, err, CodeNoSuchKey)
		})
	}
}
