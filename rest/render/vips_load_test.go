//go:build cgo && !novips

package render

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestLibvipsMissing: when no configured library opens at the first render, the renderer
// reports itself disabled and every render route answers FeatureNotEnabled (the
// reference's answer without transformations) before touching the engine (nil here).
func TestLibvipsMissing(t *testing.T) {
	t.Parallel()
	r, err := NewRenderer(Config{Libvips: []string{"libvips-missing.so.42", "/nonexistent/libvips.so"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Backend() != "libvips" {
		t.Fatalf("backend %q before the first render, want libvips", r.Backend())
	}
	for _, path := range notEnabledPaths {
		checkNotEnabled(t, r, path)
	}
	if r.Enabled() {
		t.Fatal("renderer enabled without libvips")
	}
}

// TestLibvipsFallback: the names are tried in order; a missing first name falls back to
// the next, which renders.
func TestLibvipsFallback(t *testing.T) {
	t.Parallel()
	r, err := NewRenderer(Config{Libvips: append([]string{"libvips-missing.so.42"}, DefaultLibvips...)})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Enabled() {
		t.Fatal("renderer disabled although a later name is the installed libvips")
	}
	data, out, err := r.renderBytes(encodePNG(t, testImage(60, 40)), Options{Width: 30, Quality: 80}, FormatOrigin)
	if err != nil || out != outPNG {
		t.Fatalf("render: %s, %v", out, err)
	}
	if h := probe(data); h.Type != typePNG || h.Width != 30 || h.Height != 20 {
		t.Fatalf("rendered %+v, want a 30×20 PNG", h)
	}
}

// TestShimMatchesHeaders compiles vips_shim.c against the installed libvips headers: the
// shim declares libvips' prototypes and enum values itself (so the build needs no
// libvips-dev), and any that differ from the headers' is a compile error here.
func TestShimMatchesHeaders(t *testing.T) {
	cflags, err := exec.Command("pkg-config", "--cflags", "vips").Output()
	if err != nil {
		t.Skipf("libvips headers not installed (pkg-config --cflags vips: %v)", err)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	args := append([]string{"-fsyntax-only", "-Wall", "-Werror", "-DSTOWAGE_VIPS_CHECK"}, strings.Fields(string(cflags))...)
	out, err := exec.Command(cc, append(args, "vips_shim.c")...).CombinedOutput()
	if err != nil {
		t.Fatalf("vips_shim.c does not match the libvips headers: %v\n%s", err, out)
	}
}
