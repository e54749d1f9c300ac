package multipart

import (
	"errors"
	"strings"
	"testing"
)

const mib = 1 << 20

func TestSelect(t *testing.T) {
	t.Parallel()
	stored := []Part{
		{Number: 3, ETag: `"cc"`, Size: 1},
		{Number: 1, ETag: `"aa"`, Size: 5 * mib},
		{Number: 2, ETag: `"BB"`, Size: 5 * mib},
		{Number: 7, ETag: `"dd"`, Size: 4 * mib},
	}
	cases := []struct {
		name    string
		req     []CompletedPart
		want    []int
		wantErr error
		errPart int
	}{
		{"all in order", []CompletedPart{{1, `"aa"`, "", "", "", "", ""}, {2, `"bb"`, "", "", "", "", ""}, {3, "cc", "", "", "", "", ""}}, []int{1, 2, 3}, nil, 0},
		{"subset skipping a number", []CompletedPart{{PartNumber: 1, ETag: "aa"}, {PartNumber: 3, ETag: "cc"}}, []int{1, 3}, nil, 0},
		{"single small part", []CompletedPart{{PartNumber: 3, ETag: "cc"}}, []int{3}, nil, 0},
		{"escaped quotes", []CompletedPart{{PartNumber: 3, ETag: "&quot;cc&quot;"}}, []int{3}, nil, 0},
		{"descending", []CompletedPart{{PartNumber: 2, ETag: "bb"}, {PartNumber: 1, ETag: "aa"}}, nil, ErrInvalidPartOrder, 1},
		{"duplicate", []CompletedPart{{PartNumber: 1, ETag: "aa"}, {PartNumber: 1, ETag: "aa"}}, nil, ErrInvalidPartOrder, 1},
		{"missing part", []CompletedPart{{PartNumber: 1, ETag: "aa"}, {PartNumber: 4, ETag: "aa"}}, nil, ErrInvalidPart, 4},
		{"etag mismatch", []CompletedPart{{PartNumber: 1, ETag: "ab"}}, nil, ErrInvalidPart, 1},
		{"small part not last", []CompletedPart{{PartNumber: 1, ETag: "aa"}, {PartNumber: 3, ETag: "cc"}, {PartNumber: 7, ETag: "dd"}}, nil, ErrEntityTooSmall, 3},
		{"part number zero", []CompletedPart{{PartNumber: 0, ETag: "aa"}}, nil, ErrInvalidPartNumber, 0},
		{"part number too big", []CompletedPart{{PartNumber: 10001, ETag: "aa"}}, nil, ErrInvalidPartNumber, 0},
		{"empty selects all, small middle part", nil, nil, ErrEntityTooSmall, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Select(tc.req, stored)
			if tc.wantErr != nil {
				var me *Error
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &me) || me.Part != tc.errPart {
					t.Fatalf("err = %v, want %v on part %d", err, tc.wantErr, tc.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d parts, want %v", len(got), tc.want)
			}
			for i, p := range got {
				if p.Number != tc.want[i] {
					t.Fatalf("part %d = %d, want %v", i, p.Number, tc.want)
				}
			}
		})
	}
	t.Run("empty selects all in order", func(t *testing.T) {
		t.Parallel()
		got, err := Select(nil, stored[:3])
		if err != nil || len(got) != 3 || got[0].Number != 1 || got[2].Number != 3 {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("empty upload", func(t *testing.T) {
		t.Parallel()
		if _, err := Select(nil, nil); !errors.Is(err, ErrMalformedXML) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestParsePartNumber(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		want     int
		ok       bool
	}{
		{"one", "1", 1, true},
		{"max", "10000", 10000, true},
		{"leading zero", "007", 7, true},
		{"zero", "0", 0, false},
		{"over", "10001", 0, false},
		{"negative", "-1", 0, false},
		{"plus", "+1", 0, false},
		{"empty", "", 0, false},
		{"huge", strings.Repeat("9", 40), 0, false},
		{"junk", "1a", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, err := ParsePartNumber(tc.in)
			if tc.ok != (err == nil) || (tc.ok && n != tc.want) {
				t.Fatalf("ParsePartNumber(%q) = %d, %v", tc.in, n, err)
			}
			if err != nil && !errors.Is(err, ErrInvalidPartNumber) {
				t.Fatalf("untyped error %v", err)
			}
		})
	}
	if err := CheckPartSize(MaxPartSize + 1); !errors.Is(err, ErrEntityTooLarge) {
		t.Fatalf("CheckPartSize: %v", err)
	}
	if err := CheckPartSize(MaxPartSize); err != nil {
		t.Fatalf("CheckPartSize(max): %v", err)
	}
}

// FuzzSelect: Select never panics, fails only with typed errors, and what it returns is
// ascending, drawn from stored and sized by the rules.
func FuzzSelect(f *testing.F) {
	f.Add([]byte{1, 2, 3}, []byte{1, 2, 3}, uint8(0))
	f.Add([]byte{3, 1}, []byte{1, 3}, uint8(1))
	f.Add([]byte{}, []byte{2, 1, 1}, uint8(2))
	f.Fuzz(func(t *testing.T, req, have []byte, salt uint8) {
		if len(req) > 64 || len(have) > 64 {
			return
		}
		var stored []Part
		seen := map[int]bool{}
		for i, b := range have {
			n := int(b) % 20
			if seen[n] {
				continue
			}
			seen[n] = true
			size := int64(5 * mib)
			if (int(salt)+i)%3 == 0 {
				size = int64(b)
			}
			stored = append(stored, Part{Number: n, ETag: string(rune('a' + n%26)), Size: size})
		}
		var parts []CompletedPart
		for i, b := range req {
			tag := string(rune('a' + int(b)%20%26))
			if (int(salt)+i)%5 == 4 {
				tag = "zz"
			}
			parts = append(parts, CompletedPart{PartNumber: int(b) % 21, ETag: tag})
		}
		got, err := Select(parts, stored)
		if err != nil {
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("untyped error %T %v", err, err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("success with no parts")
		}
		for i, p := range got {
			if i > 0 && p.Number <= got[i-1].Number {
				t.Fatalf("not ascending: %+v", got)
			}
			if i < len(got)-1 && p.Size < MinPartSize {
				t.Fatalf("small part %d accepted", p.Number)
			}
			if !seen[p.Number] {
				t.Fatalf("part %d not stored", p.Number)
			}
		}
	})
}
