package render

import (
	"container/list"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// cache keeps rendered variants on local disk under keys that name the object version,
// the normalised options and the output target, so an overwritten object (new version)
// can never be answered from an old variant. Its total size is capped; the least recently
// used variants go first. A nil *cache caches nothing.
type cache struct {
	dir string
	max int64

	mu    sync.Mutex
	total int64
	lru   *list.List               // front = most recently used
	index map[string]*list.Element // key → element of *cacheEntry
}

type cacheEntry struct {
	key  string
	ext  outFormat
	size int64
}

// openCache indexes what a previous run left in dir. maxBytes <= 0 disables the cache.
func openCache(dir string, maxBytes int64) (*cache, error) {
	if maxBytes <= 0 || dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	c := &cache{dir: dir, max: maxBytes, lru: list.New(), index: map[string]*list.Element{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		name := d.Name()
		if strings.HasPrefix(name, ".tmp-") { // an interrupted write
			_ = os.Remove(p)
			return nil
		}
		key, ext, ok := strings.Cut(name, ".")
		info, ierr := d.Info()
		if !ok || ierr != nil || len(key) != sha256.Size*2 { // not a variant: leave it alone
			return nil
		}
		c.add(&cacheEntry{key: key, ext: outFormat(ext), size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.evict()
	return c, nil
}

func (c *cache) path(key string, ext outFormat) string {
	return filepath.Join(c.dir, key[:2], key+"."+string(ext))
}

func (c *cache) add(e *cacheEntry) {
	if old, ok := c.index[e.key]; ok {
		c.total -= old.Value.(*cacheEntry).size
		c.lru.Remove(old)
	}
	c.index[e.key] = c.lru.PushFront(e)
	c.total += e.size
}

// get opens the variant stored under key.
func (c *cache) get(key string) (*os.File, int64, outFormat, bool) {
	if c == nil {
		return nil, 0, "", false
	}
	c.mu.Lock()
	el, ok := c.index[key]
	var e cacheEntry
	if ok {
		c.lru.MoveToFront(el)
		e = *el.Value.(*cacheEntry)
	}
	c.mu.Unlock()
	if !ok {
		return nil, 0, "", false
	}
	f, err := os.Open(c.path(key, e.ext))
	if err != nil { // removed behind our back: forget it
		c.mu.Lock()
		if el, ok := c.index[key]; ok {
			c.total -= el.Value.(*cacheEntry).size
			c.lru.Remove(el)
			delete(c.index, key)
		}
		c.mu.Unlock()
		return nil, 0, "", false
	}
	return f, e.size, e.ext, true
}

// put stores data under key (temp file, then rename) and evicts past the cap.
func (c *cache) put(key string, ext outFormat, data []byte) error {
	if c == nil || int64(len(data)) > c.max {
		return nil
	}
	dst := c.path(key, ext)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	c.mu.Lock()
	c.add(&cacheEntry{key: key, ext: ext, size: int64(len(data))})
	c.evict()
	c.mu.Unlock()
	return nil
}

// evict removes least recently used variants until the total fits the cap. A file being
// streamed stays readable after its removal (Linux keeps the open inode).
func (c *cache) evict() {
	for c.total > c.max {
		el := c.lru.Back()
		if el == nil {
			return
		}
		e := el.Value.(*cacheEntry)
		c.lru.Remove(el)
		delete(c.index, e.key)
		c.total -= e.size
		_ = os.Remove(c.path(e.key, e.ext))
	}
}

// size is the total bytes held, for tests and metrics.
func (c *cache) size() int64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}
