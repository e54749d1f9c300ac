package s3backend

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/backendtest"
	"github.com/stowage/stowage/gateway/backend/s3backend/miniotest"
)

const mib = 1 << 20

// newStore returns a store on m's bucket with static credentials; edit adjusts the options.
func newStore(t testing.TB, m *miniotest.MinIO, edit func(*Options)) *Store {
	t.Helper()
	opts := Options{Bucket: m.Bucket, Endpoint: m.Endpoint, Region: m.Region, ForcePathStyle: true,
		AccessKeyID: m.AccessKey, SecretAccessKey: m.Secret}
	if edit != nil {
		edit(&opts)
	}
	s, err := New(t.Context(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	m := miniotest.Start(t)
	s := newStore(t, m, nil)
	runContract(t, s)
}

func runContract(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	backendtest.Run(t, func(*testing.T) backend.Store { return minioKeys{s} })
}

// minioKeys adapts the contract suite to MinIO, which keeps objects as folders and refuses
// keys with empty segments ("a//b", "folder/", "/rooted" inside a key) that S3 accepts:
// it stores such keys with every empty segment spelled "~empty~". The store itself sends
// keys unchanged (the reference layout) and reports MinIO's refusal as ErrInvalidKey, which
// TestMinIORefusesEmptySegments pins. Every other key reaches the store untouched.
type minioKeys struct{ *Store }

func (m minioKeys) fix(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		if s == "" {
			segs[i] = "~empty~"
		}
	}
	return strings.Join(segs, "/")
}

func (m minioKeys) Put(ctx context.Context, key string, body io.Reader, opts backend.PutOptions) (backend.Written, error) {
	return m.Store.Put(ctx, m.fix(key), body, opts)
}

func (m minioKeys) Open(ctx context.Context, key string, r backend.Range) (io.ReadCloser, error) {
	return m.Store.Open(ctx, m.fix(key), r)
}

func (m minioKeys) Stat(ctx context.Context, key string) (backend.Info, error) {
	return m.Store.Stat(ctx, m.fix(key))
}

func (m minioKeys) Delete(ctx context.Context, keys ...string) error {
	fixed := make([]string, len(keys))
	for i, k := range keys {
		fixed[i] = m.fix(k)
	}
	return m.Store.Delete(ctx, fixed...)
}

func (m minioKeys) Copy(ctx context.Context, src, dst string) (backend.Written, error) {
	return m.Store.Copy(ctx, m.fix(src), m.fix(dst))
}

func (m minioKeys) Compose(ctx context.Context, dst string, srcs []string, opts backend.PutOptions) (backend.Written, error) {
	fixed := make([]string, len(srcs))
	for i, k := range srcs {
		fixed[i] = m.fix(k)
	}
	return m.Store.Compose(ctx, m.fix(dst), fixed, opts)
}

func (m minioKeys) StartUpload(ctx context.Context, key string, opts backend.PutOptions) (string, error) {
	return m.Store.StartUpload(ctx, m.fix(key), opts)
}

func (m minioKeys) PutPart(ctx context.Context, key, id string, n int, body io.Reader, size int64) (string, error) {
	return m.Store.PutPart(ctx, m.fix(key), id, n, body, size)
}

func (m minioKeys) FinishUpload(ctx context.Context, key, id string, parts []backend.Part) (backend.Written, error) {
	return m.Store.FinishUpload(ctx, m.fix(key), id, parts)
}

func (m minioKeys) AbortUpload(ctx context.Context, key, id string) error {
	return m.Store.AbortUpload(ctx, m.fix(key), id)
}

// TestMinIORefusesEmptySegments pins what the store does with keys MinIO cannot hold: the
// key goes upstream unchanged and the refusal is ErrInvalidKey (the engine's InvalidKey),
// never a 500 or a silently rewritten key.
func TestMinIORefusesEmptySegments(t *testing.T) {
	m := miniotest.Start(t)
	s := newStore(t, m, nil)
	for _, tc := range []struct{ name, key string }{
		{"EmptySegment", "t/b/a//b/v1"},
		{"TrailingSlashName", "t/b/folder//v1"},
		{"LeadingSlashName", "t/b//rooted/v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Put(t.Context(), tc.key, strings.NewReader("abc"), backend.PutOptions{Size: 3})
			if !errors.Is(err, backend.ErrInvalidKey) {
				t.Errorf("Put(%q) error = %v, want ErrInvalidKey", tc.key, err)
			}
		})
	}
}

