package render

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
	"time"
)

// bombPNG is a valid PNG signature and IHDR claiming w×h pixels, with one tiny IDAT: the
// shape of a decompression bomb, in 60 bytes.
func bombPNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

func TestProbe(t *testing.T) {
	t.Parallel()
	img := image.NewRGBA(image.Rect(0, 0, 37, 21))
	enc := func(f func(*bytes.Buffer) error) []byte {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	cases := []struct {
		name string
		data []byte
		want header
	}{
		{name: "png", data: enc(func(b *bytes.Buffer) error { return png.Encode(b, img) }), want: header{typePNG, 37, 21}},
		{name: "jpeg", data: enc(func(b *bytes.Buffer) error { return jpeg.Encode(b, img, nil) }), want: header{typeJPEG, 37, 21}},
		{name: "gif", data: enc(func(b *bytes.Buffer) error { return gif.Encode(b, img, nil) }), want: header{typeGIF, 37, 21}},
		{name: "png bomb", data: bombPNG(100000, 100000), want: header{typePNG, 100000, 100000}},
		{name: "svg", data: []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`), want: header{Type: typeSVG}},
		{name: "tiff", data: []byte("II*\x00\x08\x00\x00\x00"), want: header{Type: typeTIFF}},
		{name: "avif", data: []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"), want: header{Type: typeAVIF}},
		{name: "heic", data: []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), want: header{Type: typeHEIC}},
		{name: "pdf refused", data: []byte("%PDF-1.4\n"), want: header{}},
		{name: "text refused", data: []byte("hello, world"), want: header{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := probe(tc.data); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// icoOf is an icon directory whose entries (16×16 in the directory) all point at the
// image that follows it.
func icoOf(entries int, image []byte) []byte {
	dir := make([]byte, 6+16*entries)
	copy(dir, "\x00\x00\x01\x00")
	binary.LittleEndian.PutUint16(dir[4:], uint16(entries))
	for i := 0; i < entries; i++ {
		e := dir[6+16*i:]
		e[0], e[1] = 16, 16
		binary.LittleEndian.PutUint32(e[8:], uint32(len(image)))
		binary.LittleEndian.PutUint32(e[12:], uint32(len(dir)))
	}
	return append(dir, image...)
}

func TestProbeICO(t *testing.T) {
	t.Parallel()
	if got := probe(icoOf(1, bombPNG(300, 200))); got != (header{typeICO, 300, 200}) {
		t.Fatalf("ico holding a png: %+v", got)
	}
	// Directories nested 64 deep, two entries each: measuring entries by following them
	// as any format would take 2^64 steps.
	nested := bombPNG(1, 1)
	for range 64 {
		nested = icoOf(2, nested)
	}
	done := make(chan header, 1)
	go func() { done <- probe(nested) }()
	select {
	case got := <-done:
		if got != (header{typeICO, 16, 16}) {
			t.Fatalf("nested ico: %+v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("probe of nested icon directories did not return")
	}
}

func FuzzProbe(f *testing.F) {
	f.Add(bombPNG(1, 1))
	f.Add([]byte("\xff\xd8\xff\xc0\x00\x11\x08\x00\x10\x00\x10"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00\x00\x00\x00\x00\x16\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h := probe(b)
		if h.Width < 0 || h.Height < 0 {
			t.Fatalf("negative size %+v", h)
		}
	})
}
