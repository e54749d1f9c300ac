-- Supabase auth helpers for RLS policies, created only when absent: a Supabase database
-- has its own (owned by supabase_auth_admin) and they must stay untouched. They read the
-- GUCs the server sets per transaction (schema.md §6).
do $$
declare
  _anon  text := current_setting('storage.anon_role');
  _authd text := current_setting('storage.authenticated_role');
  _svc   text := current_setting('storage.service_role');
begin
  -- Catalog lookups rather than CREATE SCHEMA IF NOT EXISTS / to_regprocedure: those
  -- check privileges first and fail for a login that may not touch a Supabase auth schema.
  if not exists (select 1 from pg_namespace where nspname = 'auth') then
    create schema auth;
  end if;

  if not exists (select 1 from pg_proc where pronamespace = 'auth'::regnamespace and proname = 'uid' and pronargs = 0) then
    create function auth.uid() returns uuid
    language sql stable
    as $f$
      select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $f$;
  end if;

  if not exists (select 1 from pg_proc where pronamespace = 'auth'::regnamespace and proname = 'role' and pronargs = 0) then
    create function auth.role() returns text
    language sql stable
    as $f$
      select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
      )::text
    $f$;
  end if;

  if not exists (select 1 from pg_proc where pronamespace = 'auth'::regnamespace and proname = 'jwt' and pronargs = 0) then
    create function auth.jwt() returns jsonb
    language sql stable
    as $f$
      select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
      )::jsonb
    $f$;
  end if;

  -- Grants only where missing, so a Supabase database's auth schema is left as it is.
  if exists (select 1 from pg_roles where rolname = _anon)
     and not has_schema_privilege(_anon, 'auth', 'usage') then
    execute format('grant usage on schema auth to %I, %I, %I', _anon, _authd, _svc);
    execute format('grant execute on function auth.uid(), auth.role(), auth.jwt() to %I, %I, %I', _anon, _authd, _svc);
  end if;
end
$$;
