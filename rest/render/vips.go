//go:build cgo && !novips

package render

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "vips_shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// vipsBuilt reports whether this binary carries the libvips renderer.
const vipsBuilt = true

// DefaultLibvips are the names tried, in order, when Config.Libvips is empty: the runtime
// package's soname (Debian/Ubuntu libvips42, Fedora, Alpine), then the -dev symlink.
var DefaultLibvips = []string{"libvips.so.42", "libvips.so"}

// vipsOpen serialises sv_open: the shim's function table is process-wide, and renderers
// (one per server, several in tests) load on their own first render.
var vipsOpen sync.Mutex

// vipsLog receives libvips' warnings (set by the first encoder that loads libvips).
var vipsLog atomic.Pointer[slog.Logger]

//export stowageVipsLog
func stowageVipsLog(domain *C.char, level C.int, msg *C.char) {
	if l := vipsLog.Load(); l != nil {
		l.Debug("libvips", "domain", C.GoString(domain), "level", int(level), "msg", C.GoString(msg))
	}
}

// vipsEncoder renders with libvips, in process. libvips is not linked: the first use
// dlopens it (vips_shim.c), so a server that never renders maps none of libvips' ~100
// libraries, threads or caches. libvips' own operation cache is off (the variant cache sits
// above it) and each transformation runs on one libvips thread: the renderer's concurrency
// limit is then the CPU bound.
type vipsEncoder struct {
	log   *slog.Logger
	names []string
	once  sync.Once
	err   error // why libvips could not be loaded; set once
}

// newVipsEncoder loads nothing: load does, on the first render. names are the libraries to
// try (empty: DefaultLibvips).
func newVipsEncoder(log *slog.Logger, names []string) (encoder, error) {
	if len(names) == 0 {
		names = DefaultLibvips
	}
	return &vipsEncoder{log: log, names: names}, nil
}

// available loads libvips once; false (logged once) when no name opens.
func (v *vipsEncoder) available() bool {
	v.once.Do(func() {
		vipsOpen.Lock()
		defer vipsOpen.Unlock()
		var errs []string
		for _, name := range v.names {
			cname := C.CString(name)
			var cerr *C.char
			rc := C.sv_open(cname, &cerr)
			C.free(unsafe.Pointer(cname))
			if rc == 0 {
				vipsLog.CompareAndSwap(nil, v.log)
				v.log.Info("libvips loaded", "library", name)
				return
			}
			errs = append(errs, name+": "+cString(cerr))
		}
		v.err = errors.New("libvips not loaded: " + strings.Join(errs, "; "))
		v.log.Warn("image transformations unavailable", "err", v.err)
	})
	return v.err == nil
}

// cString copies and frees a malloc'd C string.
func cString(s *C.char) string {
	if s == nil {
		return ""
	}
	defer C.free(unsafe.Pointer(s))
	return C.GoString(s)
}

func vipsError() error { return errors.New(strings.TrimSpace(cString(C.sv_error()))) }

func (v *vipsEncoder) canAVIF() bool {
	return v.available() && C.sv_can_avif() != 0
}

// dimensions reads the oriented size from the decoder's header for formats probe cannot
// measure; libvips loaders read headers lazily, so no pixels are decoded here.
func (v *vipsEncoder) dimensions(src []byte) (int, int, error) {
	if !v.available() {
		return 0, 0, v.err
	}
	var w, h, pages, pageHeight, orientation C.int
	if C.sv_header(unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src)), &w, &h, &pages, &pageHeight, &orientation) != 0 {
		return 0, 0, vipsError()
	}
	if pages > 1 && pageHeight > 0 {
		h = pageHeight
	}
	if orientation >= 5 && orientation <= 8 {
		w, h = h, w
	}
	return int(w), int(h), nil
}

var saveFormat = map[outFormat]C.int{outJPEG: C.SV_JPEG, outWebP: C.SV_WEBP, outAVIF: C.SV_AVIF, outGIF: C.SV_GIF, outTIFF: C.SV_TIFF}

func (v *vipsEncoder) render(src []byte, p plan, out outFormat, quality int) ([]byte, error) {
	if !v.available() {
		return nil, v.err
	}
	// thumbnail picks the loader, shrinks on load (JPEG, WebP, SVG) and applies the EXIF
	// orientation; only the first page of multi-page inputs is used.
	// libvips wraps src without copying it and decodes lazily, in sv_save: src must stay
	// reachable until the image is unreferenced (the deferred calls run last-in, first-out;
	// nothing else here uses src after sv_thumbnail, so the collector could free it).
	defer runtime.KeepAlive(src)
	var img *C.VipsImage
	if C.sv_thumbnail(unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src)), &img, C.int(p.W), C.int(p.H)) != 0 {
		return nil, fmt.Errorf("%w: %v", errDecode, vipsError())
	}
	defer func() { C.sv_unref(img) }()
	if p.Crop && C.sv_extract(&img, C.int(p.Left), C.int(p.Top), C.int(p.CropW), C.int(p.CropH)) != 0 {
		return nil, vipsError()
	}
	if out == outJPEG && C.sv_has_alpha(img) != 0 && C.sv_flatten_white(&img) != 0 {
		return nil, vipsError()
	}
	format, ok := saveFormat[out]
	if !ok {
		format = C.SV_PNG
	}
	var buf unsafe.Pointer
	var n C.size_t
	if C.sv_save(img, format, C.int(quality), &buf, &n) != 0 {
		return nil, vipsError()
	}
	defer C.sv_free(buf)
	return C.GoBytes(buf, C.int(n)), nil
}

var errDecode = errors.New("decode")
