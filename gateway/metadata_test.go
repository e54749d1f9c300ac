package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stowage/stowage/db"
)

func TestCheckUserMetadata(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		raw  string
		ok   bool
	}{
		{"plain", `{"a":"b"}`, true},
		{"escaped latin", `{"a":"\u00e9"}`, true},
		{"surrogate pair", `{"a":"\ud83d\ude00"}`, true},
		{"surrogate pair upper case", `{"a":"\uD83D\uDE00"}`, true},
		{"escaped backslash before u0000", `{"a":"\\u0000"}`, true},
		{"nested", `{"a":[1,{"b":null}],"c":true}`, true},
		{"NUL escape in value", `{"a":"x\u0000y"}`, false},
		{"NUL escape in key", `{"\u0000":1}`, false},
		{"NUL escape nested", `{"a":["\u0000"]}`, false},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", false},
		{"lone high surrogate", `{"a":"\ud800"}`, false},
		{"lone high surrogate at the end", `"\ud800"`, false},
		{"high surrogate then a letter", `{"a":"\ud800\u0041"}`, false},
		{"lone low surrogate", `{"a":"\udc00"}`, false},
		{"not JSON", `{"a":`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := checkUserMetadata(json.RawMessage(tc.raw))
			if (err == nil) != tc.ok || (err != nil && CodeOf(err) != CodeInvalidArgument) {
				t.Fatalf("checkUserMetadata(%q) = %v, want ok %v", tc.raw, err, tc.ok)
			}
		})
	}
}

// Metadata Postgres cannot store (a NUL, invalid UTF-8, an unpaired surrogate) is
// InvalidArgument on every write path, before a byte is stored, instead of a 500
// DatabaseError from 22P05/22021/22P02; what Postgres can store goes through.
func TestMetadataPostgresCannotStore(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "meta")
	for _, raw := range []string{`{"a":"\ud83d\ude00"}`, `{"a":"\\u0000"}`, `{"k":"\u00e9"}`} {
		_, err := f.e.PutObject(ctx, service(), PutObject{Bucket: "meta", Key: "ok.txt", Body: bytes.NewReader([]byte("x")),
			Size: 1, UserMetadata: json.RawMessage(raw), Upsert: true})
		if err != nil {
			t.Fatalf("metadata %s refused: %v", raw, err)
		}
	}
	put := func(in PutObject) error {
		in.Bucket, in.Key, in.Body, in.Size = "meta", "bad.txt", bytes.NewReader([]byte("x")), 1
		_, err := f.e.PutObject(ctx, service(), in)
		return err
	}
	for _, tc := range []struct {
		name string
		err  func() error
	}{
		{"put user metadata NUL", func() error { return put(PutObject{UserMetadata: json.RawMessage(`{"a":"\u0000"}`)}) }},
		{"put user metadata invalid UTF-8", func() error { return put(PutObject{UserMetadata: json.RawMessage("{\"a\":\"\xc3\"}")}) }},
		{"put user metadata lone surrogate", func() error { return put(PutObject{UserMetadata: json.RawMessage(`{"a":"\udc00"}`)}) }},
		{"put content type NUL", func() error { return put(PutObject{ContentType: "text/plain\x00"}) }},
		{"put cache control invalid UTF-8", func() error { return put(PutObject{CacheControl: "max-age=\xff"}) }},
		{"put content disposition NUL", func() error { return put(PutObject{Extra: Extra{ContentDisposition: "a\x00"}}) }},
		{"put tag NUL", func() error { return put(PutObject{Extra: Extra{Tags: []Tag{{Key: "k", Value: "\x00"}}}}) }},
		{"multipart user metadata NUL", func() error {
			_, err := f.e.CreateMultipartUpload(ctx, service(), CreateMultipartUpload{Bucket: "meta", Key: "mp",
				UserMetadata: json.RawMessage(`{"a":"\u0000"}`)})
			return err
		}},
		{"tus content type NUL", func() error {
			_, err := f.e.TusCreate(ctx, service(), TusCreate{Bucket: "meta", Key: "tus", Length: 1, ContentType: "a/b\x00"})
			return err
		}},
		{"tus user metadata NUL", func() error {
			_, err := f.e.TusCreate(ctx, service(), TusCreate{Bucket: "meta", Key: "tus", Length: 1,
				UserMetadata: json.RawMessage(`{"a":"\u0000"}`)})
			return err
		}},
		{"copy user metadata NUL", func() error {
			_, err := f.e.CopyObject(ctx, service(), CopyObject{SrcBucket: "meta", SrcKey: "ok.txt", DstBucket: "meta",
				DstKey: "copy", ReplaceMetadata: true, UserMetadata: json.RawMessage(`{"a":"\u0000"}`)})
			return err
		}},
		{"signed upload check user metadata NUL", func() error {
			return f.e.CheckUpload(ctx, service(), UploadCheck{Bucket: "meta", Key: "s", UserMetadata: json.RawMessage(`{"a":"\u0000"}`)})
		}},
		{"bucket mime type NUL", func() error {
			_, err := f.e.CreateBucket(ctx, service(), CreateBucket{ID: "meta2", FileSizeLimit: NoLimit, AllowedMimeTypes: []string{"a/\x00"}})
			return err
		}},
		{"bucket update mime type invalid UTF-8", func() error {
			_, err := f.e.UpdateBucket(ctx, service(), "meta", UpdateBucket{AllowedMimeTypes: Opt[[]string]{Set: true, Value: []string{"a/\xff"}}})
			return err
		}},
		{"tag value NUL", func() error {
			_, err := f.e.SetObjectTags(ctx, service(), "meta", "ok.txt", []Tag{{Key: "k", Value: "\x00"}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.err(), CodeInvalidArgument)
		})
	}
	if got := f.blobs(t); len(got) != 1 {
		t.Fatalf("blobs %v, want only ok.txt's", got)
	}
}

// The safety net: text Postgres refused (db.ErrInvalidText) is the client's InvalidArgument.
func TestDBErrInvalidText(t *testing.T) {
	t.Parallel()
	err := dbErr(fmt.Errorf("insert: %w", db.ErrInvalidText), CodeNoSuchKey, "b", "k")
	if CodeOf(err) != CodeInvalidArgument || !errors.Is(err, db.ErrInvalidText) {
		t.Fatalf("dbErr = %v, want InvalidArgument wrapping the cause", err)
	}
}
