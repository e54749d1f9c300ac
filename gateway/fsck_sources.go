package gateway

import (
	"container/heap"
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stowage/stowage/db"
)

// The database side of Fsck: every row that names a store key, as one stream in the byte
// order of those keys (the order stores list them), read in bounded pages.

// fsckPage is the number of rows one query returns.
const fsckPage = 1000

// ref is a row naming a store key.
type ref struct {
	key     string
	kind    string // refObject or a db.Ref* kind
	expires time.Time
}

const refObject = "object"

// refStream yields refs in ascending key order.
type refStream interface {
	next(ctx context.Context) (ref, bool, error)
}

// fsckScope is what the sources share.
type fsckScope struct {
	e      *Engine
	fold   bool   // the store keeps keys with empty segments folded
	parts  bool   // part blobs are store keys (no store-side multipart uploads)
	prefix string // every key checked starts with it
	after  string // and sorts after it
}

func (s *fsckScope) tx(ctx context.Context, fn func(db.Tx) error) error {
	err := s.e.db.InTx(ctx, s.e.service(s.e.ServiceCaller("fsck")), fn)
	return dbErr(err, CodeInternal, "", "")
}

// foldKey drops empty segments, as a folding store does.
func foldKey(k string) string {
	if !strings.Contains(k, "//") && !strings.HasSuffix(k, "/") {
		return k
	}
	segs := strings.Split(k, "/")
	out := segs[:0]
	for _, s := range segs {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "/")
}

// merged yields the smallest head of several streams (ties: the first stream's first).
type merged struct {
	srcs  []refStream
	heads []*ref
	done  []bool
}

func mergeRefs(srcs ...refStream) *merged {
	return &merged{srcs: srcs, heads: make([]*ref, len(srcs)), done: make([]bool, len(srcs))}
}

func (m *merged) next(ctx context.Context) (ref, bool, error) {
	best := -1
	for i, s := range m.srcs {
		if m.heads[i] == nil && !m.done[i] {
			r, ok, err := s.next(ctx)
			if err != nil {
				return ref{}, false, err
			}
			if !ok {
				m.done[i] = true
				continue
			}
			m.heads[i] = &r
		}
		if m.heads[i] != nil && (best < 0 || m.heads[i].key < m.heads[best].key) {
			best = i
		}
	}
	if best < 0 {
		return ref{}, false, nil
	}
	r := *m.heads[best]
	m.heads[best] = nil
	return r, true, nil
}

// peeked lets the check look at the next ref without taking it.
type peeked struct {
	src  refStream
	head *ref
	done bool
}

func (p *peeked) peek(ctx context.Context) (*ref, error) {
	if p.head == nil && !p.done {
		r, ok, err := p.src.next(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			p.done = true
			return nil, nil
		}
		p.head = &r
	}
	return p.head, nil
}

func (p *peeked) take() { p.head = nil }

// otherRefs streams intents, tails and parts (db.FsckRefs), keyset-paged on (key, kind).
type otherRefs struct {
	s         *fsckScope
	page      []db.FsckRef
	afterKey  string
	afterKind string
	done      bool
}

func (o *otherRefs) next(ctx context.Context) (ref, bool, error) {
	if len(o.page) == 0 && !o.done {
		if o.afterKey == "" {
			o.afterKey, o.afterKind = o.s.after, "~" // kinds are lower-case: "~" sorts after all
		}
		err := o.s.tx(ctx, func(tx db.Tx) error {
			var err error
			o.page, err = tx.FsckRefs(ctx, o.s.e.opts.TenantID, o.s.fold, o.s.parts, o.s.prefix, o.afterKey, o.afterKind, fsckPage)
			return err
		})
		if err != nil {
			return ref{}, false, err
		}
		o.done = len(o.page) < fsckPage
	}
	if len(o.page) == 0 {
		return ref{}, false, nil
	}
	r := o.page[0]
	o.page = o.page[1:]
	o.afterKey, o.afterKind = r.Key, r.Kind
	return ref{key: r.Key, kind: r.Kind, expires: r.Expires}, true, nil
}

// objectRefs streams the object rows of the buckets in scope, bucket after bucket in the
// order of "<id>/". Rows come from the (bucket_id, name collate "C") index in name order,
// which is not quite key order: "a" (key "a/<v>") sorts before "a.txt" (key
// "a.txt/<v>") by name but after it by key. Every key of a later name is longer than, and
// starts with, a name not smaller than the current one, so no key still to come sorts below
// prefix+current name: keys are held in a small heap until the current name passes them.
// Only names that are prefixes of the current one can be held, so the heap is bounded by
// the length of a name (1024 bytes), not by the number of objects.
type objectRefs struct {
	s       *fsckScope
	buckets []string // the next page of bucket ids
	bdone   bool     // no more bucket pages
	bafter  string   // "<id>/" of the last bucket taken

	cur     string // bucket being read ("" none)
	bprefix string // <tenant>/<cur>/
	after   string // last name read
	page    []db.FsckObject
	more    bool // rows may remain after page
	bound   string
	pending keyHeap
	odd     *oddRefs // names with empty segments on a folding store
	oddHead *ref
}

// onlyBucket restricts the stream to one bucket.
func (o *objectRefs) onlyBucket(id string) {
	o.buckets, o.bdone = []string{id}, true
}

func (o *objectRefs) next(ctx context.Context) (ref, bool, error) {
	for {
		if o.cur == "" {
			ok, err := o.nextBucket(ctx)
			if err != nil || !ok {
				return ref{}, false, err
			}
		}
		r, ok, err := o.nextInBucket(ctx)
		if err != nil {
			return ref{}, false, err
		}
		if ok {
			if r.key > o.s.after {
				return r, true, nil
			}
			continue
		}
		o.cur = ""
	}
}

