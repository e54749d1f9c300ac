package sigv4

import (
	"testing"
	"time"
)

func FuzzParseAuthorizationV2(f *testing.F) {
	f.Add("AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=")
	f.Add("AWS a:b:c")
	f.Add("AWS :")
	f.Fuzz(func(t *testing.T, header string) {
		key, sig, err := ParseAuthorizationV2(header)
		if err != nil {
			if !isTyped(err) {
				t.Fatalf("untyped error %T %v", err, err)
			}
			return
		}
		// A signature that is not 20 bytes of base64 parses as nil: it never matches.
		if key == "" || (sig != nil && len(sig) != 20) {
			t.Fatalf("accepted %q as %q %x", header, key, sig)
		}
	})
}

// FuzzVerifyV2 sends arbitrary queries and SigV2 headers: no panic, every failure typed, and
// nothing verifies without the secret.
func FuzzVerifyV2(f *testing.F) {
	f.Add("AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620", "", "")
	f.Add("acl&versionId=1&x-amz-security-token=t&AWSAccessKeyId=k&Signature=s&Expires=9", "", "")
	f.Add("prefix=a", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=", "Tue, 27 Mar 2007 19:36:42 +0000")
	v := testVerifier(time.Unix(1175139000, 0))
	f.Fuzz(func(t *testing.T, rawQuery, auth, date string) {
		req := Request{Method: "GET", RawPath: "/b/k", RawQuery: rawQuery, Host: "h", Header: Header{}}
		if auth != "" {
			req.Header.Add("authorization", auth)
		}
		if date != "" {
			req.Header.Add("date", date)
			req.Header.Add("x-amz-meta-a", date)
		}
		_, err := v.Verify(req)
		if err == nil || !isTyped(err) {
			t.Fatalf("Verify(%q, %q, %q) = %v", rawQuery, auth, date, err)
		}
	})
}
