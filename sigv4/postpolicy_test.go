package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"
)

// signPolicy builds the form fields of a browser POST for policy JSON.
func signPolicy(policy string, extra map[string]string) map[string]string {
	b64 := base64.StdEncoding.EncodeToString([]byte(policy))
	key := DeriveSigningKey(testSecret, Scope{Date: "20240315", Region: testRegion, Service: "s3"})
	m := hmac.New(sha256.New, key)
	m.Write([]byte(b64))
	fields := map[string]string{
		"Policy":           b64,
		"X-Amz-Algorithm":  "AWS4-HMAC-SHA256",
		"X-Amz-Credential": testAccessKey + "/20240315/" + testRegion + "/s3/aws4_request",
		"X-Amz-Date":       "20240315T093000Z",
		"X-Amz-Signature":  hex.EncodeToString(m.Sum(nil)),
	}
	for k, v := range extra {
		fields[k] = v
	}
	return fields
}

func TestVerifyPostPolicy(t *testing.T) {
	t.Parallel()
	const policy = `{"expiration":"2024-03-15T12:00:00.000Z","conditions":[
		{"bucket":"photos"},
		["starts-with","$key","user/eric/"],
		{"acl":"public-read"},
		["starts-with","$Content-Type","image/"],
		["eq","$x-amz-meta-uuid","14365123651274"],
		["content-length-range", 1, "1048576"]]}`
	fields := func(extra map[string]string) map[string]string {
		base := map[string]string{"key": "user/eric/${filename}", "acl": "public-read", "Content-Type": "image/jpeg",
			"x-amz-meta-uuid": "14365123651274", "x-ignore-me": "1"}
		for k, v := range extra {
			if v == "-" {
				delete(base, k)
			} else {
				base[k] = v
			}
		}
		return signPolicy(policy, base)
	}
	tests := []struct {
		name   string
		form   PostForm
		now    time.Time
		mutate func(map[string]string)
		want   error
	}{
		{"valid", PostForm{Fields: fields(nil), Bucket: "photos", Filename: "a.jpg"}, testTime, nil, nil},
		{"expired", PostForm{Fields: fields(nil), Bucket: "photos"}, testTime.Add(3 * time.Hour), nil, ErrExpiredPresigned},
		{"other bucket", PostForm{Fields: fields(nil), Bucket: "videos"}, testTime, nil, ErrPolicyConditionFailed},
		{"key outside prefix", PostForm{Fields: fields(map[string]string{"key": "user/bob/x"}), Bucket: "photos"}, testTime, nil, ErrPolicyConditionFailed},
		{"content type outside prefix", PostForm{Fields: fields(map[string]string{"Content-Type": "text/html"}), Bucket: "photos"}, testTime, nil, ErrPolicyConditionFailed},
		{"eq mismatch", PostForm{Fields: fields(map[string]string{"x-amz-meta-uuid": "1"}), Bucket: "photos"}, testTime, nil, ErrPolicyConditionFailed},
		{"uncovered field", PostForm{Fields: fields(map[string]string{"x-amz-meta-other": "1"}), Bucket: "photos"}, testTime, nil, ErrPolicyConditionFailed},
		{"missing key", PostForm{Fields: fields(map[string]string{"key": "-"}), Bucket: "photos"}, testTime, nil, ErrPolicyMalformed},
		{"policy tampered", PostForm{Fields: fields(nil), Bucket: "photos"}, testTime, func(f map[string]string) {
			f["Policy"] = base64.StdEncoding.EncodeToString([]byte(`{"expiration":"2030-01-01T00:00:00Z","conditions":[]}`))
		}, ErrSignatureDoesNotMatch},
		{"signature tampered", PostForm{Fields: fields(nil), Bucket: "photos"}, testTime, func(f map[string]string) {
			f["X-Amz-Signature"] = emptySHA256
		}, ErrSignatureDoesNotMatch},
		{"signature 63 digits", PostForm{Fields: fields(nil), Bucket: "photos"}, testTime, func(f map[string]string) {
			f["X-Amz-Signature"] = f["X-Amz-Signature"][:63]
		}, ErrSignatureDoesNotMatch},
		{"signature 65 digits", PostForm{Fields: fields(nil), Bucket: "photos"}, testTime, func(f map[string]string) {
			f["X-Amz-Signature"] += "0"
		}, ErrSignatureDoesNotMatch},
		{"signature not hex", PostForm{Fields: fields(nil), Bucket: "photos"}, testTime, func(f map[string]string) {
			f["X-Amz-Signature"] = f["X-Amz-Signature"][:63] + "z"
		}, ErrSignatureDoesNotMatch},
		{"unknown access key", PostForm{Fields: fields(nil), Bucket: "photos"}, testTime, func(f map[string]string) {
			f["X-Amz-Credential"] = "OTHER/20240315/us-east-1/s3/aws4_request"
		}, ErrInvalidAccessKeyID},
		{"scope date differs", PostForm{Fields: fields(nil), Bucket: "photos"}, testTime, func(f map[string]string) {
			f["X-Amz-Date"] = "20240316T093000Z"
		}, ErrPolicyMalformed},
		{"duplicate field by case", PostForm{Fields: fields(nil), Bucket: "photos"}, testTime, func(f map[string]string) {
			f["KEY"] = "user/eric/x"
		}, ErrPolicyMalformed},
		{"sigv2 form, unknown key", PostForm{Fields: map[string]string{"key": "k", "AWSAccessKeyId": "AK", "signature": "x", "policy": "e30="}}, testTime, nil, ErrInvalidAccessKeyID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.mutate != nil {
				tc.mutate(tc.form.Fields)
			}
			got, err := testVerifier(tc.now).VerifyPostPolicy(tc.form)
			wantError(t, err, tc.want)
			if err != nil {
				return
			}
			if got.Key != "user/eric/a.jpg" || got.AccessKeyID != testAccessKey || got.ContentLength != (ContentLengthRange{1, 1 << 20, true}) {
				t.Fatalf("policy = %+v", got)
			}
			wantError(t, got.ContentLength.Check(0), ErrEntityTooSmall)
			wantError(t, got.ContentLength.Check(1<<20), nil)
			wantError(t, got.ContentLength.Check(1<<20+1), ErrEntityTooLarge)
		})
	}
}

