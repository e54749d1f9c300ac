-- Progress of the fleet migration job (admin POST /migrations/migrate/fleet): one row per
-- job; `cursor_id` is the last tenant (tenants.cursor_id) the job finished, so a job
-- interrupted by a restart resumes after it. A Stowage table: the reference keeps this in
-- its queue (pg-boss), which Stowage does not run.
create table if not exists stowage_fleet_migrations (
  id bigserial primary key,
  kind text not null default 'migrate',
  status text not null default 'running',
  target_version text not null,
  cursor_id integer not null default 0,
  migrated integer not null default 0,
  failed integer not null default 0,
  error text null,
  started_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz null
);
-- At most one running job per control database.
create unique index if not exists stowage_fleet_migrations_running_idx
  on stowage_fleet_migrations ((true)) where status = 'running';
