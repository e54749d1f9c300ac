-- The event outbox. The engine inserts one row per change in the same transaction as the
-- change itself, so an event exists exactly when its change committed: a crash after the
-- commit cannot lose it and a rolled-back change cannot invent one. Dispatchers route each
-- event to the configured targets (one event_deliveries row per target) and deliver them.
-- Only the service role reads or writes these tables: the engine inserts events as the
-- service role (it already runs its commits as that role).
create table if not exists stowage.events (
  id bigint generated always as identity primary key,
  event_id uuid not null unique,        -- idempotency id: the same on every delivery attempt
  type text not null,                   -- the reference's event type (ObjectCreated:Put, ...)
  s3_name text not null default '',     -- S3's event name (ObjectCreated:CompleteMultipartUpload, ...); '' for bucket events
  bucket_id text not null,
  name text collate "C" not null default '',
  version text not null default '',
  size bigint not null default 0,
  etag text not null default '',
  body jsonb not null,                  -- the reference's event object: type, region, $version, applyTime, payload
  routed boolean not null default false,
  created_at timestamptz not null default now()
);
create index if not exists events_unrouted_idx on stowage.events (id) where not routed;
create index if not exists events_created_at_idx on stowage.events (created_at);

-- One delivery of an event to one target. state: pending (next_at is when it is due; a
-- claimed delivery's next_at is its lease), delivered, dead (gave up; re-driven by the CLI).
create table if not exists stowage.event_deliveries (
  event_id bigint not null references stowage.events (id) on delete cascade,
  target text not null,
  okey text collate "C" not null,       -- bucket/name: deliveries of one key go out in event order
  config_id text not null default '',   -- the S3 notification configuration that matched
  state text not null default 'pending' check (state in ('pending', 'delivered', 'dead')),
  attempts int not null default 0,
  next_at timestamptz not null default now(),
  last_error text not null default '',
  delivered_at timestamptz,
  primary key (event_id, target)
);
create index if not exists event_deliveries_due_idx on stowage.event_deliveries (target, next_at) where state = 'pending';
create index if not exists event_deliveries_key_idx on stowage.event_deliveries (target, okey, event_id) where state = 'pending';
create index if not exists event_deliveries_dead_idx on stowage.event_deliveries (event_id) where state = 'dead';

-- S3 bucket notification configurations (PutBucketNotificationConfiguration), as JSON.
create table if not exists stowage.bucket_notifications (
  bucket_id text primary key references storage.buckets (id) on delete cascade,
  config jsonb not null,
  updated_at timestamptz not null default now()
);

do $$
begin
  execute format('grant all on stowage.events, stowage.event_deliveries, stowage.bucket_notifications to %I, %I',
    current_setting('storage.service_role'), current_user);
end
$$;
