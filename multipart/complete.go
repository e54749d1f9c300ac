package multipart

import (
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
)

// MaxCompleteBodySize caps a CompleteMultipartUpload body: 10000 parts with an ETag and
// every checksum element fit comfortably, whitespace included.
const MaxCompleteBodySize = 8 << 20

// maxFieldLen caps one element's text (an ETag or a checksum); longer values are malformed.
const maxFieldLen = 1024

// CompletedPart is one <Part> of a CompleteMultipartUpload body.
type CompletedPart struct {
	PartNumber        int
	ETag              string
	ChecksumCRC32     string
	ChecksumCRC32C    string
	ChecksumCRC64NVME string
	ChecksumSHA1      string
	ChecksumSHA256    string
}

type xmlPart struct {
	PartNumber        string `xml:"PartNumber"`
	ETag              string `xml:"ETag"`
	ChecksumCRC32     string `xml:"ChecksumCRC32"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME"`
	ChecksumSHA1      string `xml:"ChecksumSHA1"`
	ChecksumSHA256    string `xml:"ChecksumSHA256"`
}

// ParseComplete reads a CompleteMultipartUpload body (at most MaxCompleteBodySize bytes,
// at most MaxParts parts). Part numbers are range-checked here; order and existence are
// Select's job. An empty body, or a root without parts, yields no parts. Errors are
// *Error with Kind ErrMalformedXML, ErrBodyTooLarge, ErrTooManyParts or
// ErrInvalidPartNumber; a read error of r is returned wrapped as is.
func ParseComplete(r io.Reader) ([]CompletedPart, error) {
	lr := &limitedReader{r: r, left: MaxCompleteBodySize}
	dec := xml.NewDecoder(lr)
	dec.Strict = true
	var parts []CompletedPart
	depth := 0
	sawRoot := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, parseError(lr, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				if t.Name.Local != "CompleteMultipartUpload" {
					return nil, fail(ErrMalformedXML, 0, "root element "+strconv.Quote(truncate(t.Name.Local, 64)))
				}
				sawRoot = true
			case depth == 2 && t.Name.Local == "Part":
				if len(parts) == MaxParts {
					return nil, fail(ErrTooManyParts, 0, "")
				}
				var xp xmlPart
				if err := dec.DecodeElement(&xp, &t); err != nil {
					return nil, parseError(lr, err)
				}
				depth--
				p, err := xp.completed()
				if err != nil {
					return nil, err
				}
				parts = append(parts, p)
			default:
				// Unknown elements (and their children) are ignored, as S3 does.
				if err := dec.Skip(); err != nil {
					return nil, parseError(lr, err)
				}
				depth--
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && strings.TrimSpace(string(t)) != "" {
				return nil, fail(ErrMalformedXML, 0, "text outside the root element")
			}
		}
	}
	if !sawRoot && lr.read > 0 && len(strings.TrimSpace(lr.seen)) > 0 {
		return nil, fail(ErrMalformedXML, 0, "no CompleteMultipartUpload element")
	}
	return parts, nil
}

func (xp xmlPart) completed() (CompletedPart, error) {
	for _, s := range []string{xp.PartNumber, xp.ETag, xp.ChecksumCRC32, xp.ChecksumCRC32C, xp.ChecksumCRC64NVME, xp.ChecksumSHA1, xp.ChecksumSHA256} {
		if len(s) > maxFieldLen {
			return CompletedPart{}, fail(ErrMalformedXML, 0, "element value too long")
		}
	}
	num := strings.TrimSpace(xp.PartNumber)
	if num == "" {
		return CompletedPart{}, fail(ErrMalformedXML, 0, "Part without PartNumber")
	}
	n, err := ParsePartNumber(num)
	if err != nil {
		return CompletedPart{}, err
	}
	if strings.TrimSpace(xp.ETag) == "" {
		return CompletedPart{}, fail(ErrMalformedXML, n, "Part without ETag")
	}
	return CompletedPart{PartNumber: n, ETag: strings.TrimSpace(xp.ETag),
		ChecksumCRC32: strings.TrimSpace(xp.ChecksumCRC32), ChecksumCRC32C: strings.TrimSpace(xp.ChecksumCRC32C),
		ChecksumCRC64NVME: strings.TrimSpace(xp.ChecksumCRC64NVME), ChecksumSHA1: strings.TrimSpace(xp.ChecksumSHA1),
		ChecksumSHA256: strings.TrimSpace(xp.ChecksumSHA256)}, nil
}

// parseError keeps the body's own read failure (a client that hung up) distinct from
// malformed XML.
func parseError(lr *limitedReader, err error) error {
	switch {
	case lr.over:
		return fail(ErrBodyTooLarge, 0, "")
	case lr.err != nil && !errors.Is(lr.err, io.EOF):
		return lr.err
	}
	return fail(ErrMalformedXML, 0, truncate(err.Error(), 200))
}

// limitedReader reads at most left bytes and remembers whether the body was longer, what
// error the body returned, and the first bytes seen (to tell an empty body from junk).
type limitedReader struct {
	r    io.Reader
	left int64
	read int64
	over bool
	err  error
	seen string
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Probe one byte: a body of exactly the limit is fine.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			l.over = true
			return 0, ErrBodyTooLarge
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		l.err = err
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	l.read += int64(n)
	if len(l.seen) < 64 {
		l.seen += string(p[:min(n, 64-len(l.seen))])
	}
	if err != nil {
		l.err = err
	}
	return n, err
}
