package filebackend

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/backendtest"
)

// files lists the regular files below dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A write that fills the disk (a real tmpfs, ENOSPC) or meets a read-only file system
// (EROFS) is backend.ErrInsufficientStorage with the errno kept, and leaves no temporary
// file behind; a removal on a read-only file system is typed the same way.
func TestFullDisk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := backendtest.SmallDisk(t, 256<<10)
	s, err := New(dir, Options{SubDir: "stub"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	wantFull := func(t *testing.T, what string, err, errno error) {
		t.Helper()
		if !errors.Is(err, backend.ErrInsufficientStorage) || !errors.Is(err, errno) {
			t.Fatalf("%s: %v, want ErrInsufficientStorage wrapping %v", what, err, errno)
		}
	}

	big := bytes.Repeat([]byte("x"), 1<<20)
	_, err = s.Put(ctx, "t/b/big/v1", bytes.NewReader(big), backend.PutOptions{Size: int64(len(big))})
	wantFull(t, "put past the disk size", err, unix.ENOSPC)
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("a failed put left %v", got)
	}
	// Unknown size (a chunked body) fails the same way.
	_, err = s.Put(ctx, "t/b/big/v2", bytes.NewReader(big), backend.PutOptions{Size: -1})
	wantFull(t, "chunked put past the disk size", err, unix.ENOSPC)

	part := bytes.Repeat([]byte("p"), 100<<10)
	for _, k := range []string{"t/b/p/1", "t/b/p/2"} {
		if _, err := s.Put(ctx, k, bytes.NewReader(part), backend.PutOptions{Size: int64(len(part))}); err != nil {
			t.Fatalf("put %s after the failures: %v", k, err)
		}
	}
	_, err = s.Compose(ctx, "t/b/whole/v1", []string{"t/b/p/1", "t/b/p/2"}, backend.PutOptions{Size: 200 << 10})
	wantFull(t, "compose past the disk size", err, unix.ENOSPC)
	_, err = s.Copy(ctx, "t/b/p/1", "t/b/p/copy")
	wantFull(t, "copy past the disk size", err, unix.ENOSPC)
	if got := files(t, dir); len(got) != 2 {
		t.Fatalf("failed compose/copy left %v, want only the two parts", got)
	}

	backendtest.SetReadOnly(t, dir, true)
	_, err = s.Put(ctx, "t/b/small/v1", bytes.NewReader([]byte("x")), backend.PutOptions{Size: 1})
	wantFull(t, "put on a read-only file system", err, unix.EROFS)
	wantFull(t, "delete on a read-only file system", s.Delete(ctx, "t/b/p/1"), unix.EROFS)
}
