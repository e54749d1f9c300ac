-- The tag set of a bucket (S3 PutBucketTagging). The reference's buckets table has no column
-- for it. Only the service role reads or writes this table: the engine first checks, in the
-- caller's own RLS scope, that the caller may see (read) or update (write) the bucket. Rows
-- go with their bucket by cascade.
create table if not exists stowage.bucket_tags (
  bucket_id text primary key references storage.buckets (id) on delete cascade,
  tags jsonb not null,                 -- [{"key": ..., "value": ...}] in the order given
  updated_at timestamptz not null default now()
);

do $$
begin
  execute format('grant all on stowage.bucket_tags to %I, %I', current_setting('storage.service_role'), current_user);
end
$$;
