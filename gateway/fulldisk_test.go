package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stowage/stowage/gateway/backend/backendtest"
)

// recordHandler keeps every log record, for tests that assert what was logged.
type recordHandler struct {
	mu   sync.Mutex
	recs []string // message and attributes, "msg k=v k=v"
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordHandler) WithGroup(string) slog.Handler            { return h }

func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, b.String())
	h.mu.Unlock()
	return nil
}

func (h *recordHandler) records() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.recs...)
}

// On a real full disk (tmpfs) every write path answers InsufficientStorage with the
// errno's text and no host path, and leaves nothing behind: no temporary file, no blob,
// no row, no write intent. On a read-only one the same, and the sweeper, unable to remove
// a superseded blob, logs InsufficientStorage, never a DatabaseError.
func TestFullDisk(t *testing.T) {
	ctx := context.Background()
	root := backendtest.SmallDisk(t, 512<<10)
	logs := &recordHandler{}
	f := newFixtureOn(t, root, slog.New(logs))
	f.filesOnly() // the small writes below must reach the disk
	f.bucket(t, "full")
	big := bytes.Repeat([]byte("x"), 1<<20)
	wantFull := func(t *testing.T, what string, err error, why string) {
		t.Helper()
		wantCode(t, err, CodeInsufficientStorage)
		ge := err.(*Error)
		if ge.Message != "Insufficient storage: "+why || strings.Contains(ge.Message, root) {
			t.Fatalf("%s: message %q, want the errno's text %q without the path", what, ge.Message, why)
		}
	}
	wantNothingLeft := func(t *testing.T) {
		t.Helper()
		// Temporary files included: f.blobs skips them.
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				t.Errorf("left on disk: %s", p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := f.db.Pool().QueryRow(ctx, `select count(*) from stowage.blob_intents`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d write intents left (%v)", n, err)
		}
	}

	_, err := f.put(t, service(), "full", "big.bin", big, false)
	wantFull(t, "put", err, "no space left on device")
	if _, err := f.read(t, service(), "full", "big.bin"); CodeOf(err) != CodeNoSuchKey {
		t.Fatalf("read after the failed put: %v, want NoSuchKey", err)
	}
	wantNothingLeft(t)

	u := f.create(t, service(), "full", "parts.bin")
	_, err = f.part(t, f.e, u, 1, big)
	wantFull(t, "upload part", err, "no space left on device")

	tu, err := f.e.TusCreate(ctx, service(), TusCreate{Bucket: "full", Key: "tus.bin", Length: int64(len(big))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.e.TusPatch(ctx, service(), TusPatch{Bucket: "full", Key: "tus.bin", Version: tu.Version,
		Length: -1, Body: bytes.NewReader(big), Size: int64(len(big))})
	wantFull(t, "tus patch", err, "no space left on device")
	if st, err := f.e.TusHead(ctx, service(), "full", "tus.bin", tu.Version); err != nil || st.Offset != 0 {
		t.Fatalf("tus upload after the failed chunk: %+v %v, want offset 0", st, err)
	}
	wantNothingLeft(t)

	// Read-only: a superseded blob cannot be removed; the sweeper says why.
	if _, err := f.put(t, service(), "full", "small.txt", []byte("v1"), false); err != nil {
		t.Fatal(err)
	}
	backendtest.SetReadOnly(t, root, true)
	_, err = f.put(t, service(), "full", "other.txt", []byte("v1"), false)
	wantFull(t, "put on a read-only disk", err, "read-only file system")
	if _, err := f.e.DeleteObject(ctx, service(), "full", "small.txt"); err != nil {
		t.Fatal(err)
	}
	f.e.sweepOnce(ctx)
	found := false
	for _, r := range logs.records() {
		if strings.Contains(r, "DatabaseError") {
			t.Errorf("a filesystem error logged as a database error: %s", r)
		}
		if strings.HasPrefix(r, "sweep ") && strings.Contains(r, "code=InsufficientStorage") && strings.Contains(r, "read-only file system") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no sweep record with code=InsufficientStorage; logged:\n%s", strings.Join(logs.records(), "\n"))
	}
}
