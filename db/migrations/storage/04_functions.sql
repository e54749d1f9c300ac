-- Functions (schema.md §4). All SECURITY INVOKER: the caller's RLS applies. Bodies use
-- schema-qualified names so they work whatever the caller's search_path.

-- CREATE OR REPLACE cannot change a function's parameter names or result columns, and an
-- older overload with fewer parameters would make calls that rely on defaults
-- ambiguous. So overloads of these names that differ from the final signature are
-- dropped first; ones that match are replaced in place, keeping the policies that call
-- them. (No cascade: if something depends on an outdated overload, fail loudly.)
do $$
declare
  _f record;
begin
  for _f in
    select p.oid::regprocedure as sig,
           p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' as args,
           pg_get_function_result(p.oid) as result
    from pg_proc p
    join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'storage'
      and p.proname in (
        'get_size_by_bucket', 'can_insert_object', 'operation', 'allow_only_operation',
        'allow_any_operation', 'get_common_prefix', 'list_objects_with_delimiter',
        'search_v2', 'search_by_timestamp', 'search', 'list_multipart_uploads_with_delimiter')
  loop
    if (_f.args, _f.result) not in (
      ('get_size_by_bucket()', 'TABLE(size bigint, bucket_id text)'),
      ('can_insert_object(bucketid text, name text, owner uuid, metadata jsonb)', 'void'),
      ('operation()', 'text'),
      ('allow_only_operation(expected_operation text)', 'boolean'),
      ('allow_any_operation(expected_operations text[])', 'boolean'),
      ('get_common_prefix(p_key text, p_prefix text, p_delimiter text)', 'text'),
      ('list_objects_with_delimiter(_bucket_id text, prefix_param text, delimiter_param text, max_keys integer, start_after text, next_token text, sort_order text)',
       'TABLE(name text, id uuid, metadata jsonb, updated_at timestamp with time zone, created_at timestamp with time zone, last_accessed_at timestamp with time zone)'),
      ('search_v2(prefix text, bucket_name text, limits integer, levels integer, start_after text, sort_order text, sort_column text, sort_column_after text)',
       'TABLE(key text, name text, id uuid, updated_at timestamp with time zone, created_at timestamp with time zone, last_accessed_at timestamp with time zone, metadata jsonb)'),
      ('search_by_timestamp(p_prefix text, p_bucket_id text, p_limit integer, p_level integer, p_start_after text, p_sort_order text, p_sort_column text, p_sort_column_after text)',
       'TABLE(key text, name text, id uuid, updated_at timestamp with time zone, created_at timestamp with time zone, last_accessed_at timestamp with time zone, metadata jsonb)'),
      ('search(prefix text, bucketname text, limits integer, levels integer, offsets integer, search text, sortcolumn text, sortorder text)',
       'TABLE(name text, id uuid, updated_at timestamp with time zone, created_at timestamp with time zone, last_accessed_at timestamp with time zone, metadata jsonb)'),
      ('list_multipart_uploads_with_delimiter(bucket_id text, prefix_param text, delimiter_param text, max_keys integer, next_key_token text, next_upload_token text)',
       'TABLE(key text, id text, created_at timestamp with time zone)')
    ) then
      execute format('drop function %s', _f.sig);
    end if;
  end loop;
end
$$;

-- foldername('a/b/c.png') = {a,b}; foldername('c.png') = {}. Policies index it:
-- (storage.foldername(name))[1] = auth.uid()::text.
create or replace function storage.foldername(name text) returns text[]
language sql immutable
as $$
  select (string_to_array(name, '/'))[1 : cardinality(string_to_array(name, '/')) - 1]
$$;

-- filename('a/b/c.png') = 'c.png'.
create or replace function storage.filename(name text) returns text
language sql immutable
as $$
  select (string_to_array(name, '/'))[cardinality(string_to_array(name, '/'))]
$$;

-- extension('a/b.tar.gz') = 'gz'; without a dot, the whole file name.
create or replace function storage.extension(name text) returns text
language sql immutable
as $$
  select reverse(split_part(reverse(storage.filename(name)), '.', 1))
