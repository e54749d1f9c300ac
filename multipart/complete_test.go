package multipart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestParseComplete(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		body    string
		want    []CompletedPart
		wantErr error
	}{
		{"aws cli", `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"a1"</ETag><PartNumber>1</PartNumber></Part><Part><ETag>"b2"</ETag><PartNumber>2</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></CompleteMultipartUpload>`,
			[]CompletedPart{{PartNumber: 1, ETag: `"a1"`}, {PartNumber: 2, ETag: `"b2"`, ChecksumCRC32: "AAAAAA=="}}, nil},
		{"declaration and whitespace", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload>\n  <Part>\n    <PartNumber> 3 </PartNumber>\n    <ETag>&quot;c3&quot;</ETag>\n  </Part>\n</CompleteMultipartUpload>\n",
			[]CompletedPart{{PartNumber: 3, ETag: `"c3"`}}, nil},
		{"unknown elements ignored", `<CompleteMultipartUpload><Foo><Part><PartNumber>9</PartNumber></Part></Foo><Part><PartNumber>1</PartNumber><ETag>x</ETag><Extra>1</Extra></Part></CompleteMultipartUpload>`,
			[]CompletedPart{{PartNumber: 1, ETag: "x"}}, nil},
		{"empty body", "", nil, nil},
		{"empty root", `<CompleteMultipartUpload/>`, nil, nil},
		{"order kept for Select", `<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>b</ETag></Part><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>`,
			[]CompletedPart{{PartNumber: 2, ETag: "b"}, {PartNumber: 1, ETag: "a"}}, nil},
		{"wrong root", `<Delete><Part/></Delete>`, nil, ErrMalformedXML},
		{"not xml", `hello`, nil, ErrMalformedXML},
		{"truncated", `<CompleteMultipartUpload><Part><PartNumber>1`, nil, ErrMalformedXML},
		{"mismatched tags", `<CompleteMultipartUpload><Part></Parts></CompleteMultipartUpload>`, nil, ErrMalformedXML},
		{"missing part number", `<CompleteMultipartUpload><Part><ETag>a</ETag></Part></CompleteMultipartUpload>`, nil, ErrMalformedXML},
		{"missing etag", `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>`, nil, ErrMalformedXML},
		{"part number not a number", `<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>`, nil, ErrInvalidPartNumber},
		{"part number zero", `<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>`, nil, ErrInvalidPartNumber},
		{"part number huge", `<CompleteMultipartUpload><Part><PartNumber>99999999999999999999</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>`, nil, ErrInvalidPartNumber},
		{"overlong etag", `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>` + strings.Repeat("a", 2000) + `</ETag></Part></CompleteMultipartUpload>`, nil, ErrMalformedXML},
		{"trailing junk", `<CompleteMultipartUpload/>junk`, nil, ErrMalformedXML},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseComplete(strings.NewReader(tc.body))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseCompleteLimits(t *testing.T) {
	t.Parallel()
	many := func(n int) string {
		var b strings.Builder
		b.WriteString("<CompleteMultipartUpload>")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>\"%032x\"</ETag></Part>", min(i, MaxPartNumber), i)
		}
		b.WriteString("</CompleteMultipartUpload>")
		return b.String()
	}
	cases := []struct {
		name    string
		body    io.Reader
		parts   int
		wantErr error
	}{
		{"10000 parts", strings.NewReader(many(10000)), 10000, nil},
		{"10001 parts", strings.NewReader(many(10001)), 0, ErrTooManyParts},
		{"body over the cap", io.MultiReader(strings.NewReader("<CompleteMultipartUpload>"), bytes.NewReader(bytes.Repeat([]byte(" "), MaxCompleteBodySize))), 0, ErrBodyTooLarge},
		{"body read error", io.MultiReader(strings.NewReader("<CompleteMultipartUpload>"), errReader{}), 0, errGone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseComplete(tc.body)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != tc.parts {
				t.Fatalf("got %d parts, %v", len(got), err)
			}
		})
	}
}

var errGone = errors.New("client went away")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errGone }

// FuzzParseComplete: no panic, every failure typed, every part number in range, and no
// more than MaxParts parts.
func FuzzParseComplete(f *testing.F) {
	f.Add(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part></CompleteMultipartUpload>`)
	f.Add(`<?xml version="1.0"?><CompleteMultipartUpload xmlns="x"><Part><ETag>b</ETag><PartNumber>10000</PartNumber><ChecksumSHA256>x</ChecksumSHA256></Part></CompleteMultipartUpload>`)
	f.Add(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag><![CDATA[x]]></ETag></Part><!-- c --></CompleteMultipartUpload>`)
	f.Add(`<a><b>`)
	f.Fuzz(func(t *testing.T, body string) {
		parts, err := ParseComplete(strings.NewReader(body))
		if err != nil {
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("untyped error %T %v", err, err)
			}
			return
		}
		if len(parts) > MaxParts {
			t.Fatalf("%d parts", len(parts))
		}
		for _, p := range parts {
			if p.PartNumber < MinPartNumber || p.PartNumber > MaxPartNumber || p.ETag == "" {
				t.Fatalf("bad part accepted: %+v", p)
			}
		}
	})
}
