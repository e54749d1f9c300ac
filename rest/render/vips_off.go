//go:build !cgo || novips

package render

import (
	"errors"
	"log/slog"
)

// vipsBuilt reports whether this binary carries the libvips renderer.
const vipsBuilt = false

// DefaultLibvips is empty: this build never loads libvips.
var DefaultLibvips []string

var errDecode = errors.New("decode")

// newVipsEncoder reports that this build has no in-process renderer: the routes answer
// FeatureNotEnabled unless IMGPROXY_URL is set.
func newVipsEncoder(*slog.Logger, []string) (encoder, error) { return nil, ErrNotEnabled }
