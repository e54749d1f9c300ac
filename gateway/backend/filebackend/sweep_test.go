package filebackend

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/gateway/backend"
)

func TestSweepTemp(t *testing.T) {
	resolveModes(t, func(t *testing.T, m testMode) {
		s := newTestStore(t, m, Options{SubDir: "stub"})
		ctx := t.Context()
		put(t, s, "t/b/live/v1", "live")
		base := s.Dir()
		old := time.Now().Add(-2 * time.Hour)
		files := map[string]time.Time{
			"t/b/live/" + tempPrefix + "01~v2":   old,        // stale: removed
			"t/b/gone/x/" + tempPrefix + "02~v1": old,        // stale, its folders go too
			"t/b/live/" + tempPrefix + "03~v3":   time.Now(), // an upload in progress: kept
			"t/b/live/.hidden-but-not-temp":      old,        // not ours: kept
		}
		for name, mtime := range files {
			p := filepath.Join(base, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(base, "t/b/empty/folder"), 0o755); err != nil {
			t.Fatal(err)
		}
		removed, err := s.SweepTemp(ctx, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if removed != 2 {
			t.Errorf("SweepTemp removed %d files, want 2", removed)
		}
		assertTree(t, base, "t/", "t/b/", "t/b/live/",
			"t/b/live/.hidden-but-not-temp", "t/b/live/"+tempPrefix+"03~v3", "t/b/live/v1")
		if got := read(t, s, "t/b/live/v1", backend.Whole); got != "live" {
			t.Errorf("live blob = %q", got)
		}
	})
}

// TestFailedPutLeavesNothing: a body that fails mid-stream leaves no file, temporary or not.
func TestFailedPutLeavesNothing(t *testing.T) {
	resolveModes(t, func(t *testing.T, m testMode) {
		s := newTestStore(t, m, Options{})
		put(t, s, "t/b/other/v", "x")
		boom := errors.New("boom")
		body := io.MultiReader(strings.NewReader(strings.Repeat("a", 1<<20)), &errReader{boom})
		_, err := s.Put(t.Context(), "t/b/o/v", body, backend.PutOptions{Size: 2 << 20})
		if !errors.Is(err, boom) {
			t.Fatalf("Put error = %v, want %v", err, boom)
		}
		assertTree(t, s.Dir(), "t/", "t/b/", "t/b/other/", "t/b/other/v")
	})
}

// TestPutIntoRemovedFolder: an unnamed file is no entry, so while its body streams its folder
// looks empty to a concurrent Delete or SweepTemp, which may remove it (and its parents). The
// Put makes the folders again and still publishes its bytes.
func TestPutIntoRemovedFolder(t *testing.T) {
	resolveModes(t, func(t *testing.T, m testMode) {
		s := newTestStore(t, m, Options{})
		if s.link == linkNone {
			t.Skip("a named temporary file keeps its folder")
		}
		removed := 0
		s.beforePublish = func() {
			if removed > 0 {
				return
			}
			for _, dir := range []string{"t/b/o", "t/b", "t"} {
				if err := os.Remove(filepath.Join(s.Dir(), dir)); err != nil {
					t.Errorf("remove %s: %v", dir, err)
				}
			}
			removed++
		}
		put(t, s, "t/b/o/v", "bytes")
		if removed != 1 {
			t.Fatalf("the hook ran %d times", removed)
		}
		if got := read(t, s, "t/b/o/v", backend.Whole); got != "bytes" {
			t.Errorf("read %q", got)
		}
		assertTree(t, s.Dir(), "t/", "t/b/", "t/b/o/", "t/b/o/v")
	})
}

type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) { return 0, r.err }

const (
	crashEnv  = "FILEBACKEND_CRASH_ROOT"
	namedEnv  = "FILEBACKEND_CRASH_NAMED" // the child writes named temporary files
	crashTest = "TestCrashMidPut"
)

// TestCrashMidPut kills a process in the middle of a Put (a real crash: no deferred cleanup
// runs) and checks that the key reads as missing and what remains: with unnamed (O_TMPFILE)
// files only the key's empty folder; with named temporary files (the fallback) one temporary
// file, which SweepTemp removes once it is old enough. SweepTemp then leaves nothing.
func TestCrashMidPut(t *testing.T) {
	if root := os.Getenv(crashEnv); root != "" {
		crashingPut(root, os.Getenv(namedEnv) != "")
		return
	}
	t.Parallel()
	for _, tc := range []struct {
		name  string
		named bool
	}{{"Unnamed", false}, {"Named", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if !tc.named && probeLink(unixOpenDir(t, t.TempDir())) == linkNone {
				t.Skip("no O_TMPFILE here")
			}
			root := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^"+crashTest+"$")
			cmd.Env = append(os.Environ(), crashEnv+"="+root)
			if tc.named {
				cmd.Env = append(cmd.Env, namedEnv+"=1")
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			line, err := bufio.NewReader(out).ReadString('\n')
			if line != "writing\n" {
				t.Fatalf("child said %q, %v", line, err)
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err == nil {
				t.Fatal("the child exited cleanly; it should have been killed")
			}

			s, err := New(root, Options{SubDir: "stub"})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Stat(t.Context(), "t/b/crashed/v1"); !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("Stat after crash: %v, want ErrNotFound", err)
			}
			dir := filepath.Join(s.Dir(), "t/b/crashed")
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.named {
				if len(entries) != 0 {
					t.Fatalf("after the crash %s holds %v, want nothing", dir, entries)
				}
				if n, err := s.SweepTemp(t.Context(), time.Hour); err != nil || n != 0 {
					t.Errorf("SweepTemp(1h) = %d, %v; want 0", n, err)
				}
				assertTree(t, s.Dir())
				return
			}
			if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), tempPrefix) {
				t.Fatalf("after the crash %s holds %v, want one temporary file", dir, entries)
			}
			if n, err := s.SweepTemp(t.Context(), time.Hour); err != nil || n != 0 {
				t.Errorf("SweepTemp(1h) = %d, %v; want a fresh temporary file kept", n, err)
			}
			old := time.Now().Add(-2 * time.Hour)
			if err := os.Chtimes(filepath.Join(dir, entries[0].Name()), old, old); err != nil {
				t.Fatal(err)
			}
			if n, err := s.SweepTemp(t.Context(), time.Hour); err != nil || n != 1 {
				t.Errorf("SweepTemp(1h) = %d, %v; want 1", n, err)
			}
			assertTree(t, s.Dir())
		})
	}
}

