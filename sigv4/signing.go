package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
)

// emptySHA256 is hex(sha256("")), part of every chunk string to sign.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// SigningKey is the derived SigV4 key (HMAC chain over the secret). It is a
// secret: String, GoString and LogValue print "[redacted]".
type SigningKey []byte

// String implements fmt.Stringer without revealing the key.
func (SigningKey) String() string { return "[redacted]" }

// GoString implements fmt.GoStringer without revealing the key.
func (SigningKey) GoString() string { return "[redacted]" }

// LogValue implements slog.LogValuer without revealing the key.
func (SigningKey) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// DeriveSigningKey computes HMAC("AWS4"+secret, date) → region → service →
// "aws4_request".
func DeriveSigningKey(secret string, scope Scope) SigningKey {
	k := hmacSHA256([]byte("AWS4"+secret), scope.Date)
	k = hmacSHA256(k, scope.Region)
	k = hmacSHA256(k, scope.Service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func sha256Hex(data string) string {
	sum := sha256.Sum256([]byte(data))
	return hex.EncodeToString(sum[:])
}

// stringToSign builds the request string to sign.
func stringToSign(timestamp string, scope Scope, canonical string) string {
	return Algorithm + "\n" + timestamp + "\n" + scope.String() + "\n" + sha256Hex(canonical)
}