// cycleReader yields size bytes cycling through block without allocating: a cheap stream
// for large bodies (copy, so the race detector checks ranges, not bytes).
type cycleReader struct {
	block []byte
	off   int
	left  int64
}

func newCycleReader(size int64) *cycleReader {
	block, _ := io.ReadAll(backendtest.Pattern(42, mib+13)) // not a divisor of any part size
	return &cycleReader{block: block, left: size}
}

func (c *cycleReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n := copy(p, c.block[c.off:])
	c.off = (c.off + n) % len(c.block)
	c.left -= int64(n)
	return n, nil
}

func sha(t *testing.T, r io.Reader) [32]byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatalf("read: %v", err)
	}
	return [32]byte(h.Sum(nil))
}

func (s *Store) mustSHA(t *testing.T, key string, r backend.Range) [32]byte {
	t.Helper()
	rc, err := s.Open(t.Context(), key, r)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	return sha(t, rc)
}

// TestPutUnknownSizeBoundedMemory streams 256 MiB of unknown size and checks the process
// allocated a bounded amount while doing it: the part buffers (two of 16 MiB) and the SDK's
// per-request garbage, not the object.
func TestPutUnknownSizeBoundedMemory(t *testing.T) {
	m := miniotest.Start(t)
	s := newStore(t, m, nil)
	const size = 256 * mib
	const bound = 64 * mib
	key := "memory/unknown-size/v1"
	want := sha(t, newCycleReader(size))

	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	wg.Go(func() { // samples HeapInuse while the upload runs
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	w, err := s.Put(t.Context(), key, newCycleReader(size), backend.PutOptions{Size: -1})
	close(stop)
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if w.Size != size {
		t.Fatalf("Written.Size = %d, want %d", w.Size, size)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	heap := peak.Load() - min(peak.Load(), before.HeapInuse)
	t.Logf("256 MiB unknown-size Put: TotalAlloc +%.1f MiB, peak HeapInuse +%.1f MiB", float64(alloc)/mib, float64(heap)/mib)
	if alloc > bound {
		t.Errorf("TotalAlloc grew by %d MiB moving %d MiB; want under %d MiB", alloc/mib, size/mib, bound/mib)
	}
	if heap > bound {
		t.Errorf("HeapInuse peaked %d MiB above the start; want under %d MiB", heap/mib, bound/mib)
	}
	if got := s.mustSHA(t, key, backend.Whole); got != want {
		t.Errorf("read back bytes differ from the bytes written")
	}
}

// TestPutPaths covers the upload strategies around their boundaries with a 5 MiB part size
// and a 12 MiB single-PUT limit: single PutObject, buffered multipart (unknown size) and
// streamed multipart (known size past the limit).
func TestPutPaths(t *testing.T) {
	m := miniotest.Start(t)
	s := newStore(t, m, func(o *Options) { o.PartSize = 5 * mib })
	s.singlePutMax = 12 * mib
	for _, tc := range []struct {
		name     string
		size     int64
		declared bool
	}{
		{"Unknown/UnderOnePart", 5*mib - 1, false},
		{"Unknown/ExactlyOnePart", 5 * mib, false},
		{"Unknown/TwoParts", 10 * mib, false},
		{"Unknown/TwoPartsAndAByte", 10*mib + 1, false},
		{"Known/AtSinglePutLimit", 12 * mib, true},
		{"Known/StreamedMultipart", 23*mib + 7, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key := "paths/" + tc.name + "/v1"
			declared := int64(-1)
			if tc.declared {
				declared = tc.size
			}
			w, err := s.Put(t.Context(), key, newCycleReader(tc.size), backend.PutOptions{Size: declared, ContentType: "application/x-test"})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if w.Size != tc.size {
				t.Errorf("Written.Size = %d, want %d", w.Size, tc.size)
			}
			if got, want := s.mustSHA(t, key, backend.Whole), sha(t, newCycleReader(tc.size)); got != want {
				t.Errorf("read back bytes differ")
			}
			// A range across the first part boundary.
			r := backend.Range{Offset: 5*mib - 100, Length: 200}
			if tc.size > r.Offset+r.Length {
				want := newCycleReader(tc.size)
				_, _ = io.CopyN(io.Discard, want, r.Offset)
				if got := s.mustSHA(t, key, r); got != sha(t, io.LimitReader(want, r.Length)) {
					t.Errorf("range %+v differs", r)
				}
			}
		})
	}
}

// TestFailedUploadsAreAborted checks that a failing body leaves neither an object nor an
// upstream multipart upload behind, on both multipart paths.
func TestFailedUploadsAreAborted(t *testing.T) {
	m := miniotest.Start(t)
	bucket := m.NewBucket(t) // no other test's uploads in it
	s := newStore(t, m, func(o *Options) { o.PartSize = 5 * mib; o.Bucket = bucket })
	s.singlePutMax = 12 * mib
	errBody := errors.New("client went away")
	for _, tc := range []struct {
		name     string
		declared int64
		body     io.Reader
		want     error
	}{
		{"Unknown/BodyErrorInThirdPart", -1, io.MultiReader(newCycleReader(11*mib), iotestErr(errBody)), errBody},
		{"Known/BodyErrorInSecondPart", 20 * mib, io.MultiReader(newCycleReader(7*mib), iotestErr(errBody)), errBody},
		{"Known/ShortBody", 20 * mib, newCycleReader(20*mib - 1), backend.ErrSizeMismatch},
		{"Known/LongBody", 20 * mib, newCycleReader(20*mib + 1), backend.ErrSizeMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "aborted/" + tc.name + "/v1"
			_, err := s.Put(t.Context(), key, tc.body, backend.PutOptions{Size: tc.declared})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Put error = %v, want errors.Is %v", err, tc.want)
			}
			if _, err := s.Stat(t.Context(), key); !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("Stat after failed Put = %v, want ErrNotFound", err)
			}
		})
	}
	out, err := m.Client().ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	for _, u := range out.Uploads {
		t.Errorf("upload left behind: key %q id %q", aws.ToString(u.Key), aws.ToString(u.UploadId))
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func iotestErr(err error) io.Reader { return errReader{err} }

// TestComposeServerSide composes sources large enough to be parts (the upstream assembles
// them) and checks the bytes and the declared content type.
func TestComposeServerSide(t *testing.T) {
	m := miniotest.Start(t)
	s := newStore(t, m, nil)
	sizes := []int64{5 * mib, 6*mib + 3, 1000}
	var keys []string
	var want bytes.Buffer
	for i, n := range sizes {
		key := "compose/src/" + string(rune('a'+i))
		body, _ := io.ReadAll(backendtest.Pattern(uint64(i), n))
		want.Write(body)
		if _, err := s.Put(t.Context(), key, bytes.NewReader(body), backend.PutOptions{Size: n}); err != nil {
			t.Fatalf("Put: %v", err)
		}
		keys = append(keys, key)
	}
	w, err := s.Compose(t.Context(), "compose/dst/v1", keys, backend.PutOptions{Size: -1, ContentType: "video/mp4"})
	if err != nil {
		t.Fatalf("Compose: %v", err)
	}
	if w.Size != int64(want.Len()) {
		t.Errorf("Written.Size = %d, want %d", w.Size, want.Len())
	}
	if got := s.mustSHA(t, "compose/dst/v1", backend.Whole); got != sha256.Sum256(want.Bytes()) {
		t.Errorf("composed bytes differ")
	}
	head, err := m.Client().HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &m.Bucket, Key: aws.String("compose/dst/v1")})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if ct := aws.ToString(head.ContentType); ct != "video/mp4" {
		t.Errorf("Content-Type = %q, want video/mp4", ct)
	}
}

func TestCopyRanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		size  int64
		parts int
	}{
		{"OneByte", 1, 1},
		{"ExactlyOnePart", copyPartSize, 1},
		{"JustOver", copyPartSize + 1, 2},
		{"SixGiB", 6 << 30, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs := copyRanges(tc.size)
			if len(rs) != tc.parts {
				t.Fatalf("copyRanges(%d) = %d ranges, want %d", tc.size, len(rs), tc.parts)
			}
			next := int64(0)
			for i, r := range rs {
				n := r[1] - r[0] + 1
				if r[0] != next || n > copyPartSize || (i < len(rs)-1 && n < minPartSize) {
					t.Errorf("range %d = %v: not contiguous or outside the part limits", i, r)
				}
				next = r[1] + 1
			}
			if next != tc.size {
				t.Errorf("ranges cover %d bytes, want %d", next, tc.size)
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	m := miniotest.Start(t)
	good := newStore(t, m, nil)
	noBucket := newStore(t, m, func(o *Options) { o.Bucket = "stowage-no-such-bucket" })
	badKeys := newStore(t, m, func(o *Options) { o.SecretAccessKey = "wrong-secret" })
	put := func(s *Store) error {
		_, err := s.Put(t.Context(), "errors/put/v1", strings.NewReader("abc"), backend.PutOptions{Size: 3})
		return err
	}
	open := func(s *Store) error {
		rc, err := s.Open(t.Context(), "errors/missing/v1", backend.Whole)
		if err == nil {
			rc.Close()
		}
		return err
	}
	stat := func(s *Store) error { _, err := s.Stat(t.Context(), "errors/missing/v1"); return err }
	for _, tc := range []struct {
		name    string
		call    func() error
		want    error // nil: any error that is neither ErrNotFound nor ErrUnavailable
		message string
	}{
		{"MissingKey/Open", func() error { return open(good) }, backend.ErrNotFound, ""},
		{"MissingKey/Stat", func() error { return stat(good) }, backend.ErrNotFound, ""},
		{"MissingBucket/Put", func() error { return put(noBucket) }, backend.ErrUnavailable, "stowage-no-such-bucket"},
		{"MissingBucket/Open", func() error { return open(noBucket) }, backend.ErrUnavailable, "stowage-no-such-bucket"},
		{"MissingBucket/Check", func() error { return noBucket.Check(t.Context()) }, backend.ErrUnavailable, "stowage-no-such-bucket"},
		{"WrongSecret/Put", func() error { return put(badKeys) }, nil, "SignatureDoesNotMatch"},
		{"WrongSecret/Stat", func() error { return stat(badKeys) }, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			switch {
			case err == nil:
				t.Fatalf("succeeded, want an error")
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("error = %v, want errors.Is %v", err, tc.want)
			case tc.want == nil && (errors.Is(err, backend.ErrNotFound) || errors.Is(err, backend.ErrUnavailable)):
				t.Errorf("error = %v, want neither ErrNotFound nor ErrUnavailable", err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error = %v, want it to mention %q", err, tc.message)
			}
		})
	}
}

// TestUpstreamDown stops MinIO: every call fails with ErrUnavailable instead of hanging
// (the generous context deadline only turns a hang into a failure), and after a restart
// the same calls succeed.
func TestUpstreamDown(t *testing.T) {
	m := miniotest.Start(t)
	s := newStore(t, m, func(o *Options) { o.Timeout = 10 * time.Second })
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	if _, err := s.Put(ctx, "down/existing/v1", strings.NewReader("kept"), backend.PutOptions{Size: 4}); err != nil {
		t.Fatalf("Put before stop: %v", err)
	}
	m.Stop(t)
	calls := []struct {
		name string
		call func() error
	}{
		{"Put", func() error {
			_, err := s.Put(ctx, "down/new/v1", strings.NewReader("abc"), backend.PutOptions{Size: 3})
			return err
		}},
		{"PutUnknownSize", func() error {
			_, err := s.Put(ctx, "down/unknown/v1", strings.NewReader("abc"), backend.PutOptions{Size: -1})
			return err
		}},
		{"Open", func() error {
			rc, err := s.Open(ctx, "down/existing/v1", backend.Whole)
			if err == nil {
				rc.Close()
			}
			return err
		}},
		{"Stat", func() error { _, err := s.Stat(ctx, "down/existing/v1"); return err }},
		{"Delete", func() error { return s.Delete(ctx, "down/existing/v2") }},
	}
	for _, tc := range calls {
		t.Run("Stopped/"+tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, backend.ErrUnavailable) {
				t.Errorf("error = %v, want ErrUnavailable", err)
			}
		})
	}
	m.Restart(t)
	for _, tc := range calls {
		t.Run("Restarted/"+tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil {
				t.Errorf("error = %v, want success", err)
			}
		})
	}
}

