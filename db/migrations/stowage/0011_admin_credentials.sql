-- What the admin API manages for a single-tenant Stowage: S3 credentials with stored claims
-- and the tenant's extra JWKs. The columns are the reference's control-database tables
-- (multitenant migrations 0008/0009 tenants_s3_credentials with `claims`, 0016
-- tenants_jwks), so the same queries serve a multi-tenant control database; tenant_id is
-- TENANT_ID here and no tenants table exists. Secrets (secret_key, content) are encrypted
-- with ENCRYPTION_KEY in the reference's format. Only the service role reaches the schema.
create table if not exists stowage.tenants_s3_credentials (
  id uuid primary key default gen_random_uuid(),
  description text not null,
  tenant_id text not null,
  access_key text not null,
  secret_key text not null,
  claims json not null default '{}',
  created_at timestamptz not null default now()
);
create index if not exists tenants_s3_credentials_tenant_id_idx on stowage.tenants_s3_credentials (tenant_id);
create unique index if not exists tenants_s3_credentials_access_key_idx on stowage.tenants_s3_credentials (tenant_id, access_key);

create table if not exists stowage.tenants_jwks (
  id uuid primary key default gen_random_uuid(),
  tenant_id text not null,
  kind varchar(50) not null,
  content text not null,
  active boolean not null,
  created_at timestamptz not null default now()
);
create index if not exists tenants_jwks_tenant_id_idx on stowage.tenants_jwks (tenant_id);
create index if not exists tenants_jwks_active_idx on stowage.tenants_jwks (tenant_id, active);
-- Only one active 'storage-url-signing-key' per tenant, as in the reference.
create unique index if not exists tenants_jwks_unique_active_signing_key_idx on stowage.tenants_jwks (tenant_id)
  where active = true and kind = 'storage-url-signing-key';

do $$
begin
  execute format('grant all on stowage.tenants_s3_credentials, stowage.tenants_jwks to %I, %I',
    current_setting('storage.service_role'), current_user);
end
$$;
