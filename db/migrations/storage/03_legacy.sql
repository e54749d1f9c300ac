-- Remnants of the reference's former storage.prefixes machinery, which its later
-- migrations turned into no-ops and then removed (schema.md §1.1): the final schema has
-- no prefixes table, no objects.level column and none of their triggers or functions.
-- The prefixes rows are derived from objects, so nothing of value is lost. On a fresh
-- database every statement here finds nothing to do.
do $$
declare
  _f regprocedure;
begin
  for _f in
    select p.oid::regprocedure
    from pg_proc p
    join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'storage'
      and p.proname in (
        'get_level', 'get_prefix', 'get_prefixes', 'add_prefixes', 'delete_prefix',
        'delete_prefix_hierarchy_trigger', 'prefixes_insert_trigger',
        'objects_insert_prefix_trigger', 'objects_update_prefix_trigger',
        'objects_update_level_trigger', 'objects_delete_cleanup', 'objects_update_cleanup',
        'prefixes_delete_cleanup', 'lock_top_prefixes', 'delete_leaf_prefixes',
        'search_legacy_v1', 'search_v1_optimised')
  loop
    -- cascade: the triggers on objects/prefixes that call these go with them
    execute format('drop function %s cascade', _f);
  end loop;
end
$$;

drop table if exists storage.prefixes cascade;
drop index if exists storage.idx_name_bucket_level;
drop index if exists storage.idx_objects_lower_name;
drop index if exists storage.objects_bucket_id_level_idx;
alter table storage.objects drop column if exists level;
