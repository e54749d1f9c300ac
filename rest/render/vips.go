//go:build cgo && !novips

package render

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/davidbyttow/govips/v2/vips"
)

// vipsBuilt reports whether this binary carries the libvips renderer.
const vipsBuilt = true

var vipsStart sync.Once

// vipsEncoder renders with libvips, in process. libvips' own operation cache is off (the
// variant cache sits above it) and each transformation runs on one libvips thread: the
// renderer's concurrency limit is then the CPU bound.
type vipsEncoder struct{ log *slog.Logger }

// newVipsEncoder does not start libvips: the first use does (start), so a server that
// never renders does not pay libvips' threads, caches and type system in idle memory.
func newVipsEncoder(log *slog.Logger) (encoder, error) {
	return vipsEncoder{log: log}, nil
}

// start initialises libvips once per process, on first use.
func (v vipsEncoder) start() {
	vipsStart.Do(func() {
		vips.LoggingSettings(func(domain string, level vips.LogLevel, msg string) {
			if level <= vips.LogLevelWarning {
				v.log.Debug("libvips", "domain", domain, "msg", msg)
			}
		}, vips.LogLevelWarning)
		vips.Startup(&vips.Config{ConcurrencyLevel: 1, MaxCacheFiles: 0, MaxCacheMem: 0, MaxCacheSize: 0})
	})
}

func (v vipsEncoder) canAVIF() bool {
	v.start()
	return vips.IsTypeSupported(vips.ImageTypeAVIF)
}

// dimensions reads the oriented size from the decoder's header for formats probe cannot
// measure; libvips loaders read headers lazily, so no pixels are decoded here.
func (v vipsEncoder) dimensions(src []byte) (int, int, error) {
	v.start()
	img, err := vips.LoadImageFromBuffer(src, nil)
	if err != nil {
		return 0, 0, err
	}
	defer img.Close()
	w, h := img.Width(), img.Height()
	if pages := img.Pages(); pages > 1 && img.PageHeight() > 0 {
		h = img.PageHeight()
	}
	if o := img.Orientation(); o >= 5 && o <= 8 {
		w, h = h, w
	}
	return w, h, nil
}

func (v vipsEncoder) render(src []byte, p plan, out outFormat, quality int) ([]byte, error) {
	// thumbnail picks the loader, shrinks on load (JPEG, WebP, SVG) and applies the EXIF
	// orientation; only the first page of multi-page inputs is used.
	v.start()
	img, err := vips.LoadThumbnailFromBuffer(src, p.W, p.H, vips.InterestingNone, vips.SizeForce, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDecode, err)
	}
	defer img.Close()
	if p.Crop {
		if err := img.ExtractArea(p.Left, p.Top, p.CropW, p.CropH); err != nil {
			return nil, err
		}
	}
	var buf []byte
	switch out {
	case outJPEG:
		if img.HasAlpha() {
			if err := img.Flatten(&vips.Color{R: 255, G: 255, B: 255}); err != nil {
				return nil, err
			}
		}
		prm := vips.NewJpegExportParams()
		prm.Quality, prm.StripMetadata, prm.Interlace = quality, true, true
		buf, _, err = img.ExportJpeg(prm)
	case outWebP:
		prm := vips.NewWebpExportParams()
		prm.Quality, prm.StripMetadata = quality, true
		buf, _, err = img.ExportWebp(prm)
	case outAVIF:
		prm := vips.NewAvifExportParams()
		prm.Quality, prm.StripMetadata, prm.Effort = quality, true, 2
		buf, _, err = img.ExportAvif(prm)
	case outGIF:
		prm := vips.NewGifExportParams()
		prm.StripMetadata = true
		buf, _, err = img.ExportGIF(prm)
	case outTIFF:
		prm := vips.NewTiffExportParams()
		prm.Quality, prm.StripMetadata = quality, true
		buf, _, err = img.ExportTiff(prm)
	default:
		prm := vips.NewPngExportParams()
		prm.StripMetadata = true
		buf, _, err = img.ExportPng(prm)
	}
	return buf, err
}

var errDecode = errors.New("decode")
