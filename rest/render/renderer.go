package render

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"time"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
)

// encoder turns source bytes into an encoded variant. The libvips one exists only in cgo
// builds (vips.go); imgproxy is the other way to render.
type encoder interface {
	// available loads the renderer on first use and reports whether it works.
	available() bool
	canAVIF() bool
	// dimensions reads the oriented size from the format's header, decoding no pixels.
	dimensions(src []byte) (w, h int, err error)
	render(src []byte, p plan, out outFormat, quality int) ([]byte, error)
}

// Config configures a Renderer. Zero values take the documented defaults.
type Config struct {
	Limits Limits
	// MaxSourceBytes refuses larger originals before reading them (default 25 MB).
	MaxSourceBytes int64
	// MaxMegapixels refuses images whose header claims more pixels (default 50).
	MaxMegapixels int
	// Concurrency is how many transformations run at once (default: CPU count).
	Concurrency int
	// Timeout bounds both the wait for a free slot (then 429) and one transformation
	// (then 503). Default 15 s, the reference's imgproxy request timeout.
	Timeout time.Duration
	// CacheDir holds rendered variants; CacheBytes caps them (<= 0: no cache).
	CacheDir   string
	CacheBytes int64
	// ImgproxyURL, when set, sends transformations to imgproxy instead of libvips.
	ImgproxyURL string
	// ImgproxySourceURL is the base URL imgproxy fetches originals from (this server).
	ImgproxySourceURL string
	// Libvips are the libraries the in-process renderer dlopens on its first render, tried
	// in order (default DefaultLibvips). When none opens, renders answer FeatureNotEnabled.
	Libvips []string
	// Verifier mints the short-lived download tokens of imgproxy source URLs.
	Verifier *auth.Verifier
	Logger   *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Renderer renders object variants: bounded concurrency, a per-transformation deadline,
// and a disk cache keyed by object version, normalised options and output target.
type Renderer struct {
	cfg   Config
	enc   encoder
	proxy *imgproxy
	cache *cache
	slots chan struct{}
	log   *slog.Logger
	// tenant scopes a view made by ForTenant: its variants' keys (so cache entries and
	// ETags) are the tenant's own, whatever another tenant's buckets are called.
	tenant string
	// maxRes, set by WithMaxResolution, is a tenant's own resolution limit in megapixels
	// (0: none); the smaller of it and MaxMegapixels applies.
	maxRes int
	// hooks let tests act between two steps.
	hooks struct {
		// beforeWait runs after the work started and before bounded waits for it.
		beforeWait func(wctx context.Context)
	}
}

// NewRenderer builds a Renderer. Without libvips (a cgo-free build, or the library missing
// at run time) and without ImgproxyURL it still succeeds; Enabled then reports false and
// renders fail with ErrNotEnabled.
func NewRenderer(cfg Config) (*Renderer, error) {
	if cfg.MaxSourceBytes <= 0 {
		cfg.MaxSourceBytes = 25_000_000
	}
	if cfg.MaxMegapixels <= 0 {
		cfg.MaxMegapixels = 50
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = runtime.NumCPU()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Limits = cfg.Limits.orDefault()
	r := &Renderer{cfg: cfg, slots: make(chan struct{}, cfg.Concurrency), log: cfg.Logger}
	if cfg.ImgproxyURL != "" {
		p, err := newImgproxy(cfg)
		if err != nil {
			return nil, err
		}
		r.proxy = p
	} else if enc, err := newVipsEncoder(cfg.Logger, cfg.Libvips); err == nil {
		r.enc = enc
	}
	c, err := openCache(cfg.CacheDir, cfg.CacheBytes)
	if err != nil {
		return nil, fmt.Errorf("render cache: %w", err)
	}
	r.cache = c
	return r, nil
}

// Enabled reports whether this renderer can transform images. For libvips the first call
// loads the library (render routes call it first thing), so a server that never renders
// never maps it.
func (r *Renderer) Enabled() bool { return r.proxy != nil || r.enc != nil && r.enc.available() }

// Backend names the renderer configured: "libvips", "imgproxy" or "none". It loads
// nothing: "libvips" may still turn out to be missing on the first render.
func (r *Renderer) Backend() string {
	switch {
	case r.proxy != nil:
		return "imgproxy"
	case r.enc != nil:
		return "libvips"
	}
	return "none"
}

// ForTenant is r for one tenant of a multi-tenant gateway: the same libvips (loaded once),
// the same concurrency slots and the same disk cache (one cap for the gateway), with variant
// keys of the tenant's own, so two tenants' objects of the same bucket, key and version
// never share a cache entry. ImgproxyURL renderers are not scoped: their source URL is the
// single-tenant server's; callers use ForTenant only on libvips renderers.
func (r *Renderer) ForTenant(id string) *Renderer {
	v := *r
	v.tenant = id
	v.log = r.log.With("tenant", id)
	return &v
}

// WithMaxResolution is r with a tenant's resolution limit (the reference's
// image_transformation_max_resolution, in megapixels as imgproxy's max_src_resolution; 0
// or less: none): an original of more pixels is refused as one over MaxMegapixels is, and
// the smaller of the two limits applies. Variants are keyed by the limit, so a variant
// rendered under another limit is not served from the cache. Through imgproxy the limit is
// sent as max_src_resolution, as the reference does.
func (r *Renderer) WithMaxResolution(megapixels int) *Renderer {
	v := *r
	v.maxRes = max(megapixels, 0)
	return &v
}

// maxPixels is the resolution limit of this renderer (view), in pixels.
func (r *Renderer) maxPixels() int64 {
	mp := r.cfg.MaxMegapixels
	if r.maxRes > 0 {
		mp = min(mp, r.maxRes)
	}
	return int64(mp) * 1_000_000
}

// Limits are the size clamps of option parsing.
func (r *Renderer) Limits() Limits { return r.cfg.Limits }

func (r *Renderer) canAVIF() bool {
	if r.proxy != nil {
		return true
	}
	return r.enc != nil && r.enc.canAVIF()
}

// Target negotiates the output target of o for a client sending accept; vary reports that
// the answer depends on Accept (send Vary: Accept).
func (r *Renderer) Target(o Options, accept string) (target Format, vary bool) {
	return negotiate(o, accept, r.canAVIF())
}

// variantKey names a variant: everything that changes its bytes is in it, the object
// version first, so an overwrite never finds an old variant.
func (r *Renderer) variantKey(obj gateway.Object, o Options, target Format) string {
	ns := ""
	if r.tenant != "" {
		ns = "tenant\x00" + r.tenant + "\x00" // a single-tenant key stays what it was
	}
	if r.maxRes > 0 {
		ns += "maxres\x00" + strconv.Itoa(r.maxRes) + "\x00"
	}
	sum := sha256.Sum256([]byte(ns + r.Backend() + "\x00" + obj.Bucket + "\x00" + obj.Key + "\x00" + obj.Version +
		"\x00" + obj.ETag + "\x00" + o.key() + "\x00" + string(target)))
	return hex.EncodeToString(sum[:])
}

// ETag is the entity tag of the variant of obj rendered with o for target.
func (r *Renderer) ETag(obj gateway.Object, o Options, target Format) string {
	return `"` + r.variantKey(obj, o, target)[:32] + `"`
}

// Variant is a rendered image. The caller sends Body (Size bytes) and closes it.
type Variant struct {
	Body        io.ReadCloser
	Size        int64
	ContentType string
	ETag        string
	Cached      bool
}

// Opener opens the object's bytes; Render calls it only on a cache miss.
type Opener func(ctx context.Context) (gateway.ObjectReader, error)

// Render returns the variant of obj for o and target (from Target), from the cache or by
// rendering it. Engine errors from open are returned unchanged; render failures are *Error.
func (r *Renderer) Render(ctx context.Context, obj gateway.Object, o Options, target Format, open Opener) (Variant, error) {
	if !r.Enabled() {
		return Variant{}, ErrNotEnabled
	}
	key := r.variantKey(obj, o, target)
	if v, ok := r.cached(key); ok {
		return v, nil
	}
	if obj.Size > r.cfg.MaxSourceBytes {
		return Variant{}, errTooLarge
	}
	var data []byte
	var out outFormat
	err := r.bounded(ctx, func(ctx context.Context) error {
		var err error
		if r.proxy != nil {
			data, out, err = r.proxy.render(ctx, obj, o, target, r.maxRes, r.cfg.MaxSourceBytes*4)
			return err
		}
		src, err := r.readSource(ctx, open, &obj)
		if err != nil {
			return err
		}
		data, out, err = r.renderBytes(src, o, target)
		return err
	})
	if err != nil {
		return Variant{}, err
	}
	key = r.variantKey(obj, o, target) // a concurrent overwrite may have given us a newer version
	if err := r.cache.put(key, out, data); err != nil {
		r.log.WarnContext(ctx, "render cache write failed", "err", err)
	}
	return Variant{Body: io.NopCloser(bytes.NewReader(data)), Size: int64(len(data)), ContentType: out.ContentType(),
		ETag: `"` + key[:32] + `"`}, nil
}

func (r *Renderer) cached(key string) (Variant, bool) {
	f, size, ext, ok := r.cache.get(key)
	if !ok {
		return Variant{}, false
	}
	return Variant{Body: f, Size: size, ContentType: ext.ContentType(), ETag: `"` + key[:32] + `"`, Cached: true}, true
}

// bounded runs fn in one of the renderer's slots. Waiting for a slot and running are each
// bounded by the timeout; a transformation that overruns keeps its slot until libvips
// returns (a cgo call cannot be interrupted), so the CPU bound holds even then.
func (r *Renderer) bounded(ctx context.Context, fn func(context.Context) error) error {
	wait := time.NewTimer(r.cfg.Timeout)
	defer wait.Stop()
	select {
	case r.slots <- struct{}{}:
	case <-wait.C:
		return errBusy
	case <-ctx.Done():
		return errBusy
	}
	// Detached from the request so the slot is released by the work itself, not by a
	// client hanging up; the deadline still stops reading the source.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- wrap(errInternal, fmt.Errorf("render panic: %v", p))
			}
			cancel()
			<-r.slots
		}()
		done <- fn(wctx)
	}()
	if r.hooks.beforeWait != nil {
		r.hooks.beforeWait(wctx)
	}
	select {
	case err := <-done:
		return err
	case <-wctx.Done():
		// The work cancels wctx right after sending its result, so both may be ready at
		// once: a result that was produced wins over the deadline.
		select {
		case err := <-done:
			return err
		default:
			return errTimeout
		}
	}
}

