package multipart

import (
	"crypto/md5"
	"encoding/hex"
	"testing"
)

func TestETag(t *testing.T) {
	t.Parallel()
	p1, p2 := md5.Sum([]byte("part one")), md5.Sum([]byte("part two"))
	whole := md5.Sum(append(p1[:], p2[:]...))
	want := `"` + hex.EncodeToString(whole[:]) + `-2"`
	cases := []struct {
		name string
		tags []string
	}{
		{"quoted", []string{`"` + hex.EncodeToString(p1[:]) + `"`, `"` + hex.EncodeToString(p2[:]) + `"`}},
		{"bare", []string{hex.EncodeToString(p1[:]), hex.EncodeToString(p2[:])}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ETag(tc.tags); got != want {
				t.Fatalf("ETag = %s, want %s", got, want)
			}
		})
	}
	// A known S3 value: one part holding "hello" has ETag md5(md5("hello"))-1.
	h := md5.Sum([]byte("hello"))
	hh := md5.Sum(h[:])
	if got := ETag([]string{hex.EncodeToString(h[:])}); got != `"`+hex.EncodeToString(hh[:])+`-1"` {
		t.Fatalf("single part ETag = %s", got)
	}
}
