-- The part layout of objects completed from a multipart upload (S3 CompleteMultipartUpload,
-- or a resumable upload assembled from its chunks): GetObject/HeadObject ?partNumber=N and
-- GetObjectAttributes' ObjectParts need it once the upload's part rows are gone. One row
-- per part of the object's blob (blob_key: the version's key in the store), written in the
-- transaction that commits the object, deleted in the transaction that unlinks that blob
-- (its delete intent), so the layout goes with the bytes. Objects without rows here (plain
-- uploads, objects written by a reference server or before this table) are single-part.
create table if not exists stowage.object_parts (
  blob_key text not null,
  part_number integer not null,        -- as uploaded (S3 allows gaps: 1, 3, 7)
  size bigint not null,
  checksum_algorithm text,             -- the part's additional checksum, null without one
  checksum text,
  primary key (blob_key, part_number)
);

do $$
begin
  execute format('grant all on stowage.object_parts to %I, %I', current_setting('storage.service_role'), current_user);
end
$$;
