package filebackend

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/backendtest"
)

// testMode selects the fallbacks a test store uses instead of its fast paths.
type testMode struct {
	walk    bool     // name-by-name lookups, as on kernels without openat2
	setLink bool     // publish with link instead of what New's probe found (the fast path)
	link    linkMode // linkNone: named temporary files
}

// resolveModes runs fn with openat2 lookups and with the name-by-name walk (the fallback on
// kernels without openat2), and with each way of publishing a blob (an unnamed file linked
// as New's probe found, through /proc/self/fd, and a named temporary file renamed): all must
// behave the same.
func resolveModes(t *testing.T, fn func(t *testing.T, m testMode)) {
	for _, mode := range []struct {
		name string
		m    testMode
	}{
		{"Openat2", testMode{}},
		{"Walk", testMode{walk: true}},
		{"ProcFD", testMode{setLink: true, link: linkProcFD}},
		{"Named", testMode{setLink: true, link: linkNone}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			fn(t, mode.m)
		})
	}
}

func newTestStore(t *testing.T, m testMode, opts Options) *Store {
	t.Helper()
	s, err := New(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	s.noOpenat2.Store(m.walk)
	if m.setLink {
		if m.link != linkNone && s.link == linkNone {
			t.Skip("no O_TMPFILE here")
		}
		s.link = m.link
	}
	return s
}

func TestContract(t *testing.T) {
	resolveModes(t, func(t *testing.T, m testMode) {
		backendtest.Run(t, func(t *testing.T) backend.Store {
			return newTestStore(t, m, Options{SubDir: "stub"})
		})
	})
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, subDir string
		ok           bool
	}{
		{"NoSubDir", "", true},
		{"SubDir", "stub", true},
		{"NestedSubDir", "a/b", true},
		{"DotDot", "../escape", false},
		{"Absolute", "/etc", false},
		{"Dot", ".", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			s, err := New(root, Options{SubDir: tc.subDir})
			if !tc.ok {
				if !errors.Is(err, backend.ErrInvalidKey) {
					t.Fatalf("New(SubDir %q) error = %v, want ErrInvalidKey", tc.subDir, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer s.Close()
			if want := filepath.Join(root, tc.subDir); s.Dir() != want {
				t.Errorf("Dir() = %q, want %q", s.Dir(), want)
			}
			if fi, err := os.Stat(s.Dir()); err != nil || !fi.IsDir() {
				t.Errorf("base folder not created: %v", err)
			}
		})
	}
	if _, err := New("", Options{}); err == nil {
		t.Error("New(\"\") succeeded")
	}
}

// TestLayout pins the reference layout: <root>/<SubDir>/<key>, 0644 files, 0755 folders.
func TestLayout(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s, err := New(root, Options{SubDir: "stub"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put(t, s, "tenant/bucket/dir/a b.txt/v1", "hello")
	old := umask(t)
	p := filepath.Join(root, "stub", "tenant", "bucket", "dir", "a b.txt", "v1")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("blob not at %s: %v", p, err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o644)&^os.FileMode(old); got != want {
		t.Errorf("file mode = %v, want %v", got, want)
	}
	di, err := os.Stat(filepath.Dir(p))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := di.Mode().Perm(), os.FileMode(0o755)&^os.FileMode(old); got != want {
		t.Errorf("folder mode = %v, want %v", got, want)
	}
}

// umask reads the process umask without changing it (tests run in parallel).
func umask(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseInt(strings.TrimSpace(v), 8, 32)
			if err != nil {
				t.Fatal(err)
			}
			return int(m)
		}
	}
	t.Skip("umask not reported")
	return 0
}

func put(t *testing.T, s *Store, key, body string) {
	t.Helper()
	opts := backend.PutOptions{Size: int64(len(body))}
	if _, err := s.Put(t.Context(), key, strings.NewReader(body), opts); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func read(t *testing.T, s *Store, key string, r backend.Range) string {
	t.Helper()
	rc, err := s.Open(t.Context(), key, r)
	if err != nil {
		t.Fatalf("Open(%q, %+v): %v", key, r, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return string(b)
}

// TestOpenOffsetPastEnd pins the documented choice: an empty reader, not an error.
func TestOpenOffsetPastEnd(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, testMode{}, Options{})
	put(t, s, "t/b/o/v", "0123456789")
	for _, tc := range []struct {
		name string
		r    backend.Range
		want string
	}{
		{"AtEnd", backend.Range{Offset: 10, Length: -1}, ""},
		{"PastEnd", backend.Range{Offset: 11, Length: 5}, ""},
		{"FarPastEnd", backend.Range{Offset: 1 << 40, Length: -1}, ""},
		{"ZeroLengthMeansToEnd", backend.Range{Offset: 7, Length: 0}, "789"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := read(t, s, "t/b/o/v", tc.r); got != tc.want {
				t.Errorf("read = %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := s.Open(t.Context(), "t/b/o/v", backend.Range{Offset: -1, Length: -1}); err == nil {
		t.Error("Open with a negative offset succeeded")
	}
}

// TestReadInto checks that ReadInto reads what Open reads, in both resolve modes, and
// refuses what Open would not serve as the row says: a range whose length, by the file's
// size, is not the buffer's; a missing key, a folder, a symbolic link and a FIFO are
// ErrNotFound, and the FIFO does not block.
func TestReadInto(t *testing.T) {
	resolveModes(t, func(t *testing.T, m testMode) {
		s := newTestStore(t, m, Options{})
		ctx := t.Context()
		put(t, s, "t/b/o/v", "0123456789")
		put(t, s, "t/b/o/empty", "")
		for _, tc := range []struct {
			key string
			r   backend.Range
			n   int
		}{
			{"t/b/o/v", backend.Whole, 10},
			{"t/b/o/v", backend.Range{Offset: 3, Length: 4}, 4},
			{"t/b/o/v", backend.Range{Offset: 7, Length: 0}, 3},
			{"t/b/o/v", backend.Range{Offset: 10, Length: -1}, 0},
			{"t/b/o/empty", backend.Whole, 0},
		} {
			dst := make([]byte, tc.n)
			if err := s.ReadInto(ctx, tc.key, tc.r, dst); err != nil {
				t.Errorf("ReadInto(%q, %+v): %v", tc.key, tc.r, err)
				continue
			}
			if want := read(t, s, tc.key, tc.r); string(dst) != want {
				t.Errorf("ReadInto(%q, %+v) = %q, Open reads %q", tc.key, tc.r, dst, want)
			}
		}
		for _, n := range []int{9, 11} {
			if err := s.ReadInto(ctx, "t/b/o/v", backend.Whole, make([]byte, n)); err == nil || errors.Is(err, backend.ErrNotFound) {
				t.Errorf("ReadInto of 10 bytes into %d: %v, want a size error", n, err)
			}
		}
		if err := s.ReadInto(ctx, "t/b/o/v", backend.Range{Offset: -1, Length: -1}, nil); err == nil {
			t.Error("ReadInto with a negative offset succeeded")
		}
		if err := os.Symlink(filepath.Join(s.Dir(), "t/b/o/v"), filepath.Join(s.Dir(), "t/b/o/link")); err != nil {
			t.Fatal(err)
		}
		fifo := unix.Mkfifo(filepath.Join(s.Dir(), "t/b/o/fifo"), 0o644) == nil
		for _, key := range []string{"t/b/o/missing", "t/b/o", "t/b/o/link", "t/b/o/fifo"} {
			if key == "t/b/o/fifo" && !fifo {
				continue
			}
			if err := s.ReadInto(ctx, key, backend.Whole, nil); !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("ReadInto(%q) error = %v, want ErrNotFound", key, err)
			}
		}
	})
}

// TestEmptyFolderCleanup checks that Delete (and a failed Put) remove the folders they
// leave empty, up to but not including the base.
func TestEmptyFolderCleanup(t *testing.T) {
	resolveModes(t, func(t *testing.T, m testMode) {
		s := newTestStore(t, m, Options{SubDir: "stub"})
		ctx := t.Context()
		put(t, s, "t/b/deep/er/obj/v1", "x")
		put(t, s, "t/b/keep/v1", "y")
		if err := s.Delete(ctx, "t/b/deep/er/obj/v1"); err != nil {
			t.Fatal(err)
		}
		assertTree(t, s.Dir(), "t/", "t/b/", "t/b/keep/", "t/b/keep/v1")
		if err := s.Delete(ctx, "t/b/keep/v1"); err != nil {
			t.Fatal(err)
		}
		assertTree(t, s.Dir())
		if _, err := os.Stat(s.Dir()); err != nil {
			t.Fatalf("base folder removed: %v", err)
		}
		_, err := s.Put(ctx, "t/b/failed/v1", strings.NewReader("short"), backend.PutOptions{Size: 6})
		if !errors.Is(err, backend.ErrSizeMismatch) {
			t.Fatalf("Put error = %v, want ErrSizeMismatch", err)
		}
		assertTree(t, s.Dir())
		// Deleting a folder's name is not deleting a blob.
		put(t, s, "t/b/obj/v1", "z")
		if err := s.Delete(ctx, "t/b/obj"); err != nil {
			t.Fatalf("Delete(folder) = %v", err)
		}
		assertTree(t, s.Dir(), "t/", "t/b/", "t/b/obj/", "t/b/obj/v1")
	})
}

// assertTree compares everything below dir (folders with a trailing "/") with want.
func assertTree(t *testing.T, dir string, want ...string) {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			rel += "/"
		}
		got = append(got, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tree below %s:\n got %q\nwant %q", dir, got, want)
	}
}

// TestPutDeleteRace has writers and deleters share folders: a Put must never fail because
// a Delete removed the folder it had just made.
func TestPutDeleteRace(t *testing.T) {
	resolveModes(t, func(t *testing.T, m testMode) {
		s := newTestStore(t, m, Options{NoFsync: true})
		ctx := t.Context()
		const workers, rounds = 4, 150
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := range rounds {
					key := "t/b/shared/obj/" + string(rune('a'+w)) + "-" + strings.Repeat("v", i%7+1)
					if _, err := s.Put(ctx, key, strings.NewReader("data"), backend.PutOptions{Size: 4}); err != nil {
						errs <- err
						return
					}
					if err := s.Delete(ctx, key); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		assertTree(t, s.Dir())
	})
}

func TestXattrs(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, testMode{}, Options{SubDir: "stub"})
	ctx := t.Context()
	opts := backend.PutOptions{Size: 2, ContentType: "image/png", CacheControl: "max-age=3600"}
	if _, err := s.Put(ctx, "t/b/img.png/v1", strings.NewReader("ab"), opts); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Dir(), "t/b/img.png/v1")
	if _, err := unix.Getxattr(p, xattrContentType, nil); errors.Is(err, unix.ENOTSUP) {
		t.Skipf("file system has no user xattrs: %v", err)
	}
	wantXattrs(t, p, "image/png", "max-age=3600")

	if _, err := s.Copy(ctx, "t/b/img.png/v1", "t/b/copy.png/v2"); err != nil {
		t.Fatal(err)
	}
	wantXattrs(t, filepath.Join(s.Dir(), "t/b/copy.png/v2"), "image/png", "max-age=3600")

	opts = backend.PutOptions{Size: -1, ContentType: "text/plain"}
	if _, err := s.Compose(ctx, "t/b/joined/v3", []string{"t/b/img.png/v1", "t/b/copy.png/v2"}, opts); err != nil {
		t.Fatal(err)
	}
	wantXattrs(t, filepath.Join(s.Dir(), "t/b/joined/v3"), "text/plain", "")
	if got := read(t, s, "t/b/joined/v3", backend.Whole); got != "abab" {
		t.Errorf("composed = %q", got)
	}
}

func wantXattrs(t *testing.T, path, contentType, cacheControl string) {
	t.Helper()
	for name, want := range map[string]string{xattrContentType: contentType, xattrCacheControl: cacheControl} {
		buf := make([]byte, 256)
		n, err := unix.Getxattr(path, name, buf)
		if errors.Is(err, unix.ENODATA) {
			n, err = 0, nil
		}
		if err != nil {
			t.Fatalf("getxattr %s %s: %v", path, name, err)
		}
		if got := string(buf[:n]); got != want {
			t.Errorf("%s of %s = %q, want %q", name, path, got, want)
		}
	}
}

// TestDeleteLeavesFolderOfPut: a Delete that empties a key's folder while a Put of this
// process writes a new blob there (an unnamed file is no entry: the folder looks empty)
// leaves the folder to the Put, and removes it once the Put is gone.
func TestDeleteLeavesFolderOfPut(t *testing.T) {
	resolveModes(t, func(t *testing.T, m testMode) {
		s := newTestStore(t, m, Options{NoFsync: true})
		ctx := t.Context()
		put := func(key string) error {
			_, err := s.Put(ctx, key, strings.NewReader("data"), backend.PutOptions{Size: 4})
			return err
		}
		if err := put("t/b/obj/v1"); err != nil {
			t.Fatal(err)
		}
		var kept bool
		s.beforePublish = func() {
			s.beforePublish = nil
			if err := s.Delete(ctx, "t/b/obj/v1"); err != nil {
				t.Error(err)
			}
			_, err := os.Stat(filepath.Join(s.Dir(), "t/b/obj"))
			kept = err == nil
		}
		if err := put("t/b/obj/v2"); err != nil {
			t.Fatal(err)
		}
		if !kept {
			t.Error("the Delete removed the folder a Put was writing in")
		}
		if err := s.Delete(ctx, "t/b/obj/v2"); err != nil {
			t.Fatal(err)
		}
		assertTree(t, s.Dir())
	})
}
