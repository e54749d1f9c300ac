-- Claiming takes a target's due deliveries in event order: this index lets it walk them in
-- that order and stop after the few it takes, instead of reading (and probing the order of)
-- every pending delivery of the target each time, which made draining a backlog cost time
-- in proportion to the backlog per claim.
create index if not exists event_deliveries_claim_idx on stowage.event_deliveries (target, event_id) where state = 'pending';
