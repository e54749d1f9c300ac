package render

import "math"

// plan is the geometry of one transformation: scale the source to W×H (aspect ratio kept
// unless the mode is fill), then, for cover, cut a CropW×CropH window at Left, Top.
type plan struct {
	W, H                    int
	Crop                    bool
	Left, Top, CropW, CropH int
}

// makePlan computes the output geometry for a source of sw×sh pixels (already oriented).
// Like imgproxy's default (the reference's renderer), images are never enlarged: a box
// larger than the source yields the source size (cropped to the box for cover).
func makePlan(sw, sh int, o Options) plan {
	w, h := o.Width, o.Height
	scaled := func(s float64) plan {
		s = min(s, 1)
		return plan{W: max(1, int(math.Round(float64(sw)*s))), H: max(1, int(math.Round(float64(sh)*s)))}
	}
	switch {
	case w == 0 && h == 0:
		return plan{W: sw, H: sh}
	case h == 0: // one side given: keep the aspect ratio, whatever the mode
		return scaled(float64(w) / float64(sw))
	case w == 0:
		return scaled(float64(h) / float64(sh))
	}
	fw, fh := float64(w)/float64(sw), float64(h)/float64(sh)
	switch o.Resize {
	case ResizeFill:
		return plan{W: min(w, sw), H: min(h, sh)}
	case ResizeContain:
		return scaled(min(fw, fh))
	}
	p := scaled(max(fw, fh))
	cw, ch := min(w, p.W), min(h, p.H)
	if cw == p.W && ch == p.H {
		return p
	}
	p.Crop, p.CropW, p.CropH = true, cw, ch
	p.Left, p.Top = cropOffset(p.W-cw, p.H-ch, p.W, p.H, cw, ch, o)
	return p
}

// cropOffset places the crop window by gravity; freeX/freeY is the slack on each axis.
func cropOffset(freeX, freeY, w, h, cw, ch int, o Options) (int, int) {
	left, top := freeX/2, freeY/2
	switch o.Gravity {
	case "no":
		top = 0
	case "so":
		top = freeY
	case "ea":
		left = freeX
	case "we":
		left = 0
	case "noea":
		left, top = freeX, 0
	case "nowe":
		left, top = 0, 0
	case "soea":
		left, top = freeX, freeY
	case "sowe":
		left, top = 0, freeY
	case "fp":
		left = int(math.Round(o.X*float64(w) - float64(cw)/2))
		top = int(math.Round(o.Y*float64(h) - float64(ch)/2))
		left, top = min(max(left, 0), freeX), min(max(top, 0), freeY)
	}
	return left, top
}
