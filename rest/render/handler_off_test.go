//go:build !cgo || novips

package render

import (
	"testing"
)

// TestNotEnabled: a build without libvips and without IMGPROXY_URL answers every render
// route with FeatureNotEnabled before touching the engine.
func TestNotEnabled(t *testing.T) {
	t.Parallel()
	r, err := NewRenderer(Config{})
	if err != nil || r.Enabled() {
		t.Fatalf("renderer enabled=%v, %v", r != nil && r.Enabled(), err)
	}
	for _, path := range notEnabledPaths {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			checkNotEnabled(t, r, path)
		})
	}
}
