-- The control database of multi-tenant mode: the reference's `tenants` table (its
-- multitenant migrations 0001-0015 folded into one, columns and types as the reference
-- leaves them, as far as Stowage reads them). Every statement is safe on a control database
-- the reference already migrated: IF NOT EXISTS everywhere, so Stowage adopts it as it is.
-- Secrets (anon_key, database_url, database_pool_url, jwt_secret, service_key) hold
-- ENCRYPTION_KEY ciphertexts in the reference's format (gateway/passphrase).
create table if not exists tenants (
  id text primary key,
  anon_key text not null,
  database_url text not null,
  jwt_secret text not null,
  service_key text not null
);
alter table tenants add column if not exists file_size_limit bigint not null default 52428800;
alter table tenants add column if not exists jwks jsonb null;
alter table tenants add column if not exists feature_image_transformation boolean not null default false;
alter table tenants add column if not exists database_pool_url text null;
alter table tenants add column if not exists max_connections integer null;
alter table tenants add column if not exists cursor_id serial;
alter table tenants add column if not exists created_at timestamp default current_timestamp;
alter table tenants add column if not exists migrations_version text null default null;
alter table tenants add column if not exists migrations_status text null default null;
alter table tenants add column if not exists tracing_mode text null default null;
alter table tenants add column if not exists feature_s3_protocol boolean not null default true;
alter table tenants add column if not exists image_transformation_max_resolution integer null;
alter table tenants add column if not exists feature_purge_cache boolean not null default false;
alter table tenants add column if not exists disable_events text[] null;
alter table tenants add column if not exists migrations_feature_flags text[] null;
create index if not exists tenants_migration_version_idx on tenants (cursor_id, migrations_version);

-- The reference's change notification: channel tenants_update, payload the tenant id as a
-- JSON string ("<id>"). The reference fires it after UPDATE only; Stowage also fires it
-- after INSERT and DELETE (same channel, same payload), so a gateway that cached a
-- tenant's absence, or a deleted tenant, hears of it too.
create or replace function tenants_update_notify_trigger()
  returns trigger
  language plpgsql
as $$
begin
  perform pg_notify('tenants_update', '"' || coalesce(new.id, old.id) || '"');
  return null;
end;
$$;

do $$
begin
  if not exists (select 1 from pg_trigger where tgname = 'tenants_update_notify_trigger'
                 and tgrelid = 'tenants'::regclass) then
    create trigger tenants_update_notify_trigger
      after update on tenants
      for each row execute procedure tenants_update_notify_trigger();
  end if;
  if not exists (select 1 from pg_trigger where tgname = 'tenants_insert_delete_notify_trigger'
                 and tgrelid = 'tenants'::regclass) then
    create trigger tenants_insert_delete_notify_trigger
      after insert or delete on tenants
      for each row execute procedure tenants_update_notify_trigger();
  end if;
end
$$;
