package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"
)

// v2Request is a request as the server sees it; header names are lower-cased by Add.
func v2Request(method, host, bucket, rawPath, rawQuery string, headers ...string) Request {
	r := Request{Method: method, Host: host, VirtualHostBucket: bucket, RawPath: rawPath, RawQuery: rawQuery, Header: Header{}}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

// signV2 is the test's own signer: base64(HMAC-SHA1(testSecret, stringToSign)), with the
// string to sign written out by the test.
func signV2(stringToSign string) string {
	m := hmac.New(sha1.New, []byte(testSecret))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC1123Z, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestAWSV2Examples verifies the worked examples of "Signing and authenticating REST
// requests (AWS signature version 2)" in the S3 documentation (example key
// AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY), with their documented
// signatures.
func TestAWSV2Examples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		date string
		req  Request
		sig  string
	}{
		{"object GET", "Tue, 27 Mar 2007 19:36:42 +0000",
			v2Request("GET", "johnsmith.s3.amazonaws.com", "johnsmith", "/photos/puppy.jpg", ""),
			"bWq2s1WEIj+Ydj0vQ697zp+IXMU="},
		{"object PUT", "Tue, 27 Mar 2007 21:15:45 +0000",
			v2Request("PUT", "johnsmith.s3.amazonaws.com", "johnsmith", "/photos/puppy.jpg", "",
				"Content-Type", "image/jpeg", "Content-Length", "94328"),
			"MyyxeRY7whkBe+bq8fHCL/2kKUg="},
		{"list (prefix, max-keys and marker are not signed)", "Tue, 27 Mar 2007 19:42:41 +0000",
			v2Request("GET", "johnsmith.s3.amazonaws.com", "johnsmith", "/", "prefix=photos&max-keys=50&marker=puppy",
				"User-Agent", "Mozilla/5.0"),
			"htDYFYduRNen8P9ZfE/s9SuKy0U="},
		{"fetch ?acl", "Tue, 27 Mar 2007 19:44:46 +0000",
			v2Request("GET", "johnsmith.s3.amazonaws.com", "johnsmith", "/", "acl"),
			"c2WLPFtWHVgbEmeEG93a4cG37dM="},
		{"upload with x-amz headers and Content-MD5", "Tue, 27 Mar 2007 21:06:08 +0000",
			v2Request("PUT", "static.johnsmith.net:8080", "static.johnsmith.net", "/db-backup.dat.gz", "",
				"User-Agent", "curl/7.15.5", "x-amz-acl", "public-read", "content-type", "application/x-download",
				"Content-MD5", "4gJE4saaMU4BqNR0kLY+lw==", "X-Amz-Meta-ReviewedBy", "joe@johnsmith.net",
				"X-Amz-Meta-ReviewedBy", "jane@johnsmith.net", "X-Amz-Meta-FileChecksum", "0x02661779",
				"X-Amz-Meta-ChecksumAlgorithm", "crc32", "Content-Disposition", "attachment; filename=database.dat",
				"Content-Encoding", "gzip", "Content-Length", "5913339"),
			"ilyl83RwaSoYIEdixDQcA4OnAnc="},
		{"list all buckets", "Wed, 28 Mar 2007 01:29:59 +0000",
			v2Request("GET", "s3.amazonaws.com", "", "/", ""),
			"qGdzdERIC03wnaRNKh6OqZehG9s="},
		{"unicode keys, path-style, escapes as sent", "Wed, 28 Mar 2007 01:49:49 +0000",
			v2Request("GET", "s3.amazonaws.com", "", "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re", ""),
			"DNEZGsoieTZ92F3bUfSPQcbGmlM="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.req.Header.Add("Date", tc.date)
			tc.req.Header.Add("Authorization", "AWS "+testAccessKey+":"+tc.sig)
			res, err := testVerifier(mustTime(t, tc.date).Add(time.Minute)).Verify(tc.req)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.AccessKeyID != testAccessKey || res.Version != 2 || res.Presigned || res.Payload != PayloadUnsigned {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

// TestAWSV2PresignedExample is the documentation's query string authentication example.
func TestAWSV2PresignedExample(t *testing.T) {
	t.Parallel()
	req := v2Request("GET", "johnsmith.s3.amazonaws.com", "johnsmith", "/photos/puppy.jpg",
		"AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620")
	expires := time.Unix(1175139620, 0)
	for _, tc := range []struct {
		name string
		now  time.Time
		want error
	}{
		{"before expiry", expires.Add(-time.Hour), nil},
		{"at expiry", expires, nil},
		{"one second late", expires.Add(time.Second), ErrRequestExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := testVerifier(tc.now).Verify(req)
			wantError(t, err, tc.want)
			if err == nil && (!res.Presigned || res.Version != 2 || res.AccessKeyID != testAccessKey) {
				t.Fatalf("result %+v", res)
			}
		})
	}
	if e := ErrRequestExpired; e.Code != "AccessDenied" || e.Message != "Request has expired" {
		t.Fatalf("ErrRequestExpired = %v, want S3's AccessDenied \"Request has expired\"", e)
	}
}

// TestV2StringToSign pins what the string to sign covers beyond the documented examples:
// x-amz-date blanks the Date line, the session token and every x-amz-* header are lines,
// sub-resources are sorted by name keeping the order of one name's values, decoded.
func TestV2StringToSign(t *testing.T) {
	t.Parallel()
	const date = "Tue, 27 Mar 2007 21:20:27 +0000"
	now := mustTime(t, date)
	tests := []struct {
		name string
		req  Request
		sts  string
	}{
		{"x-amz-date blanks Date", v2Request("DELETE", "s3.amazonaws.com", "", "/johnsmith/photos/puppy.jpg", "",
			"Date", "Tue, 27 Mar 2007 21:20:27 +0000", "x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000"),
			"DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n/johnsmith/photos/puppy.jpg"},
		{"session token and x-amz headers", v2Request("PUT", "h", "", "/b/k", "",
			"Date", date, "X-Amz-Security-Token", "tok", "x-amz-copy-source", "/b/src", "Content-Type", "text/plain"),
			"PUT\n\ntext/plain\n" + date + "\nx-amz-copy-source:/b/src\nx-amz-security-token:tok\n/b/k"},
		{"sub-resources sorted, values decoded, others dropped", v2Request("GET", "h", "", "/b/k",
			"versionId=v%2B1&response-content-type=text%2Fhtml&prefix=p&acl&x-id=GetObject", "Date", date),
			"GET\n\n\n" + date + "\n/b/k?acl&response-content-type=text/html&versionId=v+1"},
		{"one name's values keep their order", v2Request("GET", "h", "", "/b/k", "versionId=b&versionId=a", "Date", date),
			"GET\n\n\n" + date + "\n/b/k?versionId=b&versionId=a"},
		{"multipart sub-resources", v2Request("PUT", "h", "", "/b/k", "uploadId=abc&partNumber=2", "Date", date),
			"PUT\n\n\n" + date + "\n/b/k?partNumber=2&uploadId=abc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.req.Header.Add("Authorization", "AWS "+testAccessKey+":"+signV2(tc.sts))
			res, err := testVerifier(now).Verify(tc.req)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.SessionToken != tc.req.Header.Get("x-amz-security-token") {
				t.Fatalf("SessionToken = %q", res.SessionToken)
			}
		})
	}
}

// TestV2Tampering changes one signed element of a signed upload at a time: each must fail
// the signature. Changing a parameter SigV2 does not sign must not.
func TestV2Tampering(t *testing.T) {
	t.Parallel()
	const date = "Tue, 27 Mar 2007 21:06:08 +0000"
	base := func() Request {
		return v2Request("PUT", "static.johnsmith.net:8080", "static.johnsmith.net", "/db-backup.dat.gz", "",
			"Date", date, "x-amz-acl", "public-read", "content-type", "application/x-download",
			"Content-MD5", "4gJE4saaMU4BqNR0kLY+lw==", "X-Amz-Meta-ReviewedBy", "joe@johnsmith.net",
			"X-Amz-Meta-ReviewedBy", "jane@johnsmith.net", "X-Amz-Meta-FileChecksum", "0x02661779",
			"X-Amz-Meta-ChecksumAlgorithm", "crc32", "Authorization", "AWS "+testAccessKey+":ilyl83RwaSoYIEdixDQcA4OnAnc=")
	}
	tests := []struct {
		name   string
		mutate func(*Request)
		want   error
	}{
		{"untouched", func(*Request) {}, nil},
		{"unsigned query parameter added", func(r *Request) { r.RawQuery = "x-id=PutObject" }, nil},
		{"method", func(r *Request) { r.Method = "POST" }, ErrSignatureDoesNotMatch},
		{"path", func(r *Request) { r.RawPath = "/db-backup.dat.gz2" }, ErrSignatureDoesNotMatch},
		{"bucket", func(r *Request) { r.VirtualHostBucket = "other" }, ErrSignatureDoesNotMatch},
		{"Content-MD5", func(r *Request) { r.Header["content-md5"] = []string{"1B2M2Y8AsgTpgAmY7PhCfg=="} }, ErrSignatureDoesNotMatch},
		{"Content-Type", func(r *Request) { r.Header["content-type"] = []string{"text/html"} }, ErrSignatureDoesNotMatch},
		{"Date", func(r *Request) { r.Header["date"] = []string{"Tue, 27 Mar 2007 21:06:09 +0000"} }, ErrSignatureDoesNotMatch},
		{"x-amz-meta value", func(r *Request) { r.Header["x-amz-meta-filechecksum"] = []string{"0"} }, ErrSignatureDoesNotMatch},
		{"x-amz header removed", func(r *Request) { delete(r.Header, "x-amz-acl") }, ErrSignatureDoesNotMatch},
		{"x-amz-copy-source added", func(r *Request) { r.Header.Add("x-amz-copy-source", "/secret/key") }, ErrSignatureDoesNotMatch},
		{"x-amz-security-token added", func(r *Request) { r.Header.Add("x-amz-security-token", "jwt") }, ErrSignatureDoesNotMatch},
		{"repeated header reordered", func(r *Request) {
			r.Header["x-amz-meta-reviewedby"] = []string{"jane@johnsmith.net", "joe@johnsmith.net"}
		}, ErrSignatureDoesNotMatch},
		{"sub-resource added", func(r *Request) { r.RawQuery = "uploadId=u&partNumber=1" }, ErrSignatureDoesNotMatch},
		{"response override added", func(r *Request) { r.RawQuery = "response-content-type=text%2Fhtml" }, ErrSignatureDoesNotMatch},
		{"signature bit flipped", func(r *Request) {
			r.Header["authorization"] = []string{"AWS " + testAccessKey + ":ilyl83RwaSoYIEdixDQcA4OnAnd="}
		}, ErrSignatureDoesNotMatch},
		{"signature not base64", func(r *Request) { r.Header["authorization"] = []string{"AWS " + testAccessKey + ":!!!"} }, ErrSignatureDoesNotMatch},
		{"signature of the wrong length", func(r *Request) {
			r.Header["authorization"] = []string{"AWS " + testAccessKey + ":" + base64.StdEncoding.EncodeToString(make([]byte, 32))}
		}, ErrSignatureDoesNotMatch},
		{"unknown access key", func(r *Request) {
			r.Header["authorization"] = []string{"AWS AKIDOTHER:ilyl83RwaSoYIEdixDQcA4OnAnc="}
		}, ErrInvalidAccessKeyID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := base()
			tc.mutate(&r)
			_, err := testVerifier(mustTime(t, date)).Verify(r)
			wantError(t, err, tc.want)
		})
	}
}

func TestV2Errors(t *testing.T) {
	t.Parallel()
	const date = "Tue, 27 Mar 2007 19:36:42 +0000"
	const goodSig = "bWq2s1WEIj+Ydj0vQ697zp+IXMU="
	now := mustTime(t, date)
	get := func(query string, headers ...string) Request {
		return v2Request("GET", "johnsmith.s3.amazonaws.com", "johnsmith", "/photos/puppy.jpg", query, headers...)
	}
	future := "2000000000"
	tests := []struct {
		name    string
		req     Request
		now     time.Time
		want    error
		message string
	}{
		{"no colon", get("", "Date", date, "Authorization", "AWS "+testAccessKey), now, ErrInvalidArgument,
			"AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"},
		{"empty key", get("", "Date", date, "Authorization", "AWS :"+goodSig), now, ErrInvalidArgument, ""},
		{"empty signature", get("", "Date", date, "Authorization", "AWS "+testAccessKey+":"), now, ErrInvalidArgument, ""},
		{"no date", get("", "Authorization", "AWS "+testAccessKey+":"+goodSig), now, ErrAccessDenied,
			"AWS authentication requires a valid Date or x-amz-date header"},
		{"bad date", get("", "Date", "yesterday", "Authorization", "AWS "+testAccessKey+":"+goodSig), now, ErrAccessDenied, ""},
		{"date 16 minutes old", get("", "Date", date, "Authorization", "AWS "+testAccessKey+":"+goodSig),
			now.Add(16 * time.Minute), ErrRequestTimeTooSkewed, ""},
		{"date 16 minutes ahead", get("", "Date", date, "Authorization", "AWS "+testAccessKey+":"+goodSig),
			now.Add(-16 * time.Minute), ErrRequestTimeTooSkewed, ""},
		{"x-amz-date skewed though Date is not", get("", "Date", date, "x-amz-date", "Tue, 27 Mar 2007 18:00:00 +0000",
			"Authorization", "AWS "+testAccessKey+":"+goodSig), now, ErrRequestTimeTooSkewed, ""},
		{"V2 header and V4 presigned query", get("X-Amz-Signature=00", "Date", date, "Authorization", "AWS "+testAccessKey+":"+goodSig),
			now, ErrInvalidArgument, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"},
		{"V4 header and V2 query", get("Signature=x&AWSAccessKeyId=k&Expires=1",
			"Authorization", "AWS4-HMAC-SHA256 Credential=k/20070327/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"),
			now, ErrInvalidArgument, ""},
		{"V2 header and V2 query", get("Signature=x&AWSAccessKeyId=k&Expires="+future, "Date", date,
			"Authorization", "AWS "+testAccessKey+":"+goodSig), now, ErrInvalidArgument, ""},
		{"presigned without Expires", get("AWSAccessKeyId=" + testAccessKey + "&Signature=x"), now, ErrAccessDenied,
			"Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"},
		{"presigned without key", get("Expires=" + future + "&Signature=x"), now, ErrAccessDenied, ""},
		{"presigned Expires not a number", get("AWSAccessKeyId=" + testAccessKey + "&Signature=x&Expires=soon"), now, ErrAccessDenied,
			"Invalid date (should be seconds since epoch): soon"},
		{"presigned Expires negative", get("AWSAccessKeyId=" + testAccessKey + "&Signature=x&Expires=-1"), now, ErrAccessDenied, ""},
		{"presigned parameter repeated", get("AWSAccessKeyId=" + testAccessKey + "&Signature=x&Expires=" + future + "&Expires=" + future),
			now, ErrInvalidArgument, ""},
		{"presigned unknown key", get("AWSAccessKeyId=nobody&Signature=x&Expires=" + future), now, ErrInvalidAccessKeyID, ""},
		{"presigned wrong signature", get("AWSAccessKeyId=" + testAccessKey + "&Signature=x&Expires=" + future), now, ErrSignatureDoesNotMatch, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := testVerifier(tc.now).Verify(tc.req)
			wantError(t, err, tc.want)
			if e := err.(*Error); tc.message != "" && e.Message != tc.message {
				t.Fatalf("message %q, want %q", e.Message, tc.message)
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), goodSig) {
				t.Fatalf("error leaks a secret or signature: %v", err)
			}
		})
	}
}

