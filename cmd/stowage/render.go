package main

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
	"github.com/stowage/stowage/rest"
	"github.com/stowage/stowage/rest/render"
)

// renderRoutes builds /render/image from the configuration; nil when
// IMAGE_TRANSFORMATION_ENABLED=false (the routes then do not exist, as in the reference).
func renderRoutes(engine *gateway.Engine, cfg Config, verifier *auth.Verifier, restHandler *rest.Handler, log *slog.Logger) (*render.Handler, error) {
	if !cfg.ImageTransform {
		return nil, nil
	}
	cacheBytes, _ := gateway.ParseSize(cfg.RenderCacheSize)
	maxSource, _ := gateway.ParseSize(cfg.RenderMaxSource)
	source := cfg.ImgproxySourceURL
	if source == "" {
		source = "http://127.0.0.1:" + strconv.Itoa(cfg.Port)
	}
	r, err := render.NewRenderer(render.Config{
		Limits:         renderLimits(cfg),
		MaxSourceBytes: maxSource, MaxMegapixels: cfg.RenderMaxMegapixel,
		Concurrency: cfg.RenderConcurrency, Timeout: time.Duration(cfg.RenderTimeout) * time.Second,
		CacheDir: filepath.Join(cfg.DataDir, "render-cache"), CacheBytes: cacheBytes,
		ImgproxyURL: cfg.ImgproxyURL, ImgproxySourceURL: source, Verifier: verifier, Logger: log,
		Libvips: libvipsNames(cfg.Libvips),
	})
	if err != nil {
		return nil, err
	}
	log.Info("image transformation", "renderer", r.Backend())
	return render.NewHandler(engine, r, render.HandlerOptions{REST: restHandler, Logger: log}), nil
}

// libvipsNames splits STOWAGE_LIBVIPS; nil (the renderer's defaults) when unset.
func libvipsNames(v string) []string {
	var names []string
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

func renderLimits(cfg Config) render.Limits {
	return render.Limits{MinSize: cfg.ImageMinSize, MaxSize: cfg.ImageMaxSize}
}

// signTransform lets POST /object/sign put transformations in tokens; nil (transform
// ignored) when IMAGE_TRANSFORMATION_ENABLED=false.
func signTransform(cfg Config) func(json.RawMessage) (string, string, error) {
	if !cfg.ImageTransform {
		return nil
	}
	return render.SignTransform(renderLimits(cfg))
}
