package render

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCache(t *testing.T) {
	t.Parallel()
	key := func(c byte) string { return strings.Repeat(string(c), 64) }
	read := func(t *testing.T, c *cache, k string) (string, bool) {
		t.Helper()
		f, _, _, ok := c.get(k)
		if !ok {
			return "", false
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		return string(b), true
	}
	t.Run("put then get", func(t *testing.T) {
		t.Parallel()
		c, err := openCache(t.TempDir(), 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.put(key('a'), outWebP, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		f, size, ext, ok := c.get(key('a'))
		if !ok || size != 5 || ext != outWebP {
			t.Fatalf("get = %v %d %q", ok, size, ext)
		}
		f.Close()
	})
	t.Run("least recently used goes first", func(t *testing.T) {
		t.Parallel()
		c, _ := openCache(t.TempDir(), 10)
		_ = c.put(key('a'), outPNG, []byte("aaaa"))
		_ = c.put(key('b'), outPNG, []byte("bbbb"))
		read(t, c, key('a')) // a is now more recent than b
		_ = c.put(key('c'), outPNG, []byte("cccc"))
		if _, ok := read(t, c, key('b')); ok {
			t.Fatal("b survived eviction")
		}
		if got, ok := read(t, c, key('a')); !ok || got != "aaaa" {
			t.Fatalf("a = %q, %v", got, ok)
		}
		if c.size() > 10 {
			t.Fatalf("size %d over the cap", c.size())
		}
	})
	t.Run("index survives a restart", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		c, _ := openCache(dir, 100)
		_ = c.put(key('d'), outJPEG, []byte("dddd"))
		c2, err := openCache(dir, 100)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := read(t, c2, key('d')); !ok || got != "dddd" {
			t.Fatalf("after reopen: %q, %v", got, ok)
		}
	})
	t.Run("foreign files are not indexed", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		for _, name := range []string{"a.png", ".png", "README.txt"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Repeat("x", 50)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		c, err := openCache(dir, 10) // over the cap: indexing them would evict them at once
		if err != nil {
			t.Fatal(err)
		}
		if c.size() != 0 {
			t.Fatalf("indexed %d bytes of foreign files", c.size())
		}
		if _, err := os.Stat(filepath.Join(dir, "README.txt")); err != nil {
			t.Fatalf("a foreign file was removed: %v", err)
		}
	})
	t.Run("disabled cache", func(t *testing.T) {
		t.Parallel()
		c, err := openCache(t.TempDir(), 0)
		if err != nil || c != nil {
			t.Fatalf("cache %v, %v", c, err)
		}
		if err := c.put(key('e'), outPNG, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, ok := read(t, c, key('e')); ok {
			t.Fatal("a nil cache returned a variant")
		}
	})
}
