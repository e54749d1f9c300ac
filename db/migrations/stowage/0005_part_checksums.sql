-- The additional checksum (x-amz-checksum-*) of each uploaded multipart part, verified
-- while its bytes streamed. The reference's part table has no column for it; keeping it
-- here lets ListParts return it and CompleteMultipartUpload check the client's part list
-- and compute the object's composite or full-object checksum. Rows go with their part
-- (a replaced part, an aborted or completed upload) by cascade.
create table if not exists stowage.part_checksums (
  part_id uuid primary key references storage.s3_multipart_uploads_parts (id) on delete cascade,
  algorithm text not null,             -- CRC32, CRC32C, CRC64NVME, SHA1 or SHA256
  checksum text not null               -- base64 of the part's digest
);

do $$
begin
  execute format('grant all on stowage.part_checksums to %I, %I', current_setting('storage.service_role'), current_user);
end
$$;
