-- Blob keys the engine is about to write ('write') or has unlinked from their row and
-- must remove ('delete'). A key whose intent outlives expires_at is a leftover of a
-- crash or a lost race; the sweeper deletes its bytes and then the intent.
create table if not exists stowage.blob_intents (
  key text primary key,
  kind text not null check (kind in ('write', 'delete')),
  expires_at timestamptz not null,
  created_at timestamptz not null default now()
);
create index if not exists blob_intents_expires_at_idx on stowage.blob_intents (expires_at);

do $$
begin
  execute format('grant usage on schema stowage to %I', current_setting('storage.service_role'));
  execute format('grant all on stowage.blob_intents to %I, %I', current_setting('storage.service_role'), current_user);
end
$$;