// TestV2PresignedAmzQuery covers presigned URLs whose signer moved x-amz-* headers (the
// session token among them) into the query, as botocore does: they are signed as headers.
func TestV2PresignedAmzQuery(t *testing.T) {
	t.Parallel()
	const expires = "2000000000"
	sts := "GET\n\n\n" + expires + "\nx-amz-security-token:user.jwt\n/b/k?response-content-disposition=attachment"
	q := url.Values{"AWSAccessKeyId": {testAccessKey}, "Expires": {expires}, "Signature": {signV2(sts)},
		"x-amz-security-token": {"user.jwt"}, "response-content-disposition": {"attachment"}}
	now := time.Unix(1999999000, 0)
	tests := []struct {
		name    string
		query   string
		headers []string
		want    error
	}{
		{"as signed", q.Encode(), nil, nil},
		{"token given as a header too", q.Encode(), []string{"x-amz-security-token", "user.jwt"}, ErrInvalidArgument},
		{"token swapped", strings.Replace(q.Encode(), "user.jwt", "admin.jwt", 1), nil, ErrSignatureDoesNotMatch},
		{"token dropped", strings.Replace(q.Encode(), "x-amz-security-token=user.jwt", "", 1), nil, ErrSignatureDoesNotMatch},
		{"header added by the URL's holder", q.Encode(), []string{"x-amz-copy-source", "/other/key"}, ErrSignatureDoesNotMatch},
		{"override changed", strings.Replace(q.Encode(), "attachment", "inline", 1), nil, ErrSignatureDoesNotMatch},
		{"'+' of the signature left unencoded", strings.Replace(q.Encode(), "%2B", "+", -1), nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := testVerifier(now).Verify(v2Request("GET", "h", "", "/b/k", tc.query, tc.headers...))
			wantError(t, err, tc.want)
			if err == nil && res.SessionToken != "user.jwt" {
				t.Fatalf("SessionToken = %q", res.SessionToken)
			}
		})
	}
}