$$;

create or replace function storage.get_size_by_bucket()
returns table (size bigint, bucket_id text)
language sql stable
as $$
  select sum((o.metadata ->> 'size')::bigint)::bigint, o.bucket_id
  from storage.objects o
  group by o.bucket_id
$$;

-- Legacy permission probe: the insert makes RLS INSERT policies decide, the raise undoes it.
create or replace function storage.can_insert_object(bucketid text, name text, owner uuid, metadata jsonb)
returns void
language plpgsql
as $$
begin
  insert into storage.objects (bucket_id, name, owner, metadata) values (bucketid, name, owner, metadata);
  raise sqlstate 'PT200' using message = 'ROLLBACK', detail = 'rollback successful insert';
end
$$;

create or replace function storage.operation() returns text
language sql stable
as $$
  select current_setting('storage.operation', true)
$$;

create or replace function storage.allow_only_operation(expected_operation text) returns boolean
language sql stable
as $$
  select coalesce(expected_operation, '') <> ''
     and regexp_replace(coalesce(storage.operation(), ''), '^storage\.', '')
       = regexp_replace(expected_operation, '^storage\.', '')
$$;

create or replace function storage.allow_any_operation(expected_operations text[]) returns boolean
language sql stable
as $$
  select exists (
    select 1
    from unnest(expected_operations) as e(op)
    where coalesce(e.op, '') <> ''
      and regexp_replace(coalesce(storage.operation(), ''), '^storage\.', '')
        = regexp_replace(e.op, '^storage\.', '')
  )
$$;

-- The key up to and including the first delimiter after the prefix, or null.
create or replace function storage.get_common_prefix(p_key text, p_prefix text, p_delimiter text) returns text
language sql immutable
as $$
  select case
    when coalesce(p_delimiter, '') = '' then null
    when position(p_delimiter in substr(p_key, length(p_prefix) + 1)) > 0 then
      left(p_key, length(p_prefix) + position(p_delimiter in substr(p_key, length(p_prefix) + 1)) + length(p_delimiter) - 1)
  end
$$;

