package sigv4

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Bounds on a POST policy, so a hostile form costs bounded work.
const (
	maxPolicyBytes      = 64 << 10 // base64 policy as sent
	maxPolicyConditions = 256
)

// PostForm is a browser-based POST upload (multipart/form-data) as the
// caller parsed it, before reading the file part.
type PostForm struct {
	// Fields are the form fields other than the file, by name as sent. Field
	// names are case-insensitive; the caller must reject a repeated field
	// (map keys cannot carry it), and two names differing only in case are
	// rejected here.
	Fields map[string]string
	// Bucket is the bucket named by the URL: the value of "$bucket".
	Bucket string
	// Filename is the file part's filename, substituted for "${filename}" in
	// the key field.
	Filename string
}

// PostPolicy is a verified POST upload.
type PostPolicy struct {
	AccessKeyID  string
	SessionToken string // x-amz-security-token field
	// Key is the key field with ${filename} substituted.
	Key        string
	Expiration time.Time
	// ContentLength is the policy's content-length-range, for the caller to
	// cap the file stream and check its final length.
	ContentLength ContentLengthRange
}

// ContentLengthRange is a policy's ["content-length-range", min, max].
type ContentLengthRange struct {
	Min, Max int64
	Set      bool // false: the policy has no range
}

// Check returns ErrEntityTooSmall or ErrEntityTooLarge when n is outside the
// range, nil otherwise or when no range was set.
func (r ContentLengthRange) Check(n int64) error {
	switch {
	case !r.Set:
		return nil
	case n < r.Min:
		return ErrEntityTooSmall
	case n > r.Max:
		return ErrEntityTooLarge
	}
	return nil
}

// VerifyPostPolicy checks a browser POST form: the SigV4 signature of the
// base64 policy (x-amz-signature = HMAC(signing key, policy)) or, when the form
// carries AWSAccessKeyId and signature fields, its SigV2 signature
// (base64(HMAC-SHA1(secret, policy))), the policy's
// expiration, and its conditions (exact {"field": "v"} and ["eq", "$field",
// "v"], ["starts-with", "$field", "prefix"], content-length-range). Every
// submitted field except policy, x-amz-signature, x-amz-algorithm,
// x-amz-credential, x-amz-date, x-amz-security-token, file and x-ignore-*
// (SigV2: policy, AWSAccessKeyId, signature, x-amz-security-token, file and
// x-ignore-*) must be covered by a condition, as the reference requires. The length of
// the file is the caller's to enforce with PostPolicy.ContentLength.
func (v *Verifier) VerifyPostPolicy(form PostForm) (PostPolicy, error) {
	if v.Lookup == nil {
		return PostPolicy{}, ErrAccessDenied.with("No credentials configured")
	}
	fields := make(map[string]string, len(form.Fields))
	for name, value := range form.Fields {
		lower := strings.ToLower(name)
		if _, dup := fields[lower]; dup {
			return PostPolicy{}, ErrPolicyMalformed.with("Duplicate form field " + truncate(lower))
		}
		fields[lower] = value
	}
	exempt := exemptPostField
	var res PostPolicy
	var err error
	if isPostV2(fields) && v.DisableV2 {
		return PostPolicy{}, ErrV2Disabled
	}
	if isPostV2(fields) {
		exempt = exemptPostFieldV2
		res, err = v.checkPostSignatureV2(fields)
	} else {
		res, err = v.checkPostSignatureV4(fields)
	}
	if err != nil {
		return PostPolicy{}, err
	}
	doc, err := decodePolicy(fields["policy"])
	if err != nil {
		return PostPolicy{}, err
	}
	if v.now().After(doc.expiration) {
		return PostPolicy{}, ErrExpiredPresigned.with("Invalid according to Policy: Policy expired.")
	}
	res.Expiration = doc.expiration
	res.Key = strings.ReplaceAll(fields["key"], "${filename}", form.Filename)
	covered := map[string]bool{}
	for _, cond := range doc.conditions {
		if cond.op == "content-length-range" {
			res.ContentLength = ContentLengthRange{Min: cond.min, Max: cond.max, Set: true}
			continue
		}
		covered[cond.field] = true
		if !cond.holds(postValues(cond.field, fields, form.Bucket, res.Key)) {
			return PostPolicy{}, ErrPolicyConditionFailed.with("Policy condition failed: [\"" + cond.op + "\", \"$" + truncate(cond.field) + "\", \"" + truncate(cond.value) + "\"]")
		}
	}
	for name := range fields {
		if !covered[name] && !exempt(name) {
			return PostPolicy{}, ErrPolicyConditionFailed.with("Policy condition failed: form field " + truncate(name) + " is not covered by the policy")
		}
	}
	return res, nil
}

