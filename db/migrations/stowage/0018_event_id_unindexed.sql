-- The outbox's idempotency id needs no index. No query looks an event up by event_id (deliveries
-- and re-drives refer to events by id), and a random UUID is unique without one. Its unique
-- index was the outbox's only index not on the table's right edge: every upload inserted into a
-- random leaf page, and an outbox holding a day of events (STOWAGE_EVENTS_RETENTION) keeps an
-- index of several GB of them, far past shared_buffers: a buffer to read and, once per leaf
-- page per checkpoint, a full-page image in the WAL that the upload's commit waits to flush.
-- With 3,000,000 events in the outbox (an hour at 1,000 uploads/s) it cost each upload ~0.2 ms
-- of Postgres CPU and up to 8 KB of WAL (docs/events.md, run 12).
alter table stowage.events drop constraint if exists events_event_id_key;
