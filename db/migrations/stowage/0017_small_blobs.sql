-- The bytes of small objects, kept in Postgres instead of a file each (gateway/inline,
-- docs/engine.md "Small objects in Postgres"). A file per object costs a small upload two or
-- three synchronous flushes of the file system (the file, its folder, a new folder's parent);
-- a row here costs a share of the WAL flush that the object's own row commits with anyway.
-- key is the blob key the engine chose (<tenant>/<bucket>/<name>/<version>), as for every
-- store; which rows are live is decided by storage.objects and stowage.object_versions, as
-- for files, and removal goes through the same intents.
-- toast_tuple_target keeps a row of up to ~8 KB whole in its heap page, and storage external
-- stores a larger one out of line without trying to compress it (object bytes are mostly
-- compressed already; pglz would spend CPU to find that out).
create table if not exists stowage.small_blobs (
  key text collate "C" primary key,
  data bytea not null,
  created_at timestamptz not null default now()
) with (toast_tuple_target = 8160);
alter table stowage.small_blobs alter column data set storage external;

do $$
begin
  execute format('grant all on stowage.small_blobs to %I, %I',
    current_setting('storage.service_role'), current_user);
end
$$;
