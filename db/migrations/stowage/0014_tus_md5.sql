-- The running MD5 of a resumable upload's bytes, so a finished upload's ETag is the MD5 of
-- the object (as the reference's) without reading its bytes again. md5_state is Go's
-- crypto/md5 digest state (MarshalBinary) over every byte up to the upload's offset,
-- updated in the transaction that records each chunk. NULL: unknown (an upload begun
-- before this migration), whose ETag stays the multipart form of its parts.
alter table stowage.tus_uploads
  add column if not exists md5_state bytea;
