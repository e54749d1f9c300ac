package render

import (
	"bytes"
	"encoding/binary"
)

// sourceType is an input format we accept. Anything else (PDF, JPEG XL, JPEG 2000, the
// dozens of ImageMagick formats libvips could also open) is refused before a decoder sees it.
type sourceType string

const (
	typeUnknown sourceType = ""
	typePNG     sourceType = "png"
	typeJPEG    sourceType = "jpeg"
	typeGIF     sourceType = "gif"
	typeWebP    sourceType = "webp"
	typeAVIF    sourceType = "avif"
	typeHEIC    sourceType = "heic"
	typeSVG     sourceType = "svg"
	typeICO     sourceType = "ico"
	typeBMP     sourceType = "bmp"
	typeTIFF    sourceType = "tiff"
)

// header is what probe learns from the first bytes: the type and, for formats whose
// dimensions sit at a fixed place, the size the file claims. Width 0 means "ask the
// decoder's header reader" (TIFF, SVG, AVIF, HEIC, ICO).
type header struct {
	Type          sourceType
	Width, Height int
}

// probe classifies buf by its magic bytes and reads the claimed dimensions without
// decoding, so a decompression bomb (a PNG claiming 100000×100000) is refused before any
// pixel buffer exists.
func probe(buf []byte) header {
	switch {
	case len(buf) >= 24 && bytes.HasPrefix(buf, []byte("\x89PNG\r\n\x1a\n")):
		return header{typePNG, int(binary.BigEndian.Uint32(buf[16:])), int(binary.BigEndian.Uint32(buf[20:]))}
	case bytes.HasPrefix(buf, []byte("\xff\xd8\xff")):
		w, h := jpegSize(buf)
		return header{typeJPEG, w, h}
	case len(buf) >= 10 && (bytes.HasPrefix(buf, []byte("GIF87a")) || bytes.HasPrefix(buf, []byte("GIF89a"))):
		return header{typeGIF, int(binary.LittleEndian.Uint16(buf[6:])), int(binary.LittleEndian.Uint16(buf[8:]))}
	case len(buf) >= 30 && bytes.HasPrefix(buf, []byte("RIFF")) && string(buf[8:12]) == "WEBP":
		w, h := webpSize(buf)
		return header{typeWebP, w, h}
	case len(buf) >= 26 && bytes.HasPrefix(buf, []byte("BM")):
		w := int(int32(binary.LittleEndian.Uint32(buf[18:])))
		h := int(int32(binary.LittleEndian.Uint32(buf[22:])))
		return header{typeBMP, abs(w), abs(h)}
	case bytes.HasPrefix(buf, []byte("II*\x00")) || bytes.HasPrefix(buf, []byte("MM\x00*")):
		return header{Type: typeTIFF}
	case len(buf) >= 6 && bytes.HasPrefix(buf, []byte("\x00\x00\x01\x00")) && buf[4]|buf[5] != 0:
		w, h := icoSize(buf)
		return header{typeICO, w, h}
	case len(buf) >= 12 && string(buf[4:8]) == "ftyp":
		return header{Type: isoBrand(buf)}
	case isSVG(buf):
		return header{Type: typeSVG}
	}
	return header{}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// jpegSize walks the marker segments to the first start-of-frame.
func jpegSize(b []byte) (int, int) {
	i := 2
	for i+9 < len(b) {
		if b[i] != 0xff {
			return 0, 0
		}
		m := b[i+1]
		if m == 0xff { // fill byte
			i++
			continue
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc {
			return int(binary.BigEndian.Uint16(b[i+7:])), int(binary.BigEndian.Uint16(b[i+5:]))
		}
		i += 2 + n
	}
	return 0, 0
}

func webpSize(b []byte) (int, int) {
	switch string(b[12:16]) {
	case "VP8 ":
		return int(binary.LittleEndian.Uint16(b[26:]) & 0x3fff), int(binary.LittleEndian.Uint16(b[28:]) & 0x3fff)
	case "VP8L":
		v := binary.LittleEndian.Uint32(b[21:])
		return int(v&0x3fff) + 1, int(v>>14&0x3fff) + 1
	case "VP8X":
		le24 := func(p []byte) int { return int(p[0]) | int(p[1])<<8 | int(p[2])<<16 }
		return le24(b[24:]) + 1, le24(b[27:]) + 1
	}
	return 0, 0
}

// isoBrand tells AVIF from HEIC by the ftyp box's major and compatible brands.
func isoBrand(b []byte) sourceType {
	size := int(binary.BigEndian.Uint32(b))
	if size < 16 || size > len(b) {
		size = min(len(b), 64)
	}
	var brands []string
	for i := 8; i+4 <= size; i += 4 {
		if i == 12 { // minor version
			continue
		}
		brands = append(brands, string(b[i:i+4]))
	}
	heic := false
	for _, br := range brands {
		switch br {
		case "avif", "avis":
			return typeAVIF
		case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1":
			heic = true
		}
	}
	if heic {
		return typeHEIC
	}
	return typeUnknown
}

func isSVG(b []byte) bool {
	head := b[:min(len(b), 1024)]
	head = bytes.TrimLeft(head, "\xef\xbb\xbf \t\r\n")
	if !bytes.HasPrefix(head, []byte("<")) {
		return false
	}
	return bytes.Contains(head, []byte("<svg"))
}

// icoSize is the largest entry of an icon directory; entries holding a PNG are measured by
// that PNG's header, since the directory's one-byte sizes cannot describe them.
func icoSize(b []byte) (int, int) {
	n := int(binary.LittleEndian.Uint16(b[4:]))
	w, h := 0, 0
	for i := 0; i < n && 6+16*(i+1) <= len(b); i++ {
		e := b[6+16*i:]
		ew, eh := int(e[0]), int(e[1])
		if ew == 0 {
			ew = 256
		}
		if eh == 0 {
			eh = 256
		}
		// Only a PNG is measured: probing the entry as any format would follow an entry
		// naming another icon directory, and nested directories of two entries each cost
		// 2^depth calls.
		if off := int(binary.LittleEndian.Uint32(e[12:])); off > 0 && off+24 <= len(b) {
			if p := b[off:]; bytes.HasPrefix(p, []byte("\x89PNG\r\n\x1a\n")) {
				ew, eh = int(binary.BigEndian.Uint32(p[16:])), int(binary.BigEndian.Uint32(p[20:]))
			}
		}
		w, h = max(w, ew), max(h, eh)
	}
	return w, h
}