// TestV2Payload: SigV2 signs no payload hash; a signed hex x-amz-content-sha256 is checked,
// aws-chunked (SigV4 only) is refused.
func TestV2Payload(t *testing.T) {
	t.Parallel()
	const date = "Tue, 27 Mar 2007 19:36:42 +0000"
	tests := []struct {
		name    string
		payload string
		want    Payload
		err     error
	}{
		{"none", "", PayloadUnsigned, nil},
		{"unsigned", "UNSIGNED-PAYLOAD", PayloadUnsigned, nil},
		{"hex", emptySHA256, PayloadSHA256, nil},
		{"aws-chunked", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", 0, ErrInvalidContentSHA256},
		{"aws-chunked unsigned trailer", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", 0, ErrInvalidContentSHA256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sts, headers := "PUT\n\n\n"+date+"\n/b/k", []string{"Date", date}
			if tc.payload != "" {
				sts = "PUT\n\n\n" + date + "\nx-amz-content-sha256:" + tc.payload + "\n/b/k"
				headers = append(headers, "x-amz-content-sha256", tc.payload)
			}
			headers = append(headers, "Authorization", "AWS "+testAccessKey+":"+signV2(sts))
			res, err := testVerifier(mustTime(t, date)).Verify(v2Request("PUT", "h", "", "/b/k", "", headers...))
			wantError(t, err, tc.err)
			if err == nil && res.Payload != tc.want {
				t.Fatalf("Payload = %v, want %v", res.Payload, tc.want)
			}
		})
	}
}

