-- Schema, bookkeeping table and enum type (schema.md §1.1, §2). Every statement here and in
-- the following files is safe on a schema built by any earlier reference migration.
do $$
begin
  -- not CREATE SCHEMA IF NOT EXISTS: it needs CREATE on the database even when the
  -- schema exists, which a Supabase storage login may lack
  if not exists (select 1 from pg_namespace where nspname = 'storage') then
    create schema storage;
  end if;
end
$$;

create table if not exists storage.migrations (
  id integer primary key,
  name varchar(100) unique not null,
  hash varchar(40) not null,
  executed_at timestamp default current_timestamp
);

do $$
begin
  if to_regtype('storage.buckettype') is null then
    create type storage.buckettype as enum ('STANDARD', 'ANALYTICS', 'VECTOR');
  end if;
end
$$;

-- Databases migrated before vector buckets lack the last value. A value added in a
-- transaction cannot be used in it, hence this file ends before tables use the type.
alter type storage.buckettype add value if not exists 'STANDARD';
alter type storage.buckettype add value if not exists 'ANALYTICS';
alter type storage.buckettype add value if not exists 'VECTOR';