// TestUpstreamDiesMidUpload kills MinIO while a body is streaming: the Put fails with
// ErrUnavailable, and after a restart nothing is visible under the key.
func TestUpstreamDiesMidUpload(t *testing.T) {
	m := miniotest.Start(t)
	s := newStore(t, m, func(o *Options) { o.PartSize = 5 * mib })
	for _, tc := range []struct {
		name     string
		declared int64
	}{
		{"Known", 32 * mib},
		{"Unknown", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "mid-upload/" + tc.name + "/v1"
			body := &stopAfter{r: newCycleReader(32 * mib), n: 12 * mib, stop: func() { m.Stop(t) }}
			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			_, err := s.Put(ctx, key, body, backend.PutOptions{Size: tc.declared})
			if !errors.Is(err, backend.ErrUnavailable) {
				t.Errorf("Put error = %v, want ErrUnavailable", err)
			}
			m.Restart(t)
			if _, err := s.Stat(ctx, key); !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("Stat after restart = %v, want ErrNotFound", err)
			}
			size := int64(6 * mib)
			if tc.declared < 0 {
				size = -1
			}
			if _, err := s.Put(ctx, key, newCycleReader(6*mib), backend.PutOptions{Size: size}); err != nil {
				t.Errorf("Put after restart: %v", err)
			}
		})
	}
}