// signPolicyV2 builds the fields of a SigV2 browser POST for policy JSON.
func signPolicyV2(policy string, extra map[string]string) map[string]string {
	b64 := base64.StdEncoding.EncodeToString([]byte(policy))
	fields := map[string]string{"AWSAccessKeyId": testAccessKey, "Policy": b64, "Signature": signV2(b64)}
	for k, v := range extra {
		fields[k] = v
	}
	return fields
}

func TestVerifyPostPolicyV2(t *testing.T) {
	t.Parallel()
	const policy = `{"expiration":"2024-03-15T12:00:00.000Z","conditions":[
		{"bucket":"photos"},["starts-with","$key","user/eric/"],["content-length-range",1,1024]]}`
	tests := []struct {
		name   string
		fields map[string]string
		now    time.Time
		want   error
	}{
		{"valid", signPolicyV2(policy, map[string]string{"key": "user/eric/${filename}"}), testTime, nil},
		{"expired", signPolicyV2(policy, map[string]string{"key": "user/eric/a"}), testTime.Add(3 * time.Hour), ErrExpiredPresigned},
		{"key outside the policy", signPolicyV2(policy, map[string]string{"key": "user/bob/a"}), testTime, ErrPolicyConditionFailed},
		{"field not covered", signPolicyV2(policy, map[string]string{"key": "user/eric/a", "acl": "public-read"}), testTime, ErrPolicyConditionFailed},
		{"policy tampered", signPolicyV2(policy, map[string]string{"key": "user/eric/a",
			"Policy": base64.StdEncoding.EncodeToString([]byte(strings.Replace(policy, "eric", "bob", 1)))}), testTime, ErrSignatureDoesNotMatch},
		{"signature not base64", signPolicyV2(policy, map[string]string{"key": "user/eric/a", "Signature": "zz"}), testTime, ErrSignatureDoesNotMatch},
		{"unknown key", signPolicyV2(policy, map[string]string{"key": "user/eric/a", "AWSAccessKeyId": "nobody"}), testTime, ErrInvalidAccessKeyID},
		{"no signature", signPolicyV2(policy, map[string]string{"key": "user/eric/a", "Signature": ""}), testTime, ErrPolicyMalformed},
		{"SigV4 fields too", signPolicyV2(policy, map[string]string{"key": "user/eric/a",
			"X-Amz-Credential": testAccessKey + "/20240315/us-east-1/s3/aws4_request"}), testTime, ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := testVerifier(tc.now).VerifyPostPolicy(PostForm{Fields: tc.fields, Bucket: "photos", Filename: "a.jpg"})
			wantError(t, err, tc.want)
			if err == nil && (res.AccessKeyID != testAccessKey || res.Key != "user/eric/a.jpg" || res.ContentLength.Max != 1024) {
				t.Fatalf("result %+v", res)
			}
		})
	}
}
