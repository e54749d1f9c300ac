// Package passphrase encrypts short secrets (database URLs, JWT secrets, S3 secret keys,
// JWKs) at rest under a passphrase, in the format the reference server writes with
// ENCRYPTION_KEY: CryptoJS.AES with a string key, which is OpenSSL's `enc -aes-256-cbc -md
// md5`: base64("Salted__" + 8-byte salt + AES-256-CBC(PKCS#7) ciphertext), key and IV
// derived from passphrase+salt by EVP_BytesToKey with one MD5 round. Rows either server
// writes, the other reads. It is a leaf package on the standard library.
//
// MD5 key derivation is weak against guessing a short passphrase; the format is kept
// because the reference's control database is written in it. Use a long random key.
package passphrase

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"errors"
)

// ErrDecrypt is returned for a ciphertext that is not in the format, or that the
// passphrase does not open (bad padding). The message never includes the input.
var ErrDecrypt = errors.New("passphrase: cannot decrypt value (wrong ENCRYPTION_KEY or not an encrypted value)")

const magic = "Salted__"

// deriveKey is OpenSSL's EVP_BytesToKey(MD5, count 1) for a 32-byte key and 16-byte IV.
func deriveKey(pass string, salt []byte) (key, iv []byte) {
	var out, prev []byte
	for len(out) < 48 {
		h := md5.New()
		h.Write(prev)
		h.Write([]byte(pass))
		h.Write(salt)
		prev = h.Sum(nil)
		out = append(out, prev...)
	}
	return out[:32], out[32:48]
}

// Encrypt returns plaintext encrypted under pass with a fresh random salt.
func Encrypt(pass, plaintext string) (string, error) {
	salt := make([]byte, 8)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return encryptSalt(pass, plaintext, salt), nil
}

func encryptSalt(pass, plaintext string, salt []byte) string {
	key, iv := deriveKey(pass, salt)
	block, _ := aes.NewCipher(key) // a 32-byte key never fails
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	buf := append([]byte(plaintext), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	out := make([]byte, 0, 16+len(buf))
	out = append(append(append(out, magic...), salt...), buf...)
	return base64.StdEncoding.EncodeToString(out)
}

// Decrypt opens a value Encrypt (or the reference's encrypt) produced under pass.
func Decrypt(pass, ciphertext string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(ciphertext)
	if err != nil || len(raw) < 16+aes.BlockSize || string(raw[:8]) != magic || (len(raw)-16)%aes.BlockSize != 0 {
		return "", ErrDecrypt
	}
	key, iv := deriveKey(pass, raw[8:16])
	block, _ := aes.NewCipher(key)
	buf := make([]byte, len(raw)-16)
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(buf, raw[16:])
	pad := int(buf[len(buf)-1])
	if pad == 0 || pad > aes.BlockSize {
		return "", ErrDecrypt
	}
	for _, b := range buf[len(buf)-pad:] {
		if int(b) != pad {
			return "", ErrDecrypt
		}
	}
	return string(buf[:len(buf)-pad]), nil
}
