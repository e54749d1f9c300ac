package gateway

import (
	"net/netip"
	"strings"
)

// ValidS3BucketName reports whether name follows S3's naming rules for new general purpose
// buckets: 3 to 63 characters of lower-case letters, digits, dots and hyphens, starting and
// ending with a letter or digit, no "..", ".-" or "-.", not an IPv4 address, and none of
// S3's reserved prefixes (xn--, sthree-, amzn-s3-demo-) or suffixes (-s3alias, --ol-s3,
// .mrap, --x-s3, --table-s3). Only S3's CreateBucket checks them: buckets created through
// REST under the reference's looser rules stay reachable through S3.
func ValidS3BucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	alnum := func(c byte) bool { return c != '.' && c != '-' }
	if !alnum(name[0]) || !alnum(name[len(name)-1]) {
		return false
	}
	if strings.Contains(name, "..") || strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		return false
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return false // only IPv4 can parse from these characters
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return false
		}
	}
	return true
}
