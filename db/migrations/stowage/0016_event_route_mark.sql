-- Routing by a high-water mark instead of a flag on every event. Marking each routed event
-- (`routed = true`) rewrote its row and its index entries once more per event (the update
-- could not be HOT: the partial index `where not routed` changed). Now the router keeps one
-- row: every event up to routed_to is routed. A lower id can commit after a higher one (ids
-- are taken when the row is inserted), so writers hold a shared advisory lock while an
-- event row commits and the router takes it exclusively for an instant to read the highest
-- id: no event at or below it can still appear (db/events.go, docs/events.md).
-- The routed column stays (never set any more, false on new rows) so that events an older
-- router marked above the mark are not routed twice; the partial index goes.
-- A router may lease the events past routed_to up to leased_to (a fast batch: deliveries
-- attempted without rows of their own, gateway/events): no router routes past the mark
-- until lease_until, and once it has passed, the next router routes those events again.
create table if not exists stowage.event_route_mark (
  one boolean primary key default true check (one),
  routed_to bigint not null,
  leased_to bigint,
  lease_owner text,
  lease_until timestamptz
);
insert into stowage.event_route_mark (routed_to)
  select coalesce((select min(id) - 1 from stowage.events where not routed), (select max(id) from stowage.events), 0)
  on conflict do nothing;
drop index if exists stowage.events_unrouted_idx;

do $$
begin
  execute format('grant all on stowage.event_route_mark to %I, %I',
    current_setting('storage.service_role'), current_user);
end
$$;
