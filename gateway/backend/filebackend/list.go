package filebackend

import (
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stowage/stowage/gateway/backend"
)

var (
	_ backend.Lister        = (*Store)(nil)
	_ backend.SegmentFolder = (*Store)(nil)
)

// defaultListBatch bounds the folder entries one folder level holds while listing. A folder
// with more entries is read several times, each pass keeping the next batch of names in
// order (a bounded heap), so a flat bucket of millions of objects (millions of folders side
// by side) is listed in key order without holding its names: a folder of n entries costs
// n/batch reads of the folder.
const defaultListBatch = 32768

// FoldsEmptySegments reports true: "a//b" is kept (and listed) as "a/b" (see splitKey).
func (s *Store) FoldsEmptySegments() bool { return true }

// List reports the blobs below the base whose keys start with prefix and sort after
// startAfter, in byte order of key. Folders are walked depth first, each read with the
// kernel's getdents into a fixed buffer; the order of keys is kept by sorting each folder's
// entries as the keys they lead to (a folder "a" as "a/", so "a-b" comes before "a/c").
// Temporary files, symbolic links and anything but regular files are skipped; the walk
// keeps one descriptor open per folder level and never follows a link.
func (s *Store) List(ctx context.Context, prefix, startAfter string, fn func(backend.Listed) error) error {
	fd, err := openDirAt(s.baseFD, ".")
	if err != nil {
		return fmt.Errorf("filebackend: list: %w", err)
	}
	w := lister{s: s, ctx: ctx, prefix: prefix, after: startAfter, fn: fn, buf: make([]byte, 32<<10),
		batch: cmp.Or(s.listBatch, defaultListBatch)}
	return w.dir(fd, "")
}

type lister struct {
	s             *Store
	ctx           context.Context
	prefix, after string
	fn            func(backend.Listed) error
	buf           []byte // getdents buffer, shared by the levels (each pass reads its folder whole)
	batch         int
}

// entry is a folder entry and the key (or, for a folder, the key prefix "<key>/") it leads to.
type entry struct {
	key string
	dir bool
}

// wanted reports whether the subtree of keys starting with k can hold a key to report.
func (w *lister) wanted(k string) bool {
	if !strings.HasPrefix(k, w.prefix) && !strings.HasPrefix(w.prefix, k) {
		return false
	}
	// Every key below k starts with k: all of them sort before after unless k leads to it.
	return k > w.after || strings.HasPrefix(w.after, k)
}

// dir lists the folder dirfd (closing it), whose keys start with base.
func (w *lister) dir(dirfd int, base string) error {
	defer unix.Close(dirfd)
	last, first := "", true
	for {
		batch, more, err := w.pass(dirfd, base, last, first)
		if err != nil {
			return err
		}
		for _, e := range batch {
			if err := w.visit(dirfd, base, e); err != nil {
				return err
			}
		}
		if !more || len(batch) == 0 {
			return nil
		}
		last, first = batch[len(batch)-1].key, false
	}
}

// visit reports the file e or descends into the folder e.
func (w *lister) visit(dirfd int, base string, e entry) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	name := strings.TrimSuffix(e.key[len(base):], "/")
	if e.dir {
		child, err := openDirAt(dirfd, name)
		if isMissing(err) {
			return nil // removed or replaced meanwhile
		}
		if err != nil {
			return fmt.Errorf("filebackend: list %s: %w", e.key, err)
		}
		return w.dir(child, e.key)
	}
	if !strings.HasPrefix(e.key, w.prefix) || e.key <= w.after {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if isMissing(err) {
			return nil
		}
		return fmt.Errorf("filebackend: list %s: %w", e.key, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	return w.fn(backend.Listed{Key: e.key, Size: st.Size, Modified: time.Unix(st.Mtim.Unix())})
}

// pass reads the folder once and returns, in order, up to w.batch entries worth visiting
// whose keys sort after last (all of them on the first pass), and whether more remain.
func (w *lister) pass(dirfd int, base, last string, first bool) ([]entry, bool, error) {
	if _, err := unix.Seek(dirfd, 0, 0); err != nil {
		return nil, false, fmt.Errorf("filebackend: list %s: rewind: %w", base, err)
	}
	h := &maxHeap{}
	more := false
	for {
		n, err := unix.Getdents(dirfd, w.buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ENOENT) && base != "" {
			// The folder was removed after we opened it (a Delete or an upload's parts
			// cleaned up): it holds nothing any more, as if it had been missing.
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("filebackend: list %s: %w", base, err)
		}
		if n <= 0 {
			break
		}
		for b := w.buf[:n]; len(b) > 0; {
			name, typ, rest, ok := parseDirent(b)
			if !ok {
				break
			}
			b = rest
			e, ok, err := w.classify(dirfd, base, name, typ)
			if err != nil {
				return nil, false, err
			}
			if !ok || (!first && e.key <= last) {
				continue
			}
			heap.Push(h, e)
			if h.Len() > w.batch {
				heap.Pop(h)
				more = true
			}
		}
	}
	out := []entry(*h)
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	return out, more, nil
}

// classify turns a folder entry into the entry to visit, if any: regular files and folders,
// not "." and "..", temporary files, links or devices, nor subtrees outside prefix/after.
func (w *lister) classify(dirfd int, base, name string, typ uint8) (entry, bool, error) {
	if name == "." || name == ".." || strings.HasPrefix(name, tempPrefix) {
		return entry{}, false, nil
	}
	if typ == unix.DT_UNKNOWN { // file systems that do not fill d_type
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if isMissing(err) {
				return entry{}, false, nil
			}
			return entry{}, false, fmt.Errorf("filebackend: list %s%s: %w", base, name, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			typ = unix.DT_DIR
		case unix.S_IFREG:
			typ = unix.DT_REG
		}
	}
	switch typ {
	case unix.DT_DIR:
		k := base + name + "/"
		return entry{key: k, dir: true}, w.wanted(k), nil
	case unix.DT_REG:
		k := base + name
		return entry{key: k}, w.wanted(k), nil
	}
	return entry{}, false, nil
}

// parseDirent reads one linux_dirent64 (ino u64, off s64, reclen u16, type u8, name NUL).
func parseDirent(b []byte) (name string, typ uint8, rest []byte, ok bool) {
	const nameOff = 19
	if len(b) < nameOff {
		return "", 0, nil, false
	}
	reclen := int(binary.NativeEndian.Uint16(b[16:18]))
	if reclen < nameOff || reclen > len(b) {
		return "", 0, nil, false
	}
	raw := b[nameOff:reclen]
	if i := slices.Index(raw, 0); i >= 0 {
		raw = raw[:i]
	}
	return string(raw), b[18], b[reclen:], true
}

// maxHeap keeps the smallest keys seen, the largest on top to be dropped first.
type maxHeap []entry

func (h maxHeap) Len() int           { return len(h) }
func (h maxHeap) Less(i, j int) bool { return h[i].key > h[j].key }
func (h maxHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *maxHeap) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *maxHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
