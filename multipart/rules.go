package multipart

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Limits S3 applies to multipart uploads.
const (
	MinPartNumber = 1
	MaxPartNumber = 10000
	// MaxPartSize is the largest part (5 GiB).
	MaxPartSize int64 = 5 << 30
	// MinPartSize is the smallest part other than the last, checked at completion (5 MiB).
	MinPartSize int64 = 5 << 20
	// MaxParts is the most parts one upload can be completed from.
	MaxParts = MaxPartNumber
)

// Kinds of failure. An *Error wraps exactly one of them (errors.Is matches).
var (
	// ErrInvalidPartNumber: a part number outside 1..10000.
	ErrInvalidPartNumber = errors.New("part number must be an integer between 1 and 10000, inclusive")
	// ErrInvalidPart: a named part was never uploaded, or its ETag does not match.
	ErrInvalidPart = errors.New("one or more of the specified parts could not be found, or the specified entity tag might not have matched the part's entity tag")
	// ErrInvalidPartOrder: the part list is not in strictly ascending part number order.
	ErrInvalidPartOrder = errors.New("the list of parts was not in ascending order; parts must be ordered by part number")
	// ErrEntityTooSmall: a part other than the last is smaller than MinPartSize.
	ErrEntityTooSmall = errors.New("your proposed upload is smaller than the minimum allowed object size")
	// ErrEntityTooLarge: a part is larger than MaxPartSize.
	ErrEntityTooLarge = errors.New("your proposed upload exceeds the maximum allowed size")
	// ErrMalformedXML: the CompleteMultipartUpload body is not the expected XML.
	ErrMalformedXML = errors.New("the XML you provided was not well-formed or did not validate against our published schema")
	// ErrTooManyParts: the body names more than MaxParts parts.
	ErrTooManyParts = errors.New("the CompleteMultipartUpload request names more than 10000 parts")
	// ErrBodyTooLarge: the body is longer than MaxCompleteBodySize.
	ErrBodyTooLarge = errors.New("the CompleteMultipartUpload request body is too large")
	// ErrInvalidChecksum: a checksum value is not valid for its algorithm.
	ErrInvalidChecksum = errors.New("the checksum value is not valid")
)

// Error is a rule violation: Kind is one of the Err* sentinels, Part the part number it is
// about (0 when none).
type Error struct {
	Kind   error
	Part   int
	Detail string
}

func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Part != 0 {
		s += " (part " + strconv.Itoa(e.Part) + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, part int, detail string) *Error {
	return &Error{Kind: kind, Part: part, Detail: detail}
}

// CheckPartNumber validates a part number from a request.
func CheckPartNumber(n int) error {
	if n < MinPartNumber || n > MaxPartNumber {
		return fail(ErrInvalidPartNumber, 0, strconv.Itoa(n))
	}
	return nil
}

// ParsePartNumber parses the partNumber query value (decimal, no sign, 1..10000).
func ParsePartNumber(s string) (int, error) {
	if s == "" || len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fail(ErrInvalidPartNumber, 0, strconv.Quote(truncate(s, 16)))
	}
	n, _ := strconv.Atoi(s)
	return n, CheckPartNumber(n)
}

// CheckPartSize validates a declared part size (-1: unknown, checked while streaming).
func CheckPartSize(size int64) error {
	if size > MaxPartSize {
		return fail(ErrEntityTooLarge, 0, fmt.Sprintf("part of %d bytes, limit %d", size, MaxPartSize))
	}
	return nil
}

// Part is an uploaded part as stored: its number, quoted or bare ETag and size.
type Part struct {
	Number int
	ETag   string
	Size   int64
}

// Select checks a CompleteMultipartUpload part list against the stored parts and returns
// the stored parts it names, in order. The list must be strictly ascending
// (ErrInvalidPartOrder), each named part must exist with a matching ETag (ErrInvalidPart;
// quotes and hex case are ignored) and every selected part but the last must be at least
// MinPartSize (ErrEntityTooSmall). An empty list selects every stored part, in order, as
// the reference server does (S3 itself answers MalformedXML). stored may be in any order
// but must hold at most one part per number.
func Select(requested []CompletedPart, stored []Part) ([]Part, error) {
	return selectParts(requested, stored, MinPartSize)
}

func selectParts(requested []CompletedPart, stored []Part, minSize int64) ([]Part, error) {
	byNumber := make(map[int]Part, len(stored))
	for _, p := range stored {
		byNumber[p.Number] = p
	}
	var out []Part
	if len(requested) == 0 {
		out = make([]Part, 0, len(stored))
		for n := MinPartNumber; n <= MaxPartNumber && len(out) < len(byNumber); n++ {
			if p, ok := byNumber[n]; ok {
				out = append(out, p)
			}
		}
		if len(out) == 0 {
			return nil, fail(ErrMalformedXML, 0, "the upload has no parts")
		}
	} else {
		if len(requested) > MaxParts {
			return nil, fail(ErrTooManyParts, 0, "")
		}
		out = make([]Part, 0, len(requested))
		prev := 0
		for _, r := range requested {
			if err := CheckPartNumber(r.PartNumber); err != nil {
				return nil, err
			}
			if r.PartNumber <= prev {
				return nil, fail(ErrInvalidPartOrder, r.PartNumber, "")
			}
			prev = r.PartNumber
			p, ok := byNumber[r.PartNumber]
			if !ok || !SameETag(p.ETag, r.ETag) {
				return nil, fail(ErrInvalidPart, r.PartNumber, "")
			}
			out = append(out, p)
		}
	}
	for _, p := range out[:len(out)-1] {
		if p.Size < minSize {
			return nil, fail(ErrEntityTooSmall, p.Number, fmt.Sprintf("%d bytes, minimum %d", p.Size, minSize))
		}
	}
	return out, nil
}

// SameETag compares two ETags ignoring surrounding quotes and hex letter case.
func SameETag(a, b string) bool {
	return strings.EqualFold(TrimETag(a), TrimETag(b))
}

// TrimETag removes surrounding double quotes (also HTML-escaped ones some clients send).
func TrimETag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimSuffix(s, "&quot;"), "&quot;")
	return strings.Trim(s, `"`)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
