package filebackend

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stowage/stowage/gateway/backend"
)

// TestSymlinks plants links below the base and checks that no method follows them: reads
// say ErrNotFound, writes never land outside, deletes remove at most the link itself.
func TestSymlinks(t *testing.T) {
	resolveModes(t, func(t *testing.T, m testMode) {
		s := newTestStore(t, m, Options{SubDir: "stub"})
		ctx := t.Context()
		outside := t.TempDir()
		secret := filepath.Join(outside, "secret")
		if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
			t.Fatal(err)
		}
		put(t, s, "t/b/real/v", "real")
		dir := filepath.Join(s.Dir(), "t", "b")
		climb, err := filepath.Rel(dir, outside)
		if err != nil || !strings.HasPrefix(climb, "..") {
			t.Fatalf("Rel(%s, %s) = %q, %v", dir, outside, climb, err)
		}
		for link, target := range map[string]string{
			"dirlink":  outside,                    // folder link leaving the store
			"filelink": secret,                     // file link leaving the store
			"inside":   filepath.Join(dir, "real"), // folder link staying inside
			"relative": climb,                      // relative link climbing out
		} {
			if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
				t.Fatal(err)
			}
		}
		for _, key := range []string{"t/b/dirlink/secret", "t/b/filelink", "t/b/inside/v", "t/b/relative/secret"} {
			if _, err := s.Stat(ctx, key); !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("Stat(%q) error = %v, want ErrNotFound", key, err)
			}
			if rc, err := s.Open(ctx, key, backend.Whole); !errors.Is(err, backend.ErrNotFound) {
				if err == nil {
					rc.Close()
				}
				t.Errorf("Open(%q) error = %v, want ErrNotFound", key, err)
			}
			if _, err := s.Copy(ctx, key, "t/b/copied/v"); !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("Copy(%q) error = %v, want ErrNotFound", key, err)
			}
			if err := s.Delete(ctx, key); err != nil {
				t.Errorf("Delete(%q) = %v", key, err)
			}
		}
		for _, key := range []string{"t/b/dirlink/new/v", "t/b/relative/new", "t/b/dirlink/secret"} {
			if _, err := s.Put(ctx, key, strings.NewReader("evil"), backend.PutOptions{Size: 4}); err == nil {
				t.Errorf("Put(%q) through a folder link succeeded", key)
			}
		}
		// Writing over a file link replaces the link, never the file it points to.
		put(t, s, "t/b/inside2/v", "x")
		if err := os.Symlink(secret, filepath.Join(dir, "inside2", "w")); err != nil {
			t.Fatal(err)
		}
		put(t, s, "t/b/inside2/w", "overwritten")
		if got := read(t, s, "t/b/inside2/w", backend.Whole); got != "overwritten" {
			t.Errorf("read = %q", got)
		}
		if b, err := os.ReadFile(secret); err != nil || string(b) != "secret" {
			t.Errorf("outside file = %q, %v; want it untouched", b, err)
		}
		entries, _ := os.ReadDir(outside)
		if len(entries) != 1 {
			t.Errorf("outside folder holds %d entries, want 1", len(entries))
		}
		if got := read(t, s, "t/b/real/v", backend.Whole); got != "real" {
			t.Errorf("real blob = %q", got)
		}
		// A sweep does not descend into links either.
		old := time.Now().Add(-48 * time.Hour)
		trap := filepath.Join(outside, tempPrefix+"trap")
		if err := os.WriteFile(trap, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(trap, old, old)
		if _, err := s.SweepTemp(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(trap); err != nil {
			t.Errorf("sweep followed a link out of the store: %v", err)
		}
	})
}

// TestFIFO checks that a planted FIFO neither blocks Open nor reads as a blob.
func TestFIFO(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, testMode{}, Options{})
	put(t, s, "t/b/o/v", "x")
	if err := syscall.Mkfifo(filepath.Join(s.Dir(), "t/b/o/fifo"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		rc, err := s.Open(t.Context(), "t/b/o/fifo", backend.Whole)
		if err == nil {
			rc.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Open(fifo) error = %v, want ErrNotFound", err)
		}
	case <-time.After(10 * time.Second): // a hang, not a timing assertion
		t.Fatal("Open(fifo) blocked")
	}
	if _, err := s.Stat(t.Context(), "t/b/o/fifo"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Stat(fifo) error = %v, want ErrNotFound", err)
	}
}
