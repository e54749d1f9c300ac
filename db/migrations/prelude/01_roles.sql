-- API roles (schema.md §5.1), created only when missing. Runs only with
-- storage.install_roles = 'true'. Roles are shared by every database of the cluster, so
-- two databases may be migrated at once: losing a creation race is fine.
do $$
declare
  _anon  text := current_setting('storage.anon_role');
  _authd text := current_setting('storage.authenticated_role');
  _svc   text := current_setting('storage.service_role');
  _super text := current_setting('storage.super_user');
  _r     text;
begin
  foreach _r in array array[_anon, _authd] loop
    if not exists (select 1 from pg_roles where rolname = _r) then
      begin
        execute format('create role %I nologin noinherit', _r);
      exception when duplicate_object or unique_violation then null;
      end;
    end if;
  end loop;

  if not exists (select 1 from pg_roles where rolname = _svc) then
    begin
      execute format('create role %I nologin noinherit bypassrls', _svc);
    exception when duplicate_object or unique_violation then null;
    end;
  end if;

  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    begin
      create role authenticator login noinherit;
    exception when duplicate_object or unique_violation then null;
    end;
  end if;

  if not exists (select 1 from pg_roles where rolname = _super) then
    begin
      execute format('create role %I login createrole noinherit noreplication', _super);
    exception when duplicate_object or unique_violation then null;
    end;
  end if;

  -- authenticator switches to the API roles like PostgREST's; the connecting user needs
  -- the same to SET ROLE per request when it is not a superuser.
  foreach _r in array array[_anon, _authd, _svc] loop
    if not pg_has_role('authenticator', _r, 'member') then
      execute format('grant %I to authenticator', _r);
    end if;
    if not pg_has_role(current_user, _r, 'member') then
      execute format('grant %I to %I', _r, current_user);
    end if;
  end loop;
end
$$;
