package render

import "testing"

func TestMakePlan(t *testing.T) {
	t.Parallel()
	o := func(w, h int, r Resize) Options { return Options{Width: w, Height: h, Resize: r, Gravity: "ce"} }
	cases := []struct {
		name   string
		sw, sh int
		opts   Options
		want   plan
	}{
		{name: "no size keeps the source", sw: 300, sh: 200, opts: o(0, 0, ResizeCover), want: plan{W: 300, H: 200}},
		{name: "width only keeps aspect", sw: 300, sh: 200, opts: o(150, 0, ResizeFill), want: plan{W: 150, H: 100}},
		{name: "height only keeps aspect", sw: 300, sh: 200, opts: o(0, 50, ResizeCover), want: plan{W: 75, H: 50}},
		{name: "cover crops the long side", sw: 300, sh: 200, opts: o(100, 100, ResizeCover),
			want: plan{W: 150, H: 100, Crop: true, Left: 25, Top: 0, CropW: 100, CropH: 100}},
		{name: "contain fits inside", sw: 300, sh: 200, opts: o(100, 100, ResizeContain), want: plan{W: 100, H: 67}},
		{name: "fill stretches", sw: 300, sh: 200, opts: o(100, 100, ResizeFill), want: plan{W: 100, H: 100}},
		{name: "never enlarges", sw: 30, sh: 20, opts: o(600, 0, ResizeCover), want: plan{W: 30, H: 20}},
		{name: "cover larger than source crops to the box", sw: 30, sh: 20, opts: o(60, 10, ResizeCover),
			want: plan{W: 30, H: 20, Crop: true, Left: 0, Top: 5, CropW: 30, CropH: 10}},
		{name: "north gravity", sw: 200, sh: 400, opts: Options{Width: 100, Height: 100, Resize: ResizeCover, Gravity: "no"},
			want: plan{W: 100, H: 200, Crop: true, Left: 0, Top: 0, CropW: 100, CropH: 100}},
		{name: "focus point clamps", sw: 200, sh: 400, opts: Options{Width: 100, Height: 100, Resize: ResizeCover, Gravity: "fp", Y: 1},
			want: plan{W: 100, H: 200, Crop: true, Left: 0, Top: 100, CropW: 100, CropH: 100}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := makePlan(tc.sw, tc.sh, tc.opts); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
