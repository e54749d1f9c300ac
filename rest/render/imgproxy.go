package render

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stowage/stowage/gateway"
	"github.com/stowage/stowage/gateway/auth"
)

// imgproxy sends transformations to an imgproxy server (IMGPROXY_URL), as the reference
// does. imgproxy fetches the original from this server through a short-lived signed
// download URL (the reference hands it a local path or a presigned backend URL instead).
type imgproxy struct {
	base     string // IMGPROXY_URL without a trailing slash
	source   string // this server's base URL as imgproxy reaches it
	verifier *auth.Verifier
	client   *http.Client
	now      func() time.Time
}

func newImgproxy(cfg Config) (*imgproxy, error) {
	base := strings.TrimRight(cfg.ImgproxyURL, "/")
	if !strings.Contains(base, "://") { // the self-hosting docs show a bare host name
		base = "http://" + base
	}
	if _, err := url.Parse(base); err != nil {
		return nil, fmt.Errorf("IMGPROXY_URL: %w", err)
	}
	if cfg.Verifier == nil {
		return nil, errors.New("IMGPROXY_URL: a JWT verifier is required to sign source URLs")
	}
	if cfg.ImgproxySourceURL == "" {
		return nil, errors.New("IMGPROXY_URL: the source base URL is required")
	}
	return &imgproxy{base: base, source: strings.TrimRight(cfg.ImgproxySourceURL, "/"), verifier: cfg.Verifier,
		client: &http.Client{Timeout: cfg.Timeout}, now: cfg.Now}, nil
}

// sourceURL is a 10-minute signed download URL of the object on this server.
func (p *imgproxy) sourceURL(obj gateway.Object) (string, error) {
	now := p.now()
	token, err := p.verifier.Sign(map[string]any{"url": obj.Bucket + "/" + obj.Key, "scope": "download",
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	if err != nil {
		return "", err
	}
	return p.source + "/object/sign/" + escapePath(obj.Bucket) + "/" + escapePath(obj.Key) + "?token=" + token, nil
}

// requestURL builds <IMGPROXY_URL>/public/<options…>/plain/<escaped source URL>. The
// target format is explicit (format:webp|avif) instead of forwarding Accept, so the bytes
// depend only on the cache key.
func (p *imgproxy) requestURL(obj gateway.Object, o Options, target Format, maxRes int) (string, error) {
	src, err := p.sourceURL(obj)
	if err != nil {
		return "", err
	}
	o.Format = target
	segs := append([]string{p.base, "public"}, o.imgproxySegments()...)
	if maxRes > 0 {
		segs = append(segs, "max_src_resolution:"+strconv.Itoa(maxRes)) // a tenant's limit (WithMaxResolution)
	}
	return strings.Join(segs, "/") + "/plain/" + url.QueryEscape(src), nil
}

func (p *imgproxy) render(ctx context.Context, obj gateway.Object, o Options, target Format, maxRes int, maxOut int64) ([]byte, outFormat, error) {
	u, err := p.requestURL(obj, o, target, maxRes)
	if err != nil {
		return nil, "", wrap(errInternal, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", wrap(errInternal, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", errTimeout
		}
		return nil, "", wrap(errInternal, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnprocessableEntity:
		return nil, "", wrap(errInvalidImage, fmt.Errorf("imgproxy: %s", resp.Status))
	case resp.StatusCode >= 500:
		return nil, "", wrap(errInternal, fmt.Errorf("imgproxy: %s", resp.Status))
	case resp.StatusCode != http.StatusOK:
		return nil, "", wrap(errImgproxy, fmt.Errorf("imgproxy: %s", resp.Status))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxOut+1))
	if err != nil || int64(len(data)) > maxOut {
		return nil, "", wrap(errInternal, fmt.Errorf("imgproxy body: %v (%d bytes)", err, len(data)))
	}
	return data, formatOfContentType(resp.Header.Get("Content-Type")), nil
}

func formatOfContentType(ct string) outFormat {
	mt, _, _ := mime.ParseMediaType(ct)
	switch f := outFormat(strings.TrimPrefix(mt, "image/")); f {
	case outJPEG, outPNG, outWebP, outAVIF, outGIF, outTIFF:
		return f
	}
	return outPNG
}

// escapePath percent-encodes each segment of a key, keeping its slashes.
func escapePath(s string) string {
	parts := strings.Split(s, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
