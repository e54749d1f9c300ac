package filebackend

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/gateway/backend"
)

// A multipart upload may have 10,000 parts: Compose must not hold every source open at
// once. The test lowers the descriptor limit below the number of sources (it is not
// parallel, so no other test of the package runs meanwhile).
func TestComposeOpensOneSourceAtATime(t *testing.T) {
	s := newTestStore(t, testMode{}, Options{NoFsync: true})
	ctx := context.Background()
	const n = 300
	srcs := make([]string, n)
	var want bytes.Buffer
	for i := range srcs {
		srcs[i] = fmt.Sprintf("t/b/parts/%d", i)
		part := fmt.Sprintf("<%d>", i)
		want.WriteString(part)
		if _, err := s.Put(ctx, srcs[i], strings.NewReader(part), backend.PutOptions{Size: int64(len(part))}); err != nil {
			t.Fatal(err)
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open descriptors: %v", err)
	}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	// Room for what is open now plus a few dozen, far fewer than the sources.
	lim := unix.Rlimit{Cur: uint64(len(fds) + 50), Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	w, err := s.Compose(ctx, "t/b/joined/v", srcs, backend.PutOptions{Size: int64(want.Len())})
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("Compose of %d sources under a limit of %d descriptors: %v", n, lim.Cur, err)
	}
	if w.Size != int64(want.Len()) {
		t.Errorf("Written.Size = %d, want %d", w.Size, want.Len())
	}
	rc, err := s.Open(ctx, "t/b/joined/v", backend.Whole)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Errorf("composed blob = %.40q... (%v), want %.40q...", got, err, want.Bytes())
	}
}
