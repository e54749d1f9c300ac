-- Triggers (schema.md §3.1, §3.2), created only where missing so a database's own
-- definitions are never replaced.
do $$
begin
  if not exists (select 1 from pg_trigger where tgrelid = 'storage.buckets'::regclass and tgname = 'enforce_bucket_name_length_trigger') then
    create trigger enforce_bucket_name_length_trigger
      before insert or update of name on storage.buckets
      for each row execute function storage.enforce_bucket_name_length();
  end if;
  if not exists (select 1 from pg_trigger where tgrelid = 'storage.buckets'::regclass and tgname = 'protect_buckets_delete') then
    create trigger protect_buckets_delete
      before delete on storage.buckets
      for each statement execute function storage.protect_delete();
  end if;
  if not exists (select 1 from pg_trigger where tgrelid = 'storage.objects'::regclass and tgname = 'update_objects_updated_at') then
    create trigger update_objects_updated_at
      before update on storage.objects
      for each row execute function storage.update_updated_at_column();
  end if;
  if not exists (select 1 from pg_trigger where tgrelid = 'storage.objects'::regclass and tgname = 'protect_objects_delete') then
    create trigger protect_objects_delete
      before delete on storage.objects
      for each statement execute function storage.protect_delete();
  end if;
end
$$;
