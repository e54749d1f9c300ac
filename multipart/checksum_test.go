package multipart

import (
	"encoding/base64"
	"errors"
	"math/rand"
	"strings"
	"testing"
)

func sum(t *testing.T, alg Algorithm, b []byte) string {
	t.Helper()
	h, ok := alg.New()
	if !ok {
		t.Fatalf("no hash for %s", alg)
	}
	h.Write(b)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func TestFullObject(t *testing.T) {
	t.Parallel()
	data := make([]byte, 300_000)
	rand.New(rand.NewSource(7)).Read(data)
	splits := []struct {
		name string
		cuts []int
	}{
		{"one part", nil},
		{"two parts", []int{100_000}},
		{"uneven parts", []int{1, 2, 70_000, 299_999}},
		{"empty last part", []int{300_000}},
	}
	for _, alg := range []Algorithm{CRC32, CRC32C, CRC64NVME} {
		for _, sp := range splits {
			t.Run(string(alg)+"/"+sp.name, func(t *testing.T) {
				t.Parallel()
				var sums []string
				var sizes []int64
				prev := 0
				for _, c := range append(sp.cuts, len(data)) {
					sums = append(sums, sum(t, alg, data[prev:c]))
					sizes = append(sizes, int64(c-prev))
					prev = c
				}
				got, err := FullObject(alg, sums, sizes)
				if err != nil {
					t.Fatal(err)
				}
				if want := sum(t, alg, data); got != want {
					t.Fatalf("FullObject = %s, want %s", got, want)
				}
			})
		}
	}
	t.Run("known CRC64NVME", func(t *testing.T) {
		t.Parallel()
		// CRC-64/NVME check value of "123456789" is 0xae8b14860a799888.
		if got := sum(t, CRC64NVME, []byte("123456789")); got != base64.StdEncoding.EncodeToString([]byte{0xae, 0x8b, 0x14, 0x86, 0x0a, 0x79, 0x98, 0x88}) {
			t.Fatalf("CRC64NVME check value = %s", got)
		}
	})
	errCases := []struct {
		name  string
		alg   Algorithm
		sums  []string
		sizes []int64
	}{
		{"sha256 is not combinable", SHA256, []string{sum(t, SHA256, nil)}, []int64{0}},
		{"bad base64", CRC32, []string{"!!"}, []int64{1}},
		{"wrong length", CRC32, []string{sum(t, CRC64NVME, nil)}, []int64{1}},
		{"count mismatch", CRC32, []string{sum(t, CRC32, nil)}, nil},
		{"negative size", CRC32, []string{sum(t, CRC32, nil), sum(t, CRC32, nil)}, []int64{0, -1}},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := FullObject(tc.alg, tc.sums, tc.sizes); !errors.Is(err, ErrInvalidChecksum) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestComposite(t *testing.T) {
	t.Parallel()
	parts := [][]byte{[]byte("alpha"), []byte("beta"), []byte("gamma")}
	for _, alg := range []Algorithm{CRC32, CRC32C, CRC64NVME, SHA1, SHA256} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			var sums []string
			var concat []byte
			for _, p := range parts {
				s := sum(t, alg, p)
				sums = append(sums, s)
				raw, _ := base64.StdEncoding.DecodeString(s)
				concat = append(concat, raw...)
			}
			got, err := Composite(alg, sums)
			if err != nil {
				t.Fatal(err)
			}
			if want := sum(t, alg, concat) + "-3"; got != want {
				t.Fatalf("Composite = %s, want %s", got, want)
			}
		})
	}
	t.Run("unknown algorithm", func(t *testing.T) {
		t.Parallel()
		if _, err := Composite("MD5", nil); !errors.Is(err, ErrInvalidChecksum) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad part checksum", func(t *testing.T) {
		t.Parallel()
		_, err := Composite(SHA1, []string{sum(t, SHA1, nil), strings.Repeat("A", 8)})
		var me *Error
		if !errors.As(err, &me) || me.Part != 2 {
			t.Fatalf("err = %v", err)
		}
	})
}
