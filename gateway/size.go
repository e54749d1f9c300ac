package gateway

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

var errSizeFormat = errors.New("Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B")

// ParseSize reads a byte count: a plain number or a number with a decimal unit (B, KB, MB,
// GB, TB: powers of 1000, as the reference computes them), e.g. "50MB".
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errSizeFormat
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, errSizeFormat
		}
		return n, nil
	}
	u := strings.ToUpper(s)
	mult := map[string]float64{"TB": 1e12, "GB": 1e9, "MB": 1e6, "KB": 1e3, "B": 1}
	for _, unit := range []string{"TB", "GB", "MB", "KB", "B"} {
		if strings.HasSuffix(u, unit) {
			num := strings.TrimSpace(u[:len(u)-len(unit)])
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
				return 0, errSizeFormat
			}
			v := f * mult[unit]
			if v > math.MaxInt64/2 {
				return 0, errSizeFormat
			}
			return int64(v), nil
		}
	}
	return 0, errSizeFormat
}
