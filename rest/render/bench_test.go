//go:build cgo && !novips

package render

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stowage/stowage/gateway"
)

// BenchmarkTransform renders a 2000×1500 JPEG to a 400×300 WebP through the Renderer
// (limiter, probe, libvips, cache), serially and in parallel, with the variant cache off
// and on. With the cache on, every iteration after the first is a hit.
func BenchmarkTransform(b *testing.B) {
	src := encodeJPEG(b, testImage(2000, 1500))
	opts := Options{Width: 400, Height: 300, Resize: ResizeCover, Quality: 80, Gravity: "ce"}
	for _, cached := range []bool{false, true} {
		name := "cache=off"
		cfg := Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if cached {
			name, cfg.CacheDir, cfg.CacheBytes = "cache=on", b.TempDir(), 1<<30
		}
		r, err := NewRenderer(cfg)
		if err != nil {
			b.Fatal(err)
		}
		var version atomic.Int64
		render := func(b *testing.B, v string) {
			obj := gateway.Object{Bucket: "bench", Key: "photo.jpg", Version: v, Size: int64(len(src))}
			open := func(context.Context) (gateway.ObjectReader, error) {
				return gateway.ObjectReader{Object: obj, Body: io.NopCloser(bytes.NewReader(src))}, nil
			}
			out, err := r.Render(context.Background(), obj, opts, FormatWebP, open)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, out.Body)
			out.Body.Close()
			if n == 0 {
				b.Fatal("empty variant")
			}
		}
		b.Run(name+"/single", func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				render(b, "v1")
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			v := "p" + strconv.FormatInt(version.Add(1), 10)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					render(b, v)
				}
			})
		})
	}
}
