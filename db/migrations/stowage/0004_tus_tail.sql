-- The tail of a resumable upload on a store with a minimum part size (upstream S3: 5 MiB):
-- bytes that arrived but cannot yet become a part. They sit in a blob of their own
-- (tail_key, under the upload version's blob key) until more data, or the end of the
-- upload, lets them lead the next part. The upload's offset is the size of its parts plus
-- tail_size. Keeping the tail in the store and its key here lets any gateway continue.
alter table stowage.tus_uploads
  add column if not exists tail_key text,
  add column if not exists tail_size bigint not null default 0;
