-- S3 credentials and JWKs of the tenants, where the reference keeps them in multi-tenant
-- mode: its multitenant migrations 0008/0009 (tenants_s3_credentials, `claims`) and 0016
-- (tenants_jwks), same names, columns, types, indexes, triggers and channels, so a control
-- database the reference migrated is used as it is (IF NOT EXISTS / OR REPLACE throughout;
-- a trigger is created only when missing). secret_key and content hold ENCRYPTION_KEY
-- ciphertexts in the reference's format (gateway/passphrase). The reference's 0016 also
-- drops tenants.jwks; that is not repeated here: the legacy column is still read (as the
-- reference's tenant config reads it, merged with tenants_jwks).
create table if not exists tenants_s3_credentials (
  id uuid primary key default gen_random_uuid(),
  description text not null,
  tenant_id text references tenants(id) on delete cascade,
  access_key text not null,
  secret_key text not null,
  created_at timestamptz not null default now()
);
alter table tenants_s3_credentials add column if not exists claims json not null default '{}';
create index if not exists tenants_s3_credentials_tenant_id_idx on tenants_s3_credentials (tenant_id);
create unique index if not exists tenants_s3_credentials_access_key_idx on tenants_s3_credentials (tenant_id, access_key);

-- Channel tenants_s3_credentials_update, payload "<tenant_id>:<access_key>" as a JSON
-- string (the reference's later fix of its 0008 triggers, which sent the credential id).
create or replace function tenants_s3_credentials_update_notify_trigger()
  returns trigger
  language plpgsql
as $$
begin
  perform pg_notify('tenants_s3_credentials_update', '"' || new.tenant_id || ':' || new.access_key || '"');
  return null;
end;
$$;

create or replace function tenants_s3_credentials_delete_notify_trigger()
  returns trigger
  language plpgsql
as $$
begin
  perform pg_notify('tenants_s3_credentials_update', '"' || old.tenant_id || ':' || old.access_key || '"');
  return null;
end;
$$;

create table if not exists tenants_jwks (
  id uuid primary key default gen_random_uuid(),
  tenant_id text references tenants(id) on delete cascade,
  kind varchar(50) not null,
  content text not null,
  active boolean not null,
  created_at timestamptz not null default now()
);
create index if not exists tenants_jwks_tenant_id_idx on tenants_jwks (tenant_id);
create index if not exists tenants_jwks_active_idx on tenants_jwks (tenant_id, active);
-- Only one active 'storage-url-signing-key' per tenant, as in the reference.
create unique index if not exists tenants_jwks_unique_active_signing_key_idx on tenants_jwks (tenant_id)
  where active = true and kind = 'storage-url-signing-key';

-- Channel tenants_jwks_update, payload the tenant id as a JSON string, as the reference.
create or replace function tenants_jwks_update_notify_trigger()
  returns trigger
  language plpgsql
as $$
begin
  perform pg_notify('tenants_jwks_update', '"' || new.tenant_id || '"');
  return null;
end;
$$;

create or replace function tenants_jwks_delete_notify_trigger()
  returns trigger
  language plpgsql
as $$
begin
  perform pg_notify('tenants_jwks_update', '"' || old.tenant_id || '"');
  return null;
end;
$$;

do $$
begin
  if not exists (select 1 from pg_trigger where tgname = 'tenants_s3_credentials_update_notify_trigger'
                 and tgrelid = 'tenants_s3_credentials'::regclass) then
    create trigger tenants_s3_credentials_update_notify_trigger
      after update on tenants_s3_credentials
      for each row execute procedure tenants_s3_credentials_update_notify_trigger();
  end if;
  if not exists (select 1 from pg_trigger where tgname = 'tenants_s3_credentials_delete_notify_trigger'
                 and tgrelid = 'tenants_s3_credentials'::regclass) then
    create trigger tenants_s3_credentials_delete_notify_trigger
      after delete on tenants_s3_credentials
      for each row execute procedure tenants_s3_credentials_delete_notify_trigger();
  end if;
  -- Stowage's addition (same channel and payload): a gateway that cached an access key's
  -- absence hears of its creation. A reference gateway ignores it harmlessly.
  if not exists (select 1 from pg_trigger where tgname = 'tenants_s3_credentials_insert_notify_trigger'
                 and tgrelid = 'tenants_s3_credentials'::regclass) then
    create trigger tenants_s3_credentials_insert_notify_trigger
      after insert on tenants_s3_credentials
      for each row execute procedure tenants_s3_credentials_update_notify_trigger();
  end if;
  if not exists (select 1 from pg_trigger where tgname = 'tenants_jwks_insert_notify_trigger'
                 and tgrelid = 'tenants_jwks'::regclass) then
    create trigger tenants_jwks_insert_notify_trigger
      after insert on tenants_jwks
      for each row execute procedure tenants_jwks_update_notify_trigger();
  end if;
  if not exists (select 1 from pg_trigger where tgname = 'tenants_jwks_update_notify_trigger'
                 and tgrelid = 'tenants_jwks'::regclass) then
    create trigger tenants_jwks_update_notify_trigger
      after update on tenants_jwks
      for each row execute procedure tenants_jwks_update_notify_trigger();
  end if;
  if not exists (select 1 from pg_trigger where tgname = 'tenants_jwks_delete_notify_trigger'
                 and tgrelid = 'tenants_jwks'::regclass) then
    create trigger tenants_jwks_delete_notify_trigger
      after delete on tenants_jwks
      for each row execute procedure tenants_jwks_delete_notify_trigger();
  end if;
end
$$;
