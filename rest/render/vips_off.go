//go:build !cgo || novips

package render

import (
	"errors"
	"log/slog"
)

// vipsBuilt reports whether this binary carries the libvips renderer.
const vipsBuilt = false

var errDecode = errors.New("decode")

// newVipsEncoder reports that this build has no in-process renderer: the routes answer
// FeatureNotEnabled unless IMGPROXY_URL is set.
func newVipsEncoder(*slog.Logger) (encoder, error) { return nil, ErrNotEnabled }
