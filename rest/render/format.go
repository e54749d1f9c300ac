package render

import (
	"strconv"
	"strings"
)

// outFormat is an encoded output format.
type outFormat string

const (
	outJPEG outFormat = "jpeg"
	outPNG  outFormat = "png"
	outWebP outFormat = "webp"
	outAVIF outFormat = "avif"
	outGIF  outFormat = "gif"
	outTIFF outFormat = "tiff"
)

// ContentType is the media type of f.
func (f outFormat) ContentType() string { return "image/" + string(f) }

// negotiate picks the target of a request: an explicit format wins; otherwise, like the
// reference's imgproxy with WebP (and AVIF) detection, the Accept header decides and the
// response varies by it. canAVIF reports whether the encoder is available.
func negotiate(o Options, accept string, canAVIF bool) (target Format, vary bool) {
	switch o.Format {
	case FormatOrigin:
		return FormatOrigin, false
	case FormatWebP:
		return FormatWebP, false
	case FormatAVIF:
		if canAVIF {
			return FormatAVIF, false
		}
		return FormatWebP, false
	}
	switch {
	case canAVIF && accepts(accept, "image/avif"):
		return FormatAVIF, true
	case accepts(accept, "image/webp"):
		return FormatWebP, true
	}
	return FormatOrigin, true
}

// accepts reports whether accept names mediaType explicitly with a non-zero quality.
// Wildcards (*/*, image/*) do not count: a client that lists neither format may not decode
// it (imgproxy's detection works the same way).
func accepts(accept, mediaType string) bool {
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		if !strings.EqualFold(strings.TrimSpace(fields[0]), mediaType) {
			continue
		}
		q := 1.0
		for _, p := range fields[1:] {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		return q > 0
	}
	return false
}

// output resolves a target against the source type: origin keeps the source's format
// where it can be encoded (HEIC has no encoder here, as in the reference; BMP, ICO and
// SVG become PNG).
func output(target Format, src sourceType, canAVIF bool) outFormat {
	switch target {
	case FormatWebP:
		return outWebP
	case FormatAVIF:
		return outAVIF
	}
	switch src {
	case typeJPEG, typeHEIC:
		return outJPEG
	case typeWebP:
		return outWebP
	case typeAVIF:
		if canAVIF {
			return outAVIF
		}
		return outWebP
	case typeGIF:
		return outGIF
	case typeTIFF:
		return outTIFF
	}
	return outPNG
}
