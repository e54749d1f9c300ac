package render

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// Resize is how an image is fitted into the requested box.
type Resize string

// The resize modes of the reference (imgproxy's fill, fit and force).
const (
	ResizeCover   Resize = "cover"   // keep the aspect ratio, fill the box, crop what sticks out (default)
	ResizeContain Resize = "contain" // keep the aspect ratio, fit inside the box
	ResizeFill    Resize = "fill"    // stretch to the box, ignoring the aspect ratio
)

// Format is a requested output format: FormatAuto negotiates from Accept.
type Format string

// The formats a client may ask for (rest-api.md §7: origin | avif | webp).
const (
	FormatAuto   Format = ""
	FormatOrigin Format = "origin"
	FormatWebP   Format = "webp"
	FormatAVIF   Format = "avif"
)

// DefaultQuality is the reference's quality when none is given.
const DefaultQuality = 80

// Options are normalised transformation options: sizes already clamped, defaults applied.
// The zero Width/Height means "not given".
type Options struct {
	Width, Height int
	Resize        Resize
	Quality       int
	Format        Format
	// Gravity is where a cover crop is anchored: ce (default), no, so, ea, we, noea, nowe,
	// soea, sowe, sm (treated as ce) or fp (focus point X, Y in [0,1]).
	Gravity string
	X, Y    float64
}

// Limits clamp requested sizes (IMAGE_TRANSFORMATION_LIMIT_MIN_SIZE/MAX_SIZE).
type Limits struct {
	MinSize, MaxSize int
}

func (l Limits) orDefault() Limits {
	if l.MinSize <= 0 {
		l.MinSize = 1
	}
	if l.MaxSize <= 0 {
		l.MaxSize = 2500
	}
	return l
}

var gravities = map[string]bool{"no": true, "so": true, "ea": true, "we": true, "noea": true, "nowe": true,
	"soea": true, "sowe": true, "ce": true, "sm": true, "fp": true}

// ParseQuery reads the options of an authenticated or public render URL
// (?width=&height=&resize=&quality=&format=&gravity=&x_offset=&y_offset=). Invalid values
// are validation errors named like the reference's ("querystring/width must be >= 0").
func ParseQuery(q url.Values, l Limits) (Options, error) {
	return parse(func(k string) (string, bool) {
		if !q.Has(k) {
			return "", false
		}
		return q.Get(k), true
	}, "querystring/", l)
}

// ParseClaims reads the options a signed render token carries: the reference's
// transformations claim ("height:100,width:200,resize:cover,quality:80") and its format
// claim. imgproxy segment names (resizing_type:fill|fit|force) are accepted too.
func ParseClaims(transformations, format string, l Limits) (Options, error) {
	kv := map[string]string{}
	for _, seg := range strings.Split(transformations, ",") {
		seg = strings.TrimSpace(seg)
		if seg == "" {
			continue
		}
		k, v, _ := strings.Cut(seg, ":")
		switch k {
		case "resizing_type":
			k, v = "resize", map[string]string{"fill": "cover", "fit": "contain", "force": "fill"}[v]
		case "gravity":
			// fp carries its offsets in the same segment: gravity:fp:0.5:0.2
			parts := strings.Split(v, ":")
			v = parts[0]
			if len(parts) == 3 {
				kv["x_offset"], kv["y_offset"] = parts[1], parts[2]
			}
		}
		kv[k] = v
	}
	if format != "" {
		kv["format"] = format
	}
	return parse(func(k string) (string, bool) { v, ok := kv[k]; return v, ok }, "transformations/", l)
}

// Transform is the transform object of POST /object/sign and of storage-js options.
type Transform struct {
	Width   *float64 `json:"width,omitempty"`
	Height  *float64 `json:"height,omitempty"`
	Resize  string   `json:"resize,omitempty"`
	Format  string   `json:"format,omitempty"`
	Quality *float64 `json:"quality,omitempty"`
	Gravity string   `json:"gravity,omitempty"`
	XOffset *float64 `json:"x_offset,omitempty"`
	YOffset *float64 `json:"y_offset,omitempty"`
}

// ParseTransform validates a JSON transform object (POST /object/sign's "transform").
func ParseTransform(t Transform, l Limits) (Options, error) {
	kv := map[string]string{}
	num := func(k string, f *float64) {
		if f != nil {
			kv[k] = strconv.FormatFloat(*f, 'f', -1, 64)
		}
	}
	num("width", t.Width)
	num("height", t.Height)
	num("quality", t.Quality)
	num("x_offset", t.XOffset)
	num("y_offset", t.YOffset)
	for k, v := range map[string]string{"resize": t.Resize, "format": t.Format, "gravity": t.Gravity} {
		if v != "" {
			kv[k] = v
		}
	}
	return parse(func(k string) (string, bool) { v, ok := kv[k]; return v, ok }, "body/transform/", l)
}

