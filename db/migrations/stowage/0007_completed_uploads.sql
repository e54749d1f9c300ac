-- Multipart uploads completed recently. S3 answers a repeated CompleteMultipartUpload of a
-- completed upload (a client retrying after a lost response) with the same result, but the
-- upload's rows are deleted at completion. This keeps what that answer needs, keyed by the
-- upload id, until the sweep removes rows older than the upload expiry (24 hours).
create table if not exists stowage.completed_uploads (
  upload_id text primary key,
  bucket_id text not null,
  key text collate "C" not null,
  parts_digest text not null,          -- sha256 of the completed part list (number and ETag)
  version text not null,
  size bigint not null,
  etag text not null,
  checksum_algorithm text not null default '',
  checksum_type text not null default '',
  checksum text not null default '',
  completed_at timestamptz not null
);
create index if not exists completed_uploads_completed_at_idx on stowage.completed_uploads (completed_at);
create index if not exists completed_uploads_bucket_idx on stowage.completed_uploads (bucket_id);

do $$
begin
  execute format('grant all on stowage.completed_uploads to %I, %I', current_setting('storage.service_role'), current_user);
end
$$;
