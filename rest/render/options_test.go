package render

import (
	"net/url"
	"testing"
)

func TestParseQuery(t *testing.T) {
	t.Parallel()
	lim := Limits{MinSize: 1, MaxSize: 2500}
	def := Options{Resize: ResizeCover, Quality: 80, Gravity: "ce"}
	cases := []struct {
		name    string
		query   string
		want    Options
		wantErr string
	}{
		{name: "defaults", query: "", want: def},
		{name: "all options", query: "width=200&height=100&resize=contain&quality=55&format=origin",
			want: Options{Width: 200, Height: 100, Resize: ResizeContain, Quality: 55, Format: FormatOrigin, Gravity: "ce"}},
		{name: "zero means unset", query: "width=0", want: def},
		{name: "clamped to max", query: "width=99999", want: Options{Width: 2500, Resize: ResizeCover, Quality: 80, Gravity: "ce"}},
		{name: "focus point", query: "width=10&height=10&gravity=fp&x_offset=0.25&y_offset=1",
			want: Options{Width: 10, Height: 10, Resize: ResizeCover, Quality: 80, Gravity: "fp", X: 0.25, Y: 1}},
		{name: "negative width", query: "width=-1", wantErr: "querystring/width must be >= 0"},
		{name: "fractional height", query: "height=1.5", wantErr: "querystring/height must be integer"},
		{name: "text width", query: "width=abc", wantErr: "querystring/width must be integer"},
		{name: "unknown resize", query: "resize=stretch", wantErr: "querystring/resize must be equal to one of the allowed values"},
		{name: "quality too low", query: "quality=19", wantErr: "querystring/quality must be >= 20"},
		{name: "quality too high", query: "quality=101", wantErr: "querystring/quality must be <= 100"},
		{name: "quality not a number", query: "quality=high", wantErr: "querystring/quality must be integer"},
		{name: "unknown format", query: "format=bmp", wantErr: "querystring/format must be equal to one of the allowed values"},
		{name: "unknown gravity", query: "gravity=up", wantErr: "querystring/gravity must be equal to one of the allowed values"},
		{name: "focus point out of range", query: "gravity=fp&x_offset=2&y_offset=0", wantErr: "querystring/x_offset must be a number between 0 and 1 with gravity fp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q, _ := url.ParseQuery(tc.query)
			got, err := ParseQuery(q, lim)
			if tc.wantErr != "" {
				re, ok := err.(*Error)
				if !ok || re.Message != tc.wantErr || re.HTTP != 400 || re.Code != "InvalidRequest" {
					t.Fatalf("err = %#v, want InvalidRequest %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestClaimsRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   Options
	}{
		{name: "sizes", in: Options{Width: 200, Height: 100, Resize: ResizeFill, Quality: 80, Gravity: "ce"}},
		{name: "format and quality", in: Options{Width: 64, Resize: ResizeCover, Quality: 30, Format: FormatOrigin, Gravity: "ce"}},
		{name: "focus point", in: Options{Width: 5, Height: 5, Resize: ResizeCover, Quality: 80, Gravity: "fp", X: 0.5, Y: 0.1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr, f := tc.in.Claims()
			got, err := ParseClaims(tr, f, Limits{})
			if err != nil || got != tc.in {
				t.Fatalf("claims %q/%q parsed to %+v, %v", tr, f, got, err)
			}
		})
	}
	t.Run("imgproxy segment names", func(t *testing.T) {
		got, err := ParseClaims("height:100,width:200,resizing_type:fit", "", Limits{})
		if err != nil || got.Resize != ResizeContain || got.Width != 200 || got.Height != 100 {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("invalid claim", func(t *testing.T) {
		if _, err := ParseClaims("width:-5", "", Limits{}); err == nil {
			t.Fatal("accepted a negative width")
		}
	})
}

func TestParseTransform(t *testing.T) {
	t.Parallel()
	f := func(v float64) *float64 { return &v }
	cases := []struct {
		name    string
		in      Transform
		want    Options
		wantErr bool
	}{
		{name: "storage-js transform", in: Transform{Width: f(100), Height: f(50), Resize: "fill", Quality: f(90), Format: "origin"},
			want: Options{Width: 100, Height: 50, Resize: ResizeFill, Quality: 90, Format: FormatOrigin, Gravity: "ce"}},
		{name: "fractional width", in: Transform{Width: f(1.5)}, wantErr: true},
		{name: "bad resize", in: Transform{Resize: "zoom"}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTransform(tc.in, Limits{})
			if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	t.Parallel()
	chrome := "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
	cases := []struct {
		name     string
		format   Format
		accept   string
		avif     bool
		want     Format
		wantVary bool
	}{
		{name: "browser gets avif", accept: chrome, avif: true, want: FormatAVIF, wantVary: true},
		{name: "no avif encoder gives webp", accept: chrome, avif: false, want: FormatWebP, wantVary: true},
		{name: "webp only", accept: "image/webp,*/*", avif: true, want: FormatWebP, wantVary: true},
		{name: "refused with q=0", accept: "image/webp;q=0, image/avif;q=0", avif: true, want: FormatOrigin, wantVary: true},
		{name: "wildcards keep origin", accept: "*/*", avif: true, want: FormatOrigin, wantVary: true},
		{name: "origin opts out", format: FormatOrigin, accept: chrome, avif: true, want: FormatOrigin},
		{name: "explicit webp", format: FormatWebP, accept: "", avif: true, want: FormatWebP},
		{name: "explicit avif without encoder", format: FormatAVIF, accept: "", avif: false, want: FormatWebP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, vary := negotiate(Options{Format: tc.format}, tc.accept, tc.avif)
			if got != tc.want || vary != tc.wantVary {
				t.Fatalf("got %q vary=%v, want %q vary=%v", got, vary, tc.want, tc.wantVary)
			}
		})
	}
}
