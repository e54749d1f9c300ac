package tus

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/stowage/stowage/gateway/forwarded"
)

// maxMetadataPairs bounds Upload-Metadata (the header itself is bounded by the server's
// header buffer).
const maxMetadataPairs = 64

// metaPair is one Upload-Metadata entry; hasValue is false for a key alone (null value).
type metaPair struct {
	key, value string
	hasValue   bool
}

// parseMetadata reads "key base64,key base64": keys unique, non-empty ASCII without spaces
// or commas; values standard base64. ok is false for anything else.
func parseMetadata(h string) ([]metaPair, bool) {
	if strings.TrimSpace(h) == "" {
		return nil, true
	}
	parts := strings.Split(h, ",")
	if len(parts) > maxMetadataPairs {
		return nil, false
	}
	seen := make(map[string]bool, len(parts))
	out := make([]metaPair, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		k, v, hasValue := strings.Cut(p, " ")
		if k == "" || seen[k] || strings.ContainsAny(v, " ") {
			return nil, false
		}
		for i := 0; i < len(k); i++ {
			if k[i] < 0x21 || k[i] > 0x7e {
				return nil, false
			}
		}
		pair := metaPair{key: k, hasValue: hasValue}
		if hasValue {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, false
			}
			pair.value = string(b)
		}
		seen[k] = true
		out = append(out, pair)
	}
	return out, true
}

func encodeMetadata(pairs []metaPair) string {
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.key)
		if p.hasValue {
			b.WriteByte(' ')
			b.WriteString(base64.StdEncoding.EncodeToString([]byte(p.value)))
		}
	}
	return b.String()
}

// uploadMeta is what the server reads from Upload-Metadata.
type uploadMeta struct {
	bucket, key  string
	contentType  string
	cacheControl string
	userMetadata json.RawMessage
	// stored is the metadata HEAD echoes, cacheControl normalised.
	stored string
}

// readMetadata interprets the keys the reference uses (tus.md §3): cacheControl is integer
// seconds only (max-age=<n>), anything else no-cache; metadata is JSON or ignored.
func readMetadata(pairs []metaPair) uploadMeta {
	m := uploadMeta{cacheControl: "no-cache"}
	for i, p := range pairs {
		switch p.key {
		case "bucketName":
			m.bucket = p.value
		case "objectName":
			m.key = p.value
		case "contentType":
			m.contentType = p.value
		case "cacheControl":
			if n, err := strconv.Atoi(p.value); err == nil && canonicalInt(strings.TrimPrefix(p.value, "-")) {
				m.cacheControl = "max-age=" + strconv.Itoa(n)
			}
			pairs[i] = metaPair{key: p.key, value: m.cacheControl, hasValue: true}
		case "metadata":
			if json.Valid([]byte(p.value)) {
				m.userMetadata = json.RawMessage(p.value)
			}
		}
	}
	m.stored = encodeMetadata(pairs)
	return m
}

// canonicalInt reports whether s is a non-negative integer without sign or leading zeros
// that fits an int64.
func canonicalInt(s string) bool {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// intHeader reads an optional non-negative integer header: -1 when absent.
func intHeader(c *fiber.Ctx, name string) (int64, error) {
	v := c.Get(name)
	if v == "" {
		return -1, nil
	}
	if !canonicalInt(v) {
		return 0, protocol(400, "Invalid "+strings.ToLower(name))
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n, nil
}

// location builds the upload URL (tus.md §6): proto and host from STORAGE_PUBLIC_URL, else
// Forwarded, then X-Forwarded-Host/-Proto (with a non-default X-Forwarded-Port), then Host
// over http; NODE_ENV=production forces https. With REQUEST_ALLOW_X_FORWARDED_PATH the
// base path is prefixed with X-Forwarded-Prefix.
func (h *Handler) location(c *fiber.Ctx, id string, signed bool) string {
	proto, host := h.opts.PublicProto, h.opts.PublicHost
	if host == "" {
		if fwd := c.Get("Forwarded"); fwd != "" {
			host, proto = forwarded.Parse(fwd)
		}
		if host == "" {
			if xh := c.Get("X-Forwarded-Host"); xh != "" {
				host = xh
				if p := c.Get("X-Forwarded-Port"); p != "" && p != "80" && p != "443" && !strings.Contains(xh, ":") {
					host += ":" + p
				}
			}
		}
		if proto == "" {
			proto = c.Get("X-Forwarded-Proto")
		}
		if host == "" {
			host = c.Hostname()
		}
	}
	if proto != "https" {
		proto = "http"
	}
	if h.opts.ForceHTTPS {
		proto = "https"
	}
	base := strings.TrimRight(h.opts.URLPath, "/")
	if h.opts.AllowForwardedPath {
		base = forwarded.Prefix(c.Get("X-Forwarded-Prefix")) + base
	}
	if signed {
		base += "/sign"
	}
	return proto + "://" + host + base + "/" + id
}

// uploadURLID is the URL form of an upload: base64url (no padding) of
// "<bucket>/<key>/<version>", as the reference.
func uploadURLID(bucket, key, version string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(bucket + "/" + key + "/" + version))
}

// parseURLID reverses uploadURLID; ok is false for anything that is not one.
func parseURLID(id string) (bucket, key, version string, ok bool) {
	if len(id) > 4096 {
		return "", "", "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(id, "="))
	if err != nil {
		return "", "", "", false
	}
	s := string(raw)
	bucket, rest, ok1 := strings.Cut(s, "/")
	i := strings.LastIndexByte(rest, '/')
	if !ok1 || i <= 0 || bucket == "" {
		return "", "", "", false
	}
	return bucket, rest[:i], rest[i+1:], true
}
