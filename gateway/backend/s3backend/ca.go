package s3backend

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"sync"
	"time"
)

// placeholderCA is a self-signed certificate generated once per process. It is only ever
// handed to the SDK's configuration loader so that the loader stops looking for
// AWS_CA_BUNDLE (see awsConfig); the HTTP client it configures is thrown away, so nothing
// ever trusts this certificate.
var placeholderCA = sync.OnceValues(func() (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "stowage s3backend placeholder (never trusted)"},
		NotBefore:             time.Unix(0, 0),
		NotAfter:              time.Unix(0, 0).Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
})

// systemPoolWith returns the system roots plus the PEM certificates of bundle.
func systemPoolWith(bundle []byte) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(bundle) {
		return nil, errors.New("s3backend: CA bundle holds no PEM certificate")
	}
	return pool, nil
}

func newTLSConfig() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS12} }
