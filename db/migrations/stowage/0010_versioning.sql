-- Object versioning (S3 PutBucketVersioning) in Stowage's own schema: storage.objects keeps
-- exactly one row per live key (the latest version), so RLS policies, the reference's SQL
-- functions, the dashboard and a reference server sharing the database see what they see
-- today. See docs/versioning.md.
--
-- bucket_versioning: a bucket's versioning state. No row: never versioned (S3 answers no
-- Status), and every write behaves exactly as before versioning existed.
create table if not exists stowage.bucket_versioning (
  bucket_id text primary key references storage.buckets (id) on delete cascade,
  status text not null check (status in ('Enabled', 'Suspended')),
  updated_at timestamptz not null default now()
);

-- current_versions: the S3 version id of a current row written while versioning was
-- Enabled. A storage.objects row whose version (blob version) matches the row here has
-- that version id; any other current row (written before versioning, while Suspended, or
-- by a reference server) is S3's "null" version.
create table if not exists stowage.current_versions (
  bucket_id text not null references storage.buckets (id) on delete cascade,
  name text not null,
  version text not null,
  primary key (bucket_id, name)
);

-- object_versions: non-current versions and delete markers. A version keeps the columns
-- its storage.objects row had; its bytes stay under its own store key
-- (<tenant>/<bucket>/<name>/<blob_version>). seq orders the versions of one key: a higher
-- seq is newer. The latest version of a key is its storage.objects row when there is one,
-- otherwise the row here with the highest seq (then a delete marker).
-- No cascade from buckets: a bucket with versions is not empty (S3 BucketNotEmpty).
create table if not exists stowage.object_versions (
  seq bigint generated always as identity primary key,
  bucket_id text not null references storage.buckets (id),
  name text not null,
  version_id text not null,           -- S3's version id: the blob version, or 'null'
  blob_version text,                  -- null for a delete marker
  delete_marker boolean not null default false,
  owner text,
  owner_id text,
  metadata jsonb,
  user_metadata jsonb,
  created_at timestamptz not null default now(),
  last_modified timestamptz not null default now(),
  noncurrent_since timestamptz not null default now(),
  unique (bucket_id, name, version_id)
);
create index if not exists object_versions_name_idx on stowage.object_versions (bucket_id, (name collate "C"), seq desc);

do $$
begin
  execute format('grant all on stowage.bucket_versioning, stowage.current_versions, stowage.object_versions to %I, %I',
    current_setting('storage.service_role'), current_user);
end
$$;

-- bucket_lifecycle: a bucket's lifecycle rules (S3 PutBucketLifecycleConfiguration) as
-- the engine's JSON. lease_until/lease_owner: the gateway sweeping this bucket right now
-- holds a lease (one node works a bucket at a time); an expired lease (a crashed node) is
-- taken over by the next sweep.
create table if not exists stowage.bucket_lifecycle (
  bucket_id text primary key references storage.buckets (id) on delete cascade,
  rules jsonb not null,
  updated_at timestamptz not null default now(),
  lease_owner text,
  lease_until timestamptz
);

do $$
begin
  execute format('grant all on stowage.bucket_lifecycle to %I, %I', current_setting('storage.service_role'), current_user);
end
$$;
