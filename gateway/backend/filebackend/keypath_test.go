package filebackend

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stowage/stowage/gateway/backend"
)

// path is where key's blob lives (test helper).
func (s *Store) path(key string) (string, error) {
	segs, err := s.segments(key)
	if err != nil {
		return "", err
	}
	return filepath.Join(append([]string{s.base}, segs...)...), nil
}

func TestKeyPath(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, testMode{}, Options{SubDir: "stub"})
	long := strings.Repeat("x", 255)
	for _, tc := range []struct {
		name, key string
		want      string // relative to the base; "" means ErrInvalidKey
	}{
		{"Plain", "t/b/o/v", "t/b/o/v"},
		{"EmptySegmentsCollapse", "t/b//o///v", "t/b/o/v"},
		{"TrailingSlash", "t/b/o/", "t/b/o"},
		{"DotLed", "t/.hidden/...", "t/.hidden/..."},
		{"DotsInside", "t/..a/a../a..b", "t/..a/a../a..b"},
		{"Backslash", `t/a\..\b`, `t/a\..\b`}, // an ordinary byte on Linux
		{"AllowedChars", "t/AZaz09_!.*'() &$=@;:+,?-", "t/AZaz09_!.*'() &$=@;:+,?-"},
		{"NonASCII", "t/café", "t/café"},
		{"Punctuation", `t/100%_[a]{b}^~"q"<x>|y\z#`, `t/100%_[a]{b}^~"q"<x>|y\z#`}, // no escaping on disk
		{"Segment255", "t/" + long, "t/" + long},
		{"Empty", "", ""},
		{"OnlySlashes", "///", ""},
		{"Absolute", "/etc/passwd", ""},
		{"DotDot", "t/../../etc", ""},
		{"DotDotOnly", "..", ""},
		{"DotDotLast", "t/b/..", ""},
		{"Dot", "t/./b", ""},
		{"DotOnly", ".", ""},
		{"NUL", "t/b\x00/c", ""},
		{"Segment256", "t/" + long + "x", ""},
		{"TempPrefix", "t/" + tempPrefix + "0123/x", ""},
		{"PathTooLong", strings.Repeat("abcdefgh/", 460), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := s.path(tc.key)
			if tc.want == "" {
				if !errors.Is(err, backend.ErrInvalidKey) {
					t.Fatalf("path(%q) = %q, %v; want ErrInvalidKey", tc.key, p, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("path(%q): %v", tc.key, err)
			}
			if want := filepath.Join(s.Dir(), tc.want); p != want {
				t.Errorf("path(%q) = %q, want %q", tc.key, p, want)
			}
		})
	}
}

// TestInvalidKeysEverywhere checks that every method refuses a bad key before touching disk.
func TestInvalidKeysEverywhere(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, testMode{}, Options{})
	ctx := t.Context()
	const bad = "t/../../escape"
	put(t, s, "t/b/ok/v", "x")
	checks := map[string]error{}
	_, checks["Put"] = s.Put(ctx, bad, strings.NewReader("x"), backend.PutOptions{Size: 1})
	_, checks["Open"] = s.Open(ctx, bad, backend.Whole)
	_, checks["Stat"] = s.Stat(ctx, bad)
	checks["Delete"] = s.Delete(ctx, "t/b/ok/v", bad)
	_, checks["CopySrc"] = s.Copy(ctx, bad, "t/b/c/v")
	_, checks["CopyDst"] = s.Copy(ctx, "t/b/ok/v", bad)
	_, checks["ComposeSrc"] = s.Compose(ctx, "t/b/c/v", []string{"t/b/ok/v", bad}, backend.PutOptions{Size: -1})
	_, checks["ComposeDst"] = s.Compose(ctx, bad, []string{"t/b/ok/v"}, backend.PutOptions{Size: -1})
	for op, err := range checks {
		if !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("%s with key %q: error = %v, want ErrInvalidKey", op, bad, err)
		}
	}
	// Delete validated every key first, so the good one is still there.
	if got := read(t, s, "t/b/ok/v", backend.Whole); got != "x" {
		t.Errorf("t/b/ok/v = %q", got)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.Dir()), "escape")); !os.IsNotExist(err) {
		t.Errorf("something was written outside the store: %v", err)
	}
}

// FuzzKeyPath: for any key, either ErrInvalidKey or a path strictly inside the base that
// maps back to itself; never a panic.
func FuzzKeyPath(f *testing.F) {
	for _, seed := range []string{
		"t/b/o/v", "", "/", "..", "a/../b", "a/./b", "a//b", "a\x00b", `a\..\b`, "....",
		"t/b/" + strings.Repeat("x", 256), strings.Repeat("a/", 3000), tempPrefix + "x",
		"t/b/folder/.emptyFolderPlaceholder/v", "t/b/café/v",
	} {
		f.Add(seed)
	}
	base := f.TempDir()
	s, err := New(base, Options{SubDir: "stub"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, key string) {
		p, err := s.path(key)
		if err != nil {
			if !errors.Is(err, backend.ErrInvalidKey) {
				t.Fatalf("path(%q) error %v is not ErrInvalidKey", key, err)
			}
			return
		}
		rel, err := filepath.Rel(s.Dir(), p)
		if err != nil || rel == "." || !filepath.IsLocal(rel) {
			t.Fatalf("path(%q) = %q escapes or names the base %q (rel %q, %v)", key, p, s.Dir(), rel, err)
		}
		if len(p) > maxPath {
			t.Fatalf("path(%q) is %d bytes long", key, len(p))
		}
		for seg := range strings.SplitSeq(rel, "/") {
			if seg == "" || seg == "." || seg == ".." || len(seg) > maxSegment || strings.ContainsRune(seg, 0) {
				t.Fatalf("path(%q) = %q has segment %q", key, p, seg)
			}
		}
		// The relative path is itself a valid key naming the same file.
		if p2, err := s.path(rel); err != nil || p2 != p {
			t.Fatalf("path(%q) = %q, %v; want %q", rel, p2, err, p)
		}
	})
}
