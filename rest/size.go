package rest

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// sizeFormat is the reference's file_size_limit string: digits, an optional fraction and a
// decimal unit, case-insensitive, nothing else (no spaces, no TB, no exponent).
var sizeFormat = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(?i:(gb|mb|kb|b))$`)

const sizeFormatMessage = "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B"

// maxSizeLimit bounds a parsed limit: far above any real one, well inside int64.
const maxSizeLimit = 1 << 62

// parseSizeString reads a file_size_limit string as the reference does: the number is
// rounded to 3 significant digits ("1.2345GB" is 1.23 GB), then multiplied by its unit
// (KB = 1000, MB = 10^6, GB = 10^9) and rounded to whole bytes. A string of digits alone
// is an integer, as the reference's schema coerces it.
func parseSizeString(s string) (int64, error) {
	bad := newAPIError(400, 400, "InvalidRequest", "InvalidRequest", sizeFormatMessage)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && !strings.HasPrefix(s, "+") {
		return n, nil
	}
	m := sizeFormat.FindStringSubmatch(s)
	if m == nil {
		return 0, bad
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, bad
	}
	v = toPrecision3(v)
	unit := map[string]float64{"GB": 1e9, "MB": 1e6, "KB": 1e3, "B": 1}[strings.ToUpper(m[2])]
	n := math.Round(v * unit)
	if n > maxSizeLimit {
		return 0, bad
	}
	return int64(n), nil
}

// toPrecision3 is JavaScript's +v.toPrecision(3): the exact value of v rounded to 3
// significant digits, halves away from zero, read back as the nearest float64.
func toPrecision3(v float64) float64 {
	if v == 0 {
		return 0
	}
	exact := new(big.Rat).SetFloat64(v)
	// e is the decimal exponent of the leading digit: 10^e <= v < 10^(e+1).
	e := int(math.Floor(math.Log10(v)))
	pow := func(n int) *big.Rat {
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(n))), nil)
		if n < 0 {
			return new(big.Rat).SetFrac(big.NewInt(1), p)
		}
		return new(big.Rat).SetInt(p)
	}
	// Log10 can be off by one near powers of ten: correct e against the exact value.
	for exact.Cmp(pow(e)) < 0 {
		e--
	}
	for exact.Cmp(pow(e+1)) >= 0 {
		e++
	}
	scaled := new(big.Rat).Mul(exact, pow(2-e)) // 100 <= scaled < 1000
	scaled.Add(scaled, big.NewRat(1, 2))
	digits := new(big.Int).Quo(scaled.Num(), scaled.Denom()) // floor(scaled + 1/2)
	f, _ := strconv.ParseFloat(digits.String()+"e"+strconv.Itoa(e-2), 64)
	return f
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