// checkPostSignatureV4 checks the SigV4 fields and x-amz-signature over the base64 policy.
func (v *Verifier) checkPostSignatureV4(fields map[string]string) (PostPolicy, error) {
	for _, name := range []string{"policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature", "key"} {
		if fields[name] == "" {
			return PostPolicy{}, ErrPolicyMalformed.with("Bucket POST must contain a field named '" + name + "'")
		}
	}
	if fields["x-amz-algorithm"] != Algorithm {
		return PostPolicy{}, ErrPolicyMalformed.with("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	}
	key, scope, err := parseCredential(fields["x-amz-credential"], ErrPolicyMalformed)
	if err != nil {
		return PostPolicy{}, err
	}
	date := fields["x-amz-date"]
	t, err := time.Parse(timeFormat, date)
	if err != nil || t.Format(timeFormat) != date {
		return PostPolicy{}, ErrPolicyMalformed.with("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	if scope.Date != t.Format("20060102") {
		return PostPolicy{}, ErrPolicyMalformed.with("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	if err := v.checkScope(scope, scopeQuery); err != nil {
		return PostPolicy{}, err
	}
	sig := parseSignature(fields["x-amz-signature"]) // nil (never equal) unless 64 hex digits
	secret, ok := v.Lookup(key)
	if !ok {
		return PostPolicy{}, ErrInvalidAccessKeyID
	}
	if !hmac.Equal(hmacSHA256(signingKeys.signingKey(key, secret, scope), fields["policy"]), sig) {
		return PostPolicy{}, ErrSignatureDoesNotMatch
	}
	return PostPolicy{AccessKeyID: key, SessionToken: fields["x-amz-security-token"]}, nil
}

// isPostV2 reports whether a form is signed with SigV2 (AWSAccessKeyId and signature
// fields) rather than SigV4 (x-amz-* fields).
func isPostV2(fields map[string]string) bool {
	_, key := fields["awsaccesskeyid"]
	_, sig := fields["signature"]
	return key || sig
}

// checkPostSignatureV2 checks a SigV2 form: signature = base64(HMAC-SHA1(secret, policy)).
// A form carrying SigV4 fields too is refused: one mechanism per request, as S3.
func (v *Verifier) checkPostSignatureV2(fields map[string]string) (PostPolicy, error) {
	for _, name := range []string{"x-amz-algorithm", "x-amz-credential", "x-amz-signature"} {
		if _, ok := fields[name]; ok {
			return PostPolicy{}, ErrInvalidArgument.with("Only one auth mechanism allowed; the form has both AWSAccessKeyId and " + name)
		}
	}
	for _, name := range []string{"policy", "awsaccesskeyid", "signature", "key"} {
		if fields[name] == "" {
			return PostPolicy{}, ErrPolicyMalformed.with("Bucket POST must contain a field named '" + name + "'")
		}
	}
	key := fields["awsaccesskeyid"]
	secret, ok := v.Lookup(key)
	if !ok {
		return PostPolicy{}, ErrInvalidAccessKeyID
	}
	if !hmac.Equal(hmacSHA1([]byte(secret), fields["policy"]), parseSignatureV2(fields["signature"])) {
		return PostPolicy{}, ErrSignatureDoesNotMatch
	}
	return PostPolicy{AccessKeyID: key, SessionToken: fields["x-amz-security-token"]}, nil
}

// exemptPostFieldV2 is exemptPostField for a SigV2 form, whose signature fields are
// AWSAccessKeyId and signature.
func exemptPostFieldV2(name string) bool {
	switch name {
	case "policy", "awsaccesskeyid", "signature", "x-amz-security-token", "file":
		return true
	}
	return strings.HasPrefix(name, "x-ignore-")
}

func exemptPostField(name string) bool {
	switch name {
	case "policy", "x-amz-signature", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-security-token", "file":
		return true
	}
	return strings.HasPrefix(name, "x-ignore-")
}

// postValues returns the candidate values of a condition's field. The key
// matches either as sent or with ${filename} substituted.
func postValues(field string, fields map[string]string, bucket, key string) []string {
	switch field {
	case "bucket":
		return []string{bucket}
	case "key":
		return []string{fields["key"], key}
	}
	return []string{fields[field]}
}

type policyDoc struct {
	expiration time.Time
	conditions []condition
}

type condition struct {
	op       string // "eq", "starts-with" or "content-length-range"
	field    string // lower-case, without '$'
	value    string
	min, max int64
}

// holds reports whether any candidate value satisfies the condition. For
// Content-Type, starts-with applies to each comma-separated type, as at AWS.
func (c condition) holds(values []string) bool {
	for _, v := range values {
		switch c.op {
		case "eq":
			if v == c.value {
				return true
			}
		case "starts-with":
			ok := true
			parts := []string{v}
			if c.field == "content-type" {
				parts = strings.Split(v, ",")
			}
			for _, p := range parts {
				ok = ok && strings.HasPrefix(strings.TrimSpace(p), c.value)
			}
			if ok {
				return true
			}
		}
	}
	return false
}

// decodePolicy decodes the base64 JSON policy document.
func decodePolicy(b64 string) (policyDoc, error) {
	bad := ErrPolicyMalformed
	if len(b64) > maxPolicyBytes {
		return policyDoc{}, bad.with("Policy is too large")
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return policyDoc{}, bad.with("Policy is not valid base64")
	}
	var doc struct {
		Expiration *string           `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return policyDoc{}, bad.with("Policy is not a valid JSON document")
	}
	if doc.Expiration == nil {
		return policyDoc{}, bad.with("Policy missing expiration")
	}
	exp, err := time.Parse(time.RFC3339Nano, *doc.Expiration)
	if err != nil {
		return policyDoc{}, bad.with("Invalid Policy: Invalid 'expiration' value")
	}
	if doc.Conditions == nil {
		return policyDoc{}, bad.with("Policy missing conditions")
	}
	if len(doc.Conditions) > maxPolicyConditions {
		return policyDoc{}, bad.with("Policy has too many conditions")
	}
	out := policyDoc{expiration: exp}
	for _, rawCond := range doc.Conditions {
		conds, err := parseCondition(rawCond)
		if err != nil {
			return policyDoc{}, err
		}
		out.conditions = append(out.conditions, conds...)
		if len(out.conditions) > maxPolicyConditions {
			return policyDoc{}, bad.with("Policy has too many conditions")
		}
	}
	return out, nil
}

// parseCondition reads {"field": "value", …} or [op, "$field", value] or
// ["content-length-range", min, max].
func parseCondition(raw json.RawMessage) ([]condition, error) {
	bad := ErrPolicyMalformed.with("Invalid Policy: Invalid condition")
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var obj map[string]string
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, bad
		}
		conds := make([]condition, 0, len(obj))
		for name, value := range obj {
			conds = append(conds, condition{op: "eq", field: strings.ToLower(strings.TrimPrefix(name, "$")), value: value})
		}
		return conds, nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil || len(arr) != 3 {
		return nil, bad
	}
	var op string
	if err := json.Unmarshal(arr[0], &op); err != nil {
		return nil, bad
	}
	op = strings.ToLower(op)
	switch op {
	case "eq", "starts-with":
		var field, value string
		if json.Unmarshal(arr[1], &field) != nil || json.Unmarshal(arr[2], &value) != nil || !strings.HasPrefix(field, "$") {
			return nil, bad
		}
		return []condition{{op: op, field: strings.ToLower(field[1:]), value: value}}, nil
	case "content-length-range":
		lo, ok1 := policyInt(arr[1])
		hi, ok2 := policyInt(arr[2])
		if !ok1 || !ok2 || lo < 0 || hi < lo {
			return nil, bad
		}
		return []condition{{op: op, min: lo, max: hi}}, nil
	}
	return nil, bad
}

// policyInt reads a non-negative integer written as a JSON number or string.
func policyInt(raw json.RawMessage) (int64, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(bytes.TrimSpace(raw))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
