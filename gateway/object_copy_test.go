package gateway

import (
	"context"
	"testing"

	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/inline"
)

// copyHookStore is the file store with a hook run after each server-side copy.
type copyHookStore struct {
	*inline.Store
	afterCopy func()
}

func (s copyHookStore) Copy(ctx context.Context, src, dst string) (backend.Written, error) {
	w, err := s.Store.Copy(ctx, src, dst)
	if err == nil && s.afterCopy != nil {
		s.afterCopy()
	}
	return w, err
}

// A source overwritten while its bytes are copied for a move must not be moved: the
// moved row would carry the new version's metadata over the old version's bytes, and the
// new version's blob would be left with no row and no intent.
func TestMoveRacingSourceOverwrite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "b")
	if _, err := f.put(t, service(), "b", "src", []byte("old"), false); err != nil {
		t.Fatal(err)
	}
	var overwrite error
	f.e.store = copyHookStore{Store: f.e.store.(*inline.Store), afterCopy: func() {
		_, overwrite = f.put(t, service(), "b", "src", []byte("newer bytes"), true)
	}}
	_, err := f.e.MoveObject(ctx, service(), CopyObject{SrcBucket: "b", SrcKey: "src", DstBucket: "b", DstKey: "dst"})
	if overwrite != nil {
		t.Fatal(overwrite)
	}
	wantCode(t, err, CodeNoSuchKey)
	if got, err := f.read(t, service(), "b", "src"); err != nil || string(got) != "newer bytes" {
		t.Fatalf("read src: %q %v", got, err)
	}
	if _, err := f.e.HeadObject(ctx, service(), "b", "dst", false); CodeOf(err) != CodeNoSuchKey {
		t.Fatalf("dst exists after a failed move: %v", err)
	}
	if got := len(f.blobs(t)); got != 1 {
		t.Fatalf("%d blobs, want 1: %v", got, f.blobs(t))
	}
}