// nextBucket starts the next bucket whose keys can sort after s.after.
func (o *objectRefs) nextBucket(ctx context.Context) (bool, error) {
	for {
		if len(o.buckets) == 0 {
			if o.bdone {
				return false, nil
			}
			err := o.s.tx(ctx, func(tx db.Tx) error {
				var err error
				o.buckets, err = tx.FsckBuckets(ctx, o.bafter, fsckPage)
				return err
			})
			if err != nil {
				return false, err
			}
			o.bdone = len(o.buckets) < fsckPage
			if len(o.buckets) == 0 {
				return false, nil
			}
		}
		id := o.buckets[0]
		o.buckets = o.buckets[1:]
		o.bafter = id + "/"
		p := o.s.e.opts.TenantID + "/" + id + "/"
		if !strings.HasPrefix(p, o.s.prefix) && !strings.HasPrefix(o.s.prefix, p) {
			continue
		}
		if p <= o.s.after && !strings.HasPrefix(o.s.after, p) {
			continue // every key of this bucket sorts before the resume point
		}
		return true, o.startBucket(ctx, id, p)
	}
}

// startBucket prepares reading bucket id; when resuming inside it, the names that are
// prefixes of the resume point's rest may have keys after it and go to the heap first.
func (o *objectRefs) startBucket(ctx context.Context, id, p string) error {
	o.cur, o.bprefix, o.after, o.page, o.more, o.bound = id, p, "", nil, true, p
	o.pending = o.pending[:0]
	o.odd, o.oddHead = nil, nil
	if o.s.fold {
		o.odd = &oddRefs{s: o.s, bucket: id, prefix: p, after: max(o.s.after, p)}
	}
	rest, ok := strings.CutPrefix(o.s.after, p)
	if !ok || rest == "" {
		return nil
	}
	var names []string
	for i := 1; i <= len(rest); i++ {
		if (i == len(rest) || utf8.RuneStart(rest[i])) && utf8.ValidString(rest[:i]) {
			names = append(names, rest[:i])
		}
	}
	var rows []db.FsckObject
	err := o.s.tx(ctx, func(tx db.Tx) error {
		var err error
		rows, err = tx.FsckObjectsNamed(ctx, id, names, o.s.fold)
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range rows {
		heap.Push(&o.pending, o.key(r))
	}
	o.after, o.bound = rest, p+rest
	return nil
}

func (o *objectRefs) key(r db.FsckObject) string {
	k := o.bprefix + r.Name + "/" + r.Version
	if o.s.fold {
		k = foldKey(k)
	}
	return k
}

// nextInBucket yields the next key of the current bucket, merging in the odd names.
func (o *objectRefs) nextInBucket(ctx context.Context) (ref, bool, error) {
	k, ok, err := o.nextPlain(ctx)
	if err != nil {
		return ref{}, false, err
	}
	if o.odd != nil && o.oddHead == nil {
		r, ok, err := o.odd.next(ctx)
		if err != nil {
			return ref{}, false, err
		}
		if ok {
			o.oddHead = &r
		} else {
			o.odd = nil
		}
	}
	if o.oddHead != nil && (!ok || o.oddHead.key < k) {
		r := *o.oddHead
		o.oddHead = nil
		if ok {
			heap.Push(&o.pending, k) // not yet: put it back
		}
		return r, true, nil
	}
	if !ok {
		return ref{}, false, nil
	}
	return ref{key: k, kind: refObject}, true, nil
}

// nextPlain yields the next key of the current bucket's ordinary names in key order.
func (o *objectRefs) nextPlain(ctx context.Context) (string, bool, error) {
	for {
		if len(o.pending) > 0 && (o.pending[0] < o.bound || (len(o.page) == 0 && !o.more)) {
			return heap.Pop(&o.pending).(string), true, nil
		}
		if len(o.page) == 0 {
			if !o.more {
				return "", false, nil
			}
			err := o.s.tx(ctx, func(tx db.Tx) error {
				var err error
				o.page, err = tx.FsckObjects(ctx, o.cur, o.after, o.s.fold, fsckPage)
				return err
			})
			if err != nil {
				return "", false, err
			}
			o.more = len(o.page) == fsckPage
			continue
		}
		r := o.page[0]
		o.page = o.page[1:]
		o.after, o.bound = r.Name, o.bprefix+r.Name
		heap.Push(&o.pending, o.key(r))
	}
}

// oddRefs streams the folded keys of one bucket's names with empty segments.
type oddRefs struct {
	s              *fsckScope
	bucket, prefix string
	after          string
	page           []string
	done           bool
}

func (o *oddRefs) next(ctx context.Context) (ref, bool, error) {
	if len(o.page) == 0 && !o.done {
		err := o.s.tx(ctx, func(tx db.Tx) error {
			var err error
			o.page, err = tx.FsckOddObjects(ctx, o.prefix, o.bucket, o.after, fsckPage)
			return err
		})
		if err != nil {
			return ref{}, false, err
		}
		o.done = len(o.page) < fsckPage
	}
	if len(o.page) == 0 {
		return ref{}, false, nil
	}
	k := o.page[0]
	o.page, o.after = o.page[1:], k
	return ref{key: k, kind: refObject}, true, nil
}

// keyHeap is a min-heap of keys.
type keyHeap []string

func (h keyHeap) Len() int           { return len(h) }
func (h keyHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h keyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *keyHeap) Push(x any)        { *h = append(*h, x.(string)) }
func (h *keyHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