// stopAfter passes n bytes of r, then calls stop once and carries on.
type stopAfter struct {
	r    io.Reader
	n    int64
	stop func()
}

func (s *stopAfter) Read(p []byte) (int, error) {
	if s.n <= 0 && s.stop != nil {
		s.stop()
		s.stop = nil
	}
	if s.n > 0 && int64(len(p)) > s.n {
		p = p[:s.n]
	}
	n, err := s.r.Read(p)
	s.n -= int64(n)
	return n, err
}

// TestCABundleInEnvironment: AWS_CA_BUNDLE pointing at a missing file must not stop a store
// with a plain-http endpoint, with static keys or with the SDK's default chain.
func TestCABundleInEnvironment(t *testing.T) {
	m := miniotest.Start(t)
	t.Setenv("AWS_CA_BUNDLE", "/nonexistent/stowage/ca-bundle.pem")
	t.Setenv("AWS_ACCESS_KEY_ID", m.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.Secret)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
	for _, tc := range []struct {
		name string
		edit func(*Options)
	}{
		{"StaticKeys", nil},
		{"DefaultChain", func(o *Options) { o.AccessKeyID, o.SecretAccessKey = "", "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, m, tc.edit)
			key := "ca-bundle/" + tc.name + "/v1"
			if _, err := s.Put(t.Context(), key, strings.NewReader("hello"), backend.PutOptions{Size: 5}); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if got := s.mustSHA(t, key, backend.Whole); got != sha256.Sum256([]byte("hello")) {
				t.Errorf("read back bytes differ")
			}
		})
	}
}