-- S3-style delimiter walk in byte order. Runs of plain objects are read in one scan;
-- each folder is emitted once and the scan re-seeks past it, so a folder holding a
-- million keys costs one index probe. Bounds are kept inclusive ("> s" is ">= s||chr(1)"
-- in "C" order) and "past folder f/" is ">= f0" (the delimiter's last character + 1).
create or replace function storage.list_objects_with_delimiter(
  _bucket_id text,
  prefix_param text,
  delimiter_param text,
  max_keys integer default 100,
  start_after text default '',
  next_token text default '',
  sort_order text default 'asc')
returns table (name text, id uuid, metadata jsonb, updated_at timestamptz, created_at timestamptz, last_accessed_at timestamptz)
language plpgsql stable
as $$
declare
  _prefix text := coalesce(prefix_param, '');
  _delim  text := coalesce(delimiter_param, '');
  _asc    boolean := lower(coalesce(sort_order, 'asc')) <> 'desc';
  _start  text := coalesce(nullif(next_token, ''), nullif(start_after, ''));
  _end    text;           -- keys < _end are under the prefix (null: no bound)
  _lo     text := _prefix; -- asc: next key >= _lo
  _hi     text;           -- desc: next key < _hi (null: no bound)
  _skip   text;           -- asc: the folder named by the start value
  _common text;
  _count  integer := 0;
  _reseek boolean;
  _rec    record;
begin
  if coalesce(max_keys, 0) <= 0 then
    return;
  end if;
  if _prefix <> '' then
    _end := left(_prefix, -1) || chr(ascii(right(_prefix, 1)) + 1);
  end if;

  if _start is not null then
    if _asc then
      if _start || chr(1) collate "C" > _lo collate "C" then
        _lo := _start || chr(1);
      end if;
      -- A start value naming a folder of this level (with or without the trailing
      -- delimiter, as pages end on folder names) skips the whole folder.
      if _delim <> '' then
        _skip := case when right(_start, length(_delim)) = _delim then _start else _start || _delim end;
        if storage.get_common_prefix(_skip, _prefix, _delim) is distinct from _skip then
          _skip := null;
        end if;
      end if;
    else
      _hi := _start; -- keys of a folder named by _start all sort after it
    end if;
  end if;

  loop
    _reseek := false;
    for _rec in execute format($q$
      select o.name, o.id, o.metadata, o.updated_at, o.created_at, o.last_accessed_at
      from storage.objects o
      where o.bucket_id = $1
        and o.name collate "C" >= $2
        and ($3::text is null or o.name collate "C" < $3)
        and %s
      order by o.name collate "C" %s
      limit $6
    $q$,
      case when _asc then 'o.name collate "C" >= $4' else '($5::text is null or o.name collate "C" < $5)' end,
      case when _asc then 'asc' else 'desc' end)
    using _bucket_id, _prefix, _end, _lo, _hi, max_keys - _count
    loop
      _common := storage.get_common_prefix(_rec.name, _prefix, _delim);
      if _common is not null and _common = _skip then
        _lo := left(_common, -1) || chr(ascii(right(_common, 1)) + 1);
        _reseek := true;
        exit;
      elsif _common is not null then
        name := left(_common, -length(_delim));
        id := null; metadata := null; updated_at := null; created_at := null; last_accessed_at := null;
        return next;
        _count := _count + 1;
        _lo := left(_common, -1) || chr(ascii(right(_common, 1)) + 1);
        _hi := _common;
        _reseek := true;
        exit;
      end if;
      name := _rec.name; id := _rec.id; metadata := _rec.metadata;
      updated_at := _rec.updated_at; created_at := _rec.created_at; last_accessed_at := _rec.last_accessed_at;
      return next;
      _count := _count + 1;
    end loop;
    exit when not _reseek or _count >= max_keys;
  end loop;
end
$$;

-- Timestamp-sorted one-level listing for search_v2: folders carry the earliest
-- created_at of their contents in both timestamp columns. The prefix is matched
-- literally (starts_with), never as a LIKE pattern: keys may hold % and _.
create or replace function storage.search_by_timestamp(
  p_prefix text,
  p_bucket_id text,
  p_limit integer,
  p_level integer,
  p_start_after text,
  p_sort_order text,
  p_sort_column text,
  p_sort_column_after text)
returns table (key text, name text, id uuid, updated_at timestamptz, created_at timestamptz, last_accessed_at timestamptz, metadata jsonb)
language plpgsql stable
as $$
declare
  _col    text := case when p_sort_column = 'created_at' then 'created_at' else 'updated_at' end;
  _desc   boolean := lower(coalesce(p_sort_order, 'asc')) = 'desc';
  _paged  boolean := coalesce(p_start_after, '') <> '' or coalesce(p_sort_column_after, '') <> '';
  _after  timestamptz := coalesce(nullif(p_sort_column_after, '')::timestamptz, 'epoch'::timestamptz);
begin
  return query execute format($q$
    with under as (
      select o.name, o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata,
             substr(o.name, length($1) + 1) as rest
      from storage.objects o
      where o.bucket_id = $2 and o.name collate "C" >= $1 and starts_with(o.name, $1)
    ), entries as (
      select left(u.name, length($1) + position('/' in u.rest) - 1) as name,
             null::uuid as id, min(u.created_at) as updated_at, min(u.created_at) as created_at,
             null::timestamptz as last_accessed_at, null::jsonb as metadata
      from under u
      where position('/' in u.rest) > 0
      group by 1
      union all
      select u.name, u.id, u.updated_at, u.created_at, u.last_accessed_at, u.metadata
      from under u
      where position('/' in u.rest) = 0
    )
    select split_part(e.name, '/', $3), e.name, e.id, e.updated_at, e.created_at, e.last_accessed_at, e.metadata
    from entries e
    where not $4 or (date_trunc('milliseconds', e.%1$I), e.name collate "C") %2$s ($5, $6 collate "C")
    order by date_trunc('milliseconds', e.%1$I) %3$s, e.name collate "C" %3$s
    limit $7
  $q$, _col, case when _desc then '<' else '>' end, case when _desc then 'desc' else 'asc' end)
  using coalesce(p_prefix, ''), p_bucket_id, p_level, _paged, _after, coalesce(p_start_after, ''), p_limit;
end
$$;

create or replace function storage.search_v2(
  prefix text,
  bucket_name text,
  limits integer default 100,
  levels integer default 1,
  start_after text default '',
  sort_order text default 'asc',
  sort_column text default 'name',
  sort_column_after text default '')
returns table (key text, name text, id uuid, updated_at timestamptz, created_at timestamptz, last_accessed_at timestamptz, metadata jsonb)
language plpgsql stable
as $$
declare
  _limit  integer := least(coalesce(limits, 100), 1500);
  _order  text := case when lower(coalesce(sort_order, 'asc')) = 'desc' then 'desc' else 'asc' end;
  _column text := case when lower(coalesce(sort_column, 'name')) in ('updated_at', 'created_at') then lower(sort_column) else 'name' end;
begin
  if _column = 'name' then
    return query
      select split_part(l.name, '/', levels), l.name, l.id, l.updated_at, l.created_at, l.last_accessed_at, l.metadata
      from storage.list_objects_with_delimiter(bucket_name, prefix, '/', _limit, start_after, '', _order) l;
  else
    return query
      select * from storage.search_by_timestamp(prefix, bucket_name, _limit, levels, start_after, _order, _column, sort_column_after);
  end if;
end
$$;

-- Legacy one-level folder view for REST list v1 (rest-api.md §5.1). Names are relative
-- to prefix; sub-folders appear once, without trailing '/', with null id and times.
create or replace function storage.search(
  prefix text,
  bucketname text,
  limits integer default 100,
  levels integer default 1,
  offsets integer default 0,
  search text default '',
  sortcolumn text default 'name',
  sortorder text default 'asc')
returns table (name text, id uuid, updated_at timestamptz, created_at timestamptz, last_accessed_at timestamptz, metadata jsonb)
language plpgsql stable
as $$
declare
  _prefix text := coalesce(prefix, '');
  _limit  integer := least(coalesce(limits, 100), 1500);
  _offset integer := greatest(coalesce(offsets, 0), 0);
  _dir    text := case when lower(coalesce(sortorder, 'asc')) = 'desc' then 'desc' else 'asc' end;
  _col    text := case when lower(coalesce(sortcolumn, 'name')) in ('updated_at', 'created_at', 'last_accessed_at') then lower(sortcolumn) else 'name' end;
  _lo     text := lower(_prefix || coalesce(search, ''));
  _hi     text;
  _like   text;
begin
  if _col = 'name' then
    -- range scan on lower(name) (index idx_objects_bucket_id_name_lower)
    if _lo <> '' then
      _hi := left(_lo, -1) || chr(ascii(right(_lo, 1)) + 1);
    end if;
    return query execute format($q$
      with matched as (
        select o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata,
               substr(o.name, length($1) + 1) as rel
        from storage.objects o
        where o.bucket_id = $2
          and lower(o.name) collate "C" >= $3
          and ($4::text is null or lower(o.name) collate "C" < $4)
      ), entries as (
        select distinct split_part(m.rel, '/', 1) as name, null::uuid as id, null::timestamptz as updated_at,
               null::timestamptz as created_at, null::timestamptz as last_accessed_at, null::jsonb as metadata
        from matched m
        where position('/' in m.rel) > 0
        union all
        select m.rel, m.id, m.updated_at, m.created_at, m.last_accessed_at, m.metadata
        from matched m
        where position('/' in m.rel) = 0
      )
      select e.name, e.id, e.updated_at, e.created_at, e.last_accessed_at, e.metadata
      from entries e
      order by lower(e.name) collate "C" %1$s, e.name collate "C" %1$s
      offset $5 limit $6
    $q$, _dir) using _prefix, bucketname, _lo, _hi, _offset, _limit;
  else
    -- %, _ and \ in prefix and search match literally in this mode
    _like := replace(replace(replace(_prefix || coalesce(search, ''), '\', '\\'), '%', '\%'), '_', '\_') || '%';
    return query execute format($q$
      with matched as (
        select o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata,
               substr(o.name, length($1) + 1) as rel
        from storage.objects o
        where o.bucket_id = $2 and o.name ilike $3
      ), entries as (
        select distinct 0 as grp, split_part(m.rel, '/', 1) as name, null::uuid as id, null::timestamptz as updated_at,
               null::timestamptz as created_at, null::timestamptz as last_accessed_at, null::jsonb as metadata
        from matched m
        where position('/' in m.rel) > 0
        union all
        select 1, m.rel, m.id, m.updated_at, m.created_at, m.last_accessed_at, m.metadata
        from matched m
        where position('/' in m.rel) = 0
      )
      select e.name, e.id, e.updated_at, e.created_at, e.last_accessed_at, e.metadata
      from entries e
      order by e.grp,
        case when e.grp = 0 then lower(e.name) end collate "C" %1$s,
        e.%2$I %1$s,
        e.name collate "C" %1$s
      offset $4 limit $5
    $q$, _dir, _col) using _prefix, bucketname, _like, _offset, _limit;
  end if;
end
$$;

-- S3 ListMultipartUploads. Keys with the delimiter after the prefix collapse to one row
-- per common prefix (carrying its earliest upload); other keys list every upload, as S3
-- does. Pagination follows S3's key-marker / upload-id-marker pair.
create or replace function storage.list_multipart_uploads_with_delimiter(
  bucket_id text,
  prefix_param text,
  delimiter_param text,
  max_keys integer default 100,
  next_key_token text default '',
  next_upload_token text default '')
returns table (key text, id text, created_at timestamptz)
language plpgsql stable
as $$
declare
  _bucket text := bucket_id;
  _prefix text := coalesce(prefix_param, '');
  _key    text := coalesce(next_key_token, '');
  _upload text := coalesce(next_upload_token, '');
begin
  return query
    with src as (
      select coalesce(storage.get_common_prefix(u.key, _prefix, delimiter_param), u.key) as k,
             storage.get_common_prefix(u.key, _prefix, delimiter_param) is not null as collapsed,
             u.id as upload_id, u.created_at as started
      from storage.s3_multipart_uploads u
      where u.bucket_id = _bucket
        and u.key ilike replace(replace(replace(_prefix, '\', '\\'), '%', '\%'), '_', '\_') || '%'
    ), entries as (
      (select distinct on (s.k collate "C") s.k, s.upload_id, s.started
       from src s
       where s.collapsed
       order by s.k collate "C", s.started, s.upload_id)
      union all
      select s.k, s.upload_id, s.started from src s where not s.collapsed
    )
    select e.k::text, e.upload_id, e.started
    from entries e
    where case
      when _key <> '' and _upload <> '' then
        e.k collate "C" > _key or (e.k = _key and e.upload_id collate "C" > _upload)
      when _key <> '' then e.k collate "C" > _key
      when _upload <> '' then e.upload_id collate "C" > _upload
      else true
    end
    order by e.k collate "C", e.started, e.upload_id collate "C"
    limit max_keys;
end
$$;

create or replace function storage.enforce_bucket_name_length() returns trigger
language plpgsql
as $$
begin
  if length(new.name) > 100 then
    raise exception 'bucket name "%" is too long (% characters). Max is 100.', new.name, length(new.name);
  end if;
  return new;
end
$$;

-- Statement-level guard on buckets and objects: the API sets storage.allow_delete_query
-- in each of its transactions; a DELETE from anywhere else would orphan stored bytes.
create or replace function storage.protect_delete() returns trigger
language plpgsql
as $$
begin
  if coalesce(current_setting('storage.allow_delete_query', true), '') <> 'true' then
    raise exception 'Direct deletion from storage tables is not allowed. Use the Storage API instead.'
      using errcode = '42501',
            hint = 'This prevents accidental data loss from orphaned objects.';
  end if;
  return null;
end
$$;

create or replace function storage.update_updated_at_column() returns trigger
language plpgsql
as $$
begin
  new.updated_at = now();
  return new;
end
$$;