func parse(get func(string) (string, bool), prefix string, l Limits) (Options, error) {
	l = l.orDefault()
	o := Options{Resize: ResizeCover, Quality: DefaultQuality, Gravity: "ce"}
	invalid := func(field, rule string) error {
		return validation(prefix + field + " " + rule)
	}
	size := func(field string) (int, error) {
		v, ok := get(field)
		if !ok || v == "" {
			return 0, nil
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(n, 0) || math.IsNaN(n) || n != math.Trunc(n) {
			return 0, invalid(field, "must be integer")
		}
		switch {
		case n < 0:
			return 0, invalid(field, "must be >= 0")
		case n == 0:
			return 0, nil // the reference passes 0 to imgproxy, which reads it as "auto"
		}
		// Clamped, not rejected, as the reference does.
		return int(min(max(n, float64(l.MinSize)), float64(l.MaxSize))), nil
	}
	var err error
	if o.Width, err = size("width"); err != nil {
		return Options{}, err
	}
	if o.Height, err = size("height"); err != nil {
		return Options{}, err
	}
	if v, ok := get("resize"); ok && v != "" {
		switch Resize(v) {
		case ResizeCover, ResizeContain, ResizeFill:
			o.Resize = Resize(v)
		default:
			return Options{}, invalid("resize", "must be equal to one of the allowed values")
		}
	}
	if v, ok := get("quality"); ok && v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return Options{}, invalid("quality", "must be integer")
		case n < 20:
			return Options{}, invalid("quality", "must be >= 20")
		case n > 100:
			return Options{}, invalid("quality", "must be <= 100")
		}
		o.Quality = n
	}
	if v, ok := get("format"); ok && v != "" {
		switch Format(v) {
		case FormatOrigin, FormatWebP, FormatAVIF:
			o.Format = Format(v)
		default:
			return Options{}, invalid("format", "must be equal to one of the allowed values")
		}
	}
	if v, ok := get("gravity"); ok && v != "" {
		if !gravities[v] {
			return Options{}, invalid("gravity", "must be equal to one of the allowed values")
		}
		o.Gravity = v
	}
	if o.Gravity == "fp" {
		for _, f := range []struct {
			name string
			dst  *float64
		}{{"x_offset", &o.X}, {"y_offset", &o.Y}} {
			v, _ := get(f.name)
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || n < 0 || n > 1 {
				return Options{}, invalid(f.name, "must be a number between 0 and 1 with gravity fp")
			}
			*f.dst = n
		}
	}
	return o, nil
}

// Empty reports whether o asks for nothing but the defaults.
func (o Options) Empty() bool {
	return o == Options{Resize: ResizeCover, Quality: DefaultQuality, Gravity: "ce"}
}

// Claims renders o as the signed token's transformations and format claims, the form
// ParseClaims reads back ("height:100,width:200,resize:cover,quality:80").
func (o Options) Claims() (transformations, format string) {
	var segs []string
	if o.Height > 0 {
		segs = append(segs, "height:"+strconv.Itoa(o.Height))
	}
	if o.Width > 0 {
		segs = append(segs, "width:"+strconv.Itoa(o.Width))
	}
	segs = append(segs, "resize:"+string(o.Resize))
	if o.Quality != DefaultQuality {
		segs = append(segs, "quality:"+strconv.Itoa(o.Quality))
	}
	if o.Gravity != "" && o.Gravity != "ce" {
		g := "gravity:" + o.Gravity
		if o.Gravity == "fp" {
			g += ":" + strconv.FormatFloat(o.X, 'f', -1, 64) + ":" + strconv.FormatFloat(o.Y, 'f', -1, 64)
		}
		segs = append(segs, g)
	}
	return strings.Join(segs, ","), string(o.Format)
}

// key is the normalised form of o used in cache keys (the output format is added by the
// caller, after negotiation).
func (o Options) key() string {
	return fmt.Sprintf("w=%d;h=%d;r=%s;q=%d;g=%s;x=%g;y=%g", o.Width, o.Height, o.Resize, o.Quality, o.Gravity, o.X, o.Y)
}

// imgproxySegments are the processing options of an imgproxy URL and of the
// X-Transformations header, as the reference builds them.
func (o Options) imgproxySegments() []string {
	var segs []string
	if o.Height > 0 {
		segs = append(segs, "height:"+strconv.Itoa(o.Height))
	}
	if o.Width > 0 {
		segs = append(segs, "width:"+strconv.Itoa(o.Width))
	}
	if o.Width > 0 || o.Height > 0 {
		segs = append(segs, "resizing_type:"+map[Resize]string{ResizeCover: "fill", ResizeContain: "fit", ResizeFill: "force"}[o.Resize])
	}
	segs = append(segs, "quality:"+strconv.Itoa(o.Quality))
	if o.Format == FormatWebP || o.Format == FormatAVIF {
		segs = append(segs, "format:"+string(o.Format))
	}
	switch o.Gravity {
	case "", "ce":
	case "fp":
		segs = append(segs, "gravity:fp:"+strconv.FormatFloat(o.X, 'f', -1, 64)+":"+strconv.FormatFloat(o.Y, 'f', -1, 64))
	default:
		segs = append(segs, "gravity:"+o.Gravity)
	}
	return segs
}