// TestProvidedMD5 checks backend.MD5Provider: a known-size Put up to the single-PUT limit is
// promised and reports the MD5 of its bytes (the upstream's ETag); unknown sizes and
// streamed multipart uploads are not promised, so the engine hashes them itself, and any
// MD5 they do report is still the bytes' MD5.
func TestProvidedMD5(t *testing.T) {
	m := miniotest.Start(t)
	s := newStore(t, m, func(o *Options) { o.PartSize = 5 * mib })
	s.singlePutMax = 12 * mib
	for _, tc := range []struct {
		name     string
		size     int64
		declared bool
		promised bool
	}{
		{"Known/Empty", 0, true, true},
		{"Known/Small", 4 << 10, true, true},
		{"Known/AtSinglePutLimit", 12 * mib, true, true},
		{"Known/StreamedMultipart", 12*mib + 1, true, false},
		{"Unknown/Small", 4 << 10, false, false},
		{"Unknown/TwoParts", 10*mib + 1, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := backend.PutOptions{Size: -1}
			if tc.declared {
				opts.Size = tc.size
			}
			if got := s.ProvidesMD5(opts); got != tc.promised {
				t.Fatalf("ProvidesMD5(size %d) = %v, want %v", opts.Size, got, tc.promised)
			}
			w, err := s.Put(t.Context(), "md5/"+tc.name, newCycleReader(tc.size), opts)
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			h := md5.New()
			_, _ = io.Copy(h, newCycleReader(tc.size))
			want := h.Sum(nil)
			switch {
			case tc.promised && !bytes.Equal(w.MD5, want):
				t.Errorf("Written.MD5 = %x, want %x", w.MD5, want)
			case !tc.promised && w.MD5 != nil && !bytes.Equal(w.MD5, want):
				t.Errorf("unpromised Written.MD5 = %x, want nil or %x", w.MD5, want)
			}
		})
	}
	if !s.ProvidesMD5(backend.PutOptions{Size: 1}) {
		t.Errorf("plain ETags must keep the promise")
	}
}

// TestETagNotMD5StopsPromising checks that an upstream answer whose ETag is not a body's
// MD5 (SSE-KMS, multipart-style) yields no MD5 and ends the promise for later Puts.
func TestETagNotMD5StopsPromising(t *testing.T) {
	s := &Store{singlePutMax: 12 * mib}
	kms := &s3.PutObjectOutput{ETag: aws.String(`"0123456789abcdef0123456789abcdef"`), ServerSideEncryption: "aws:kms"}
	plain := &s3.PutObjectOutput{ETag: aws.String(`"0123456789abcdef0123456789abcdef"`)}
	if sum := s.etagMD5(plain); len(sum) != md5.Size {
		t.Fatalf("plain ETag: MD5 = %x", sum)
	}
	for _, out := range []*s3.PutObjectOutput{kms, {ETag: aws.String(`"0123456789abcdef0123456789abcdef-2"`)}, {}} {
		s := &Store{singlePutMax: 12 * mib}
		if sum := s.etagMD5(out); sum != nil {
			t.Errorf("ETag %q (sse %q): MD5 = %x, want nil", aws.ToString(out.ETag), out.ServerSideEncryption, sum)
		}
		if s.ProvidesMD5(backend.PutOptions{Size: 1}) {
			t.Errorf("ETag %q: still promising an MD5", aws.ToString(out.ETag))
		}
	}
}