// readSource reads the original into memory (at most MaxSourceBytes): decoders need the
// whole file, and the slot count bounds how many such buffers exist.
func (r *Renderer) readSource(ctx context.Context, open Opener, obj *gateway.Object) ([]byte, error) {
	rd, err := open(ctx)
	if err != nil {
		return nil, err
	}
	defer rd.Body.Close()
	*obj = rd.Object
	if rd.Size > r.cfg.MaxSourceBytes {
		return nil, errTooLarge
	}
	buf := bytes.NewBuffer(make([]byte, 0, rd.Size+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(rd.Body, r.cfg.MaxSourceBytes+1)); err != nil {
		if ctx.Err() != nil {
			return nil, errTimeout
		}
		return nil, wrap(errInternal, err)
	}
	if int64(buf.Len()) > r.cfg.MaxSourceBytes {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

// renderBytes checks the claimed size before any decoding, then renders.
func (r *Renderer) renderBytes(src []byte, o Options, target Format) ([]byte, outFormat, error) {
	h := probe(src)
	if h.Type == typeUnknown {
		return nil, "", errInvalidImage
	}
	limit := r.maxPixels()
	if tooManyPixels(h.Width, h.Height, limit) {
		return nil, "", errTooLarge
	}
	// The decoder's header gives the oriented size (EXIF rotation) and measures the
	// formats probe cannot; it reads headers only.
	w, hh := h.Width, h.Height
	var err error
	if h.Type != typeICO && h.Type != typeBMP { // no lazy header reader for these: probe measured them
		w, hh, err = r.enc.dimensions(src)
	}
	if err != nil || w <= 0 || hh <= 0 {
		return nil, "", wrap(errInvalidImage, err)
	}
	if tooManyPixels(w, hh, limit) {
		return nil, "", errTooLarge
	}
	out := output(target, h.Type, r.enc.canAVIF())
	data, err := r.enc.render(src, makePlan(w, hh, o), out, o.Quality)
	switch {
	case errors.Is(err, errDecode):
		return nil, "", wrap(errInvalidImage, err)
	case err != nil:
		return nil, "", wrap(errInternal, err)
	}
	return data, out, nil
}

// tooManyPixels reports whether a w×h image exceeds limit pixels. Each side is checked
// first: the product of two 32-bit sides a header may claim overflows int64.
func tooManyPixels(w, h int, limit int64) bool {
	return int64(w) > limit || int64(h) > limit || int64(w)*int64(h) > limit
}
