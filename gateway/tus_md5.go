package gateway

import (
	"context"
	"crypto/md5"
	"encoding"
	"encoding/hex"
	"hash"
	"io"

	"github.com/stowage/stowage/db"
)

// A finished resumable upload's ETag is the MD5 of the object's bytes, as the reference's
// (not the multipart form of its chunks). The MD5 runs while the chunks arrive: each PATCH
// body is hashed as it streams to the store, continuing from the digest state stored in
// the TUS row, and the new state is recorded in the transaction that records the chunk's
// bytes (a part or a tail swap). A chunk is stored whole or not at all, so the state always
// covers exactly the bytes up to the upload's offset, on any gateway, after any restart.
// Nothing is read twice and nothing is held in memory but the digest.

// newTusMD5 is the digest state of an upload with no bytes yet.
func newTusMD5() []byte {
	state, _ := md5.New().(encoding.BinaryMarshaler).MarshalBinary()
	return state
}

// restoreTusMD5 returns the digest a stored state describes; nil when the state is
// unknown (an upload begun before migration 14) or unreadable.
func restoreTusMD5(state []byte) hash.Hash {
	if state == nil {
		return nil
	}
	h := md5.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil
	}
	return h
}

// hashChunk makes body feed the upload's running MD5 as it is read (body unchanged when
// the MD5 is unknown).
func (st *tusState) hashChunk(body io.Reader) io.Reader {
	if st.md5 == nil {
		st.md5 = restoreTusMD5(st.row.MD5State)
	}
	if st.md5 == nil {
		return body
	}
	return io.TeeReader(body, st.md5)
}

// saveMD5 records the running MD5 in tx, beside the bytes it now covers.
func (st *tusState) saveMD5(ctx context.Context, tx db.Tx) error {
	if st.md5 == nil {
		return nil
	}
	state, err := st.md5.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	if err := tx.SetTusMD5(ctx, st.row.Version, state); err != nil {
		return err
	}
	st.row.MD5State = state
	return nil
}

// objectMD5 is the quoted MD5 ETag of the finished upload's bytes; ok is false when the
// running MD5 is unknown.
func (st *tusState) objectMD5() (etag string, ok bool) {
	h := st.md5
	if h == nil {
		h = restoreTusMD5(st.row.MD5State)
	}
	if h == nil {
		return "", false
	}
	return `"` + hex.EncodeToString(h.Sum(nil)) + `"`, true
}
