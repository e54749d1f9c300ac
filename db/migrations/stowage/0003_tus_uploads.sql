-- Resumable (TUS) uploads: what a storage.s3_multipart_uploads row cannot hold. The bytes
-- and parts of an upload in progress live in the multipart tables (upload_id); this row
-- keeps the TUS view of it and outlives the multipart row once the upload completed, so a
-- HEAD on a finished upload still answers with its offset until the row expires.
create table if not exists stowage.tus_uploads (
  version text primary key,            -- the object version (a UUID) the upload writes
  bucket_id text not null,
  name text not null,
  upload_id text not null,             -- storage.s3_multipart_uploads.id (gone once completed)
  upload_length bigint,                -- null while the length is deferred
  metadata text not null default '',   -- Upload-Metadata as HEAD echoes it
  upsert boolean not null default false,
  owner_id text,
  completed boolean not null default false,
  expires_at timestamptz not null,
  created_at timestamptz not null default now()
);
create index if not exists tus_uploads_expires_at_idx on stowage.tus_uploads (expires_at);

do $$
begin
  execute format('grant all on stowage.tus_uploads to %I, %I', current_setting('storage.service_role'), current_user);
end
$$;
