package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"io"
	"math/rand"
	"testing"

	"github.com/stowage/stowage/gateway/backend"
)

// md5Store is a store that reports the MD5 of what it stored (backend.MD5Provider), as the
// s3 store does with its upstream's ETag. It remembers whether the engine hashed the body.
type md5Store struct {
	backend.Store
	// broken: promise an MD5 but return none (the engine must read the blob back).
	broken bool
	// engineHashed is set when a Put's body was hashed by the engine.
	engineHashed bool
}

func (s *md5Store) ProvidesMD5(opts backend.PutOptions) bool { return opts.Size >= 0 }

func (s *md5Store) Put(ctx context.Context, key string, body io.Reader, opts backend.PutOptions) (backend.Written, error) {
	if br, ok := body.(*bodyReader); ok && br.h != nil {
		s.engineHashed = true
	}
	h := md5.New()
	w, err := s.Store.Put(ctx, key, io.TeeReader(body, h), opts)
	if err == nil && !s.broken && opts.Size >= 0 {
		w.MD5 = h.Sum(nil)
	}
	return w, err
}

// TestETagsWithStoreMD5 checks that ETags stay the quoted MD5 of the bytes whoever computes
// it: the engine (file store; unknown sizes), the store (MD5Provider), or a read-back when a
// store breaks its promise. Content-MD5 is verified against the store's MD5 before commit.
func TestETagsWithStoreMD5(t *testing.T) {
	f := newFixture(t)
	f.bucket(t, "b")
	ctx := context.Background()
	data := make([]byte, 1<<20+3)
	rand.New(rand.NewSource(5)).Read(data)
	file := f.e.store
	md5OK := base64.StdEncoding.EncodeToString(func() []byte { s := md5.Sum(data); return s[:] }())
	md5Bad := base64.StdEncoding.EncodeToString(make([]byte, md5.Size))

	for _, tc := range []struct {
		name       string
		store      backend.Store
		size       int64 // declared; -1 unknown
		contentMD5 string
		wantHashed bool
		wantCode   Code
	}{
		{name: "FileStore", store: file, size: int64(len(data))},
		{name: "FileStore/ContentMD5", store: file, size: int64(len(data)), contentMD5: md5OK},
		{name: "FileStore/BadContentMD5", store: file, size: int64(len(data)), contentMD5: md5Bad, wantCode: CodeBadDigest},
		{name: "Provider", store: &md5Store{Store: file}, size: int64(len(data))},
		{name: "Provider/UnknownSize", store: &md5Store{Store: file}, size: -1, wantHashed: true},
		{name: "Provider/Broken", store: &md5Store{Store: file, broken: true}, size: int64(len(data))},
		{name: "Provider/ContentMD5", store: &md5Store{Store: file}, size: int64(len(data)), contentMD5: md5OK},
		{name: "Provider/BadContentMD5", store: &md5Store{Store: file}, size: int64(len(data)), contentMD5: md5Bad, wantCode: CodeBadDigest},
		{name: "Provider/UnknownSize/BadContentMD5", store: &md5Store{Store: file}, size: -1, contentMD5: md5Bad, wantHashed: true, wantCode: CodeBadDigest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.e.store = tc.store
			defer func() { f.e.store = file }()
			before := len(f.blobs(t))
			key := "etag/" + tc.name
			obj, err := f.e.PutObject(ctx, service(), PutObject{Bucket: "b", Key: key, Body: bytes.NewReader(data),
				Size: tc.size, Upsert: true, Integrity: Integrity{ContentMD5: tc.contentMD5}})
			if tc.wantCode != 0 {
				wantCode(t, err, tc.wantCode)
				if n := len(f.blobs(t)); n != before {
					t.Errorf("blobs: %d after a rejected put, want %d", n, before)
				}
				if _, err := f.e.HeadObject(ctx, service(), "b", key, false); CodeOf(err) != CodeNoSuchKey {
					t.Errorf("rejected put left an object: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if obj.ETag != etagOf(data) {
				t.Errorf("ETag = %s, want %s", obj.ETag, etagOf(data))
			}
			if got, _ := f.e.HeadObject(ctx, service(), "b", key, false); got.ETag != etagOf(data) {
				t.Errorf("stored ETag = %s, want %s", got.ETag, etagOf(data))
			}
			if ms, ok := tc.store.(*md5Store); ok && ms.engineHashed != tc.wantHashed {
				t.Errorf("engine hashed the body: %v, want %v", ms.engineHashed, tc.wantHashed)
			}
		})
	}
}
