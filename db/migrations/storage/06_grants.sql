-- Grants and row level security (schema.md §5.2, §5.3). Role names come from the
-- session settings Migrate sets, like the reference's DB_*_ROLE variables.
do $$
declare
  _anon  text := quote_ident(current_setting('storage.anon_role'));
  _authd text := quote_ident(current_setting('storage.authenticated_role'));
  _svc   text := quote_ident(current_setting('storage.service_role'));
  _super text := quote_ident(current_setting('storage.super_user'));
  _api   text;
  _admin text;   -- the super user, and postgres when that role exists
  _t     text;
begin
  _api := format('%s, %s, %s', _anon, _authd, _svc);
  _admin := _super;
  if _super <> 'postgres' and exists (select 1 from pg_roles where rolname = 'postgres') then
    _admin := _admin || ', postgres';
  end if;

  execute format('grant usage on schema storage to %s, %s', _api, _admin);
  execute format('grant all on schema storage to %s', _super);

  -- Tables created later by the migrating user (and its functions, sequences).
  execute format('alter default privileges in schema storage grant all on tables to %s, %s', _api, _admin);
  execute format('alter default privileges in schema storage grant all on functions to %s, %s', _api, _admin);
  execute format('alter default privileges in schema storage grant all on sequences to %s, %s', _api, _admin);

  execute format('grant all on storage.buckets, storage.objects to %s', _api);
  execute format('grant all on storage.buckets, storage.objects to %s with grant option', _admin);

  -- Upload and catalog bookkeeping: only the service role writes it.
  foreach _t in array array['s3_multipart_uploads', 's3_multipart_uploads_parts', 'iceberg_namespaces', 'iceberg_tables'] loop
    execute format('revoke all on storage.%I from %s, %s', _t, _anon, _authd);
    execute format('grant select on storage.%I to %s, %s', _t, _anon, _authd);
    execute format('grant all on storage.%I to %s', _t, _svc);
  end loop;

  execute format('grant all on storage.buckets_analytics to %s', _api);
  execute format('grant all on storage.buckets_vectors, storage.vector_indexes to %s', _api);

  execute format('grant execute on all functions in schema storage to %s, %s', _api, _admin);

  foreach _t in array array['migrations', 'buckets', 'objects', 's3_multipart_uploads',
      's3_multipart_uploads_parts', 'buckets_analytics', 'iceberg_namespaces',
      'iceberg_tables', 'buckets_vectors', 'vector_indexes'] loop
    execute format('alter table storage.%I enable row level security', _t);
  end loop;
end
$$;