func unixOpenDir(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// crashingPut runs in the child: it starts a Put, says so once bytes reached the file, and
// then blocks until killed.
func crashingPut(root string, named bool) {
	s, err := New(root, Options{SubDir: "stub"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if named {
		s.link = linkNone
	}
	body := io.MultiReader(strings.NewReader(strings.Repeat("a", 1<<20)), &announceAndBlock{})
	s.Put(context.Background(), "t/b/crashed/v1", body, backend.PutOptions{Size: 2 << 20})
	os.Exit(3) // unreachable unless Put returned
}

type announceAndBlock struct{}

func (*announceAndBlock) Read([]byte) (int, error) {
	fmt.Println("writing")
	time.Sleep(time.Hour) // not select{}: the runtime would call that a deadlock and exit
	return 0, io.EOF
}

// TestSweepFolderRemovedMidWalk: a folder removed after the sweep opened it (an upload's
// parts cleaned up by its completion while fsck sweeps) holds nothing left to sweep; it is
// not an error (getdents on a removed folder answers ENOENT).
func TestSweepFolderRemovedMidWalk(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, testMode{}, Options{NoFsync: true})
	dir := filepath.Join(s.Dir(), "t/b/k/v.parts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := openDirAt(s.baseFD, "t/b/k/v.parts")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if n, err := s.sweepDir(t.Context(), fd, s.base+"/t/b/k/v.parts", time.Now()); err != nil || n != 0 {
		t.Fatalf("sweeping a removed folder: %d removed, %v; want 0, no error", n, err)
	}
}