func TestPolicyDocuments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, policy string
		want         error
	}{
		{"no conditions needed beyond key", `{"expiration":"2030-01-01T00:00:00Z","conditions":[["starts-with","$key",""]]}`, nil},
		{"missing expiration", `{"conditions":[]}`, ErrPolicyMalformed},
		{"bad expiration", `{"expiration":"tomorrow","conditions":[]}`, ErrPolicyMalformed},
		{"missing conditions", `{"expiration":"2030-01-01T00:00:00Z"}`, ErrPolicyMalformed},
		{"not json", `{"expiration":`, ErrPolicyMalformed},
		{"unknown operator", `{"expiration":"2030-01-01T00:00:00Z","conditions":[["ends-with","$key","x"]]}`, ErrPolicyMalformed},
		{"field without dollar", `{"expiration":"2030-01-01T00:00:00Z","conditions":[["eq","key","x"]]}`, ErrPolicyMalformed},
		{"inverted range", `{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",10,1]]}`, ErrPolicyMalformed},
		{"negative range", `{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",-1,1]]}`, ErrPolicyMalformed},
		{"key not covered", `{"expiration":"2030-01-01T00:00:00Z","conditions":[]}`, ErrPolicyConditionFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			form := PostForm{Fields: signPolicy(tc.policy, map[string]string{"key": "k"}), Bucket: "b"}
			_, err := testVerifier(testTime).VerifyPostPolicy(form)
			wantError(t, err, tc.want)
		})
	}
}

// TestVerifyPostPolicyRegion: with EnforceRegion a form whose X-Amz-Credential names another
// region is refused as S3 refuses it; without, it is accepted.
func TestVerifyPostPolicyRegion(t *testing.T) {
	t.Parallel()
	const policy = `{"expiration":"2024-03-15T12:00:00.000Z","conditions":[["starts-with","$key",""]]}`
	b64 := base64.StdEncoding.EncodeToString([]byte(policy))
	m := hmac.New(sha256.New, DeriveSigningKey(testSecret, Scope{Date: "20240315", Region: "eu-west-3", Service: "s3"}))
	m.Write([]byte(b64))
	form := func() PostForm {
		return PostForm{Bucket: "b", Fields: map[string]string{"Policy": b64, "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
			"X-Amz-Credential": testAccessKey + "/20240315/eu-west-3/s3/aws4_request", "X-Amz-Date": "20240315T093000Z",
			"X-Amz-Signature": hex.EncodeToString(m.Sum(nil)), "key": "k"}}
	}
	v := testVerifier(testTime)
	if _, err := v.VerifyPostPolicy(form()); err != nil {
		t.Fatalf("not enforced: %v", err)
	}
	v.EnforceRegion = true
	_, err := v.VerifyPostPolicy(form())
	wantError(t, err, ErrWrongRegion)
	if e := err.(*Error); e.Code != "AuthorizationQueryParametersError" || e.Region != testRegion ||
		e.Message != "Error parsing the X-Amz-Credential parameter; the region 'eu-west-3' is wrong; expecting 'us-east-1'" {
		t.Fatalf("error = %+v", e)
	}
}
