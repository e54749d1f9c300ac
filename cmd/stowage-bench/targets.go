package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/stowage/stowage/gateway/backend"
	"github.com/stowage/stowage/gateway/backend/filebackend"
	"github.com/stowage/stowage/gateway/backend/s3backend"
)

// parseTarget reads "name=..,kind=..,url=..,..." into a target.
func parseTarget(ctx context.Context, spec string) (string, target, error) {
	kv := map[string]string{}
	for _, f := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return "", nil, fmt.Errorf("target %q: %q is not key=value", spec, f)
		}
		kv[k] = v
	}
	name := or(kv["name"], kv["kind"])
	switch kv["kind"] {
	case "s3":
		return name, newS3Target(kv), nil
	case "rest":
		return name, &restTarget{url: strings.TrimRight(kv["url"], "/"), bucket: kv["bucket"], key: kv["key"],
			client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}, nil
	case "s3store":
		st, err := s3backend.New(ctx, s3backend.Options{Bucket: kv["bucket"], Endpoint: kv["url"], ForcePathStyle: true,
			Region: kv["region"], AccessKeyID: kv["access"], SecretAccessKey: kv["secret"]})
		return name, storeTarget{st}, err
	case "filestore":
		st, err := filebackend.New(kv["url"], filebackend.Options{})
		return name, storeTarget{st}, err
	}
	return "", nil, fmt.Errorf("target %q: kind must be s3, rest, s3store or filestore", spec)
}

// s3Target speaks S3 with aws-sdk-go-v2, built without the configuration loader so that
// AWS_CA_BUNDLE does not break plain-http endpoints.
type s3Target struct {
	c      *s3.Client
	bucket string
}

// unsignedPayload makes s3 targets send PutObject bodies as UNSIGNED-PAYLOAD, as the SDKs
// do over TLS, instead of the payload SHA-256 they must sign over plain http (-payload).
var unsignedPayload bool

func newS3Target(kv map[string]string) *s3Target {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}}
	var apiOptions []func(*middleware.Stack) error
	if unsignedPayload {
		apiOptions = append(apiOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	}
	return &s3Target{bucket: kv["bucket"], c: s3.New(s3.Options{
		APIOptions: apiOptions,
		Region:     or(kv["region"], "us-east-1"), BaseEndpoint: aws.String(kv["url"]), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(kv["access"], kv["secret"], ""),
		HTTPClient:                 hc,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})}
}

func (t *s3Target) put(ctx context.Context, key string, body []byte) error {
	_, err := t.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &t.bucket, Key: &key, Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body)))})
	return err
}

func (t *s3Target) get(ctx context.Context, key string) (int64, error) {
	out, err := t.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &t.bucket, Key: &key})
	if err != nil {
		return 0, err
	}
	defer out.Body.Close()
	return io.Copy(io.Discard, out.Body)
}

func (t *s3Target) list(ctx context.Context, prefix string) (int, error) {
	out, err := t.c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &t.bucket, Prefix: &prefix, MaxKeys: aws.Int32(1000)})
	if err != nil {
		return 0, err
	}
	return len(out.Contents), nil
}

func (t *s3Target) cleanup(ctx context.Context, prefix string) error {
	p := s3.NewListObjectsV2Paginator(t.c, &s3.ListObjectsV2Input{Bucket: &t.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if len(ids) == 0 {
			continue
		}
		if _, err := t.c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &t.bucket,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}}); err != nil {
			return err
		}
	}
	return nil
}

// restTarget speaks the Supabase Storage REST API with a bearer key.
type restTarget struct {
	url, bucket, key string
	client           *http.Client
}

func (t *restTarget) do(ctx context.Context, method, path string, body io.Reader, size int64, ctype string, header ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, t.url+path, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+t.key)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp, nil
}

func (t *restTarget) put(ctx context.Context, key string, body []byte) error {
	// x-upsert: later rounds write the same keys again, as an S3 PUT overwrites them.
	resp, err := t.do(ctx, "POST", "/object/"+t.bucket+"/"+key, bytes.NewReader(body), int64(len(body)), "application/octet-stream", "x-upsert", "true")
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

func (t *restTarget) get(ctx context.Context, key string) (int64, error) {
	resp, err := t.do(ctx, "GET", "/object/authenticated/"+t.bucket+"/"+key, nil, 0, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(io.Discard, resp.Body)
}

func (t *restTarget) list(ctx context.Context, prefix string) (int, error) {
	body, _ := json.Marshal(map[string]any{"prefix": prefix, "limit": 1000})
	resp, err := t.do(ctx, "POST", "/object/list/"+t.bucket, bytes.NewReader(body), int64(len(body)), "application/json")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var items []json.RawMessage
	err = json.NewDecoder(resp.Body).Decode(&items)
	return len(items), err
}

func (t *restTarget) cleanup(ctx context.Context, prefix string) error {
	for {
		names, err := t.names(ctx, prefix)
		if err != nil || len(names) == 0 {
			return err
		}
		// A page's folders may hold more than the 1,000 names one delete takes.
		for len(names) > 0 {
			n := min(len(names), 1000)
			body, _ := json.Marshal(map[string]any{"prefixes": names[:n]})
			names = names[n:]
			resp, err := t.do(ctx, "DELETE", "/object/"+t.bucket, bytes.NewReader(body), int64(len(body)), "application/json")
			if err != nil {
				return err
			}
			resp.Body.Close()
		}
	}
}

// names lists up to 1000 object names below prefix, descending into folders.
func (t *restTarget) names(ctx context.Context, prefix string) ([]string, error) {
	body, _ := json.Marshal(map[string]any{"prefix": prefix, "limit": 1000})
	resp, err := t.do(ctx, "POST", "/object/list/"+t.bucket, bytes.NewReader(body), int64(len(body)), "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var items []struct {
		Name string  `json:"name"`
		ID   *string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&items); err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		if it.ID == nil { // a folder
			sub, err := t.names(ctx, prefix+it.Name+"/")
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		out = append(out, prefix+it.Name)
	}
	return out, nil
}

// storeTarget drives a backend.Store in-process: the store level without any HTTP server
// of ours (the s3store still talks HTTP to its upstream).
type storeTarget struct{ s backend.Store }

var errNoList = errors.New("stores have no listing")

func (t storeTarget) put(ctx context.Context, key string, body []byte) error {
	// A reader without WriterTo or Seek, as a network body is.
	_, err := t.s.Put(ctx, key, struct{ io.Reader }{bytes.NewReader(body)}, backend.PutOptions{Size: int64(len(body))})
	return err
}

func (t storeTarget) get(ctx context.Context, key string) (int64, error) {
	rc, err := t.s.Open(ctx, key, backend.Whole)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(io.Discard, rc)
}

func (t storeTarget) list(context.Context, string) (int, error) { return 0, errNoList }

// cleanup does nothing: a store cannot list. The objects sit under the run's prefix
// (stowage-bench-<time>-<n>/): make bench-load throws the whole folder or MinIO away.
func (t storeTarget) cleanup(context.Context, string) error { return nil }
