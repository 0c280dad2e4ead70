-- cascade-tool verify / validate: what the upgrades recorded about each FK they swapped or created
-- (cascade_tool.fk_changes), the newest record per FK not undone by a downgrade. to_jsonb() reads
-- columns that bookkeeping tables written by older revisions may lack. Parameter: schemas (the
-- schemas of the tables the lookup found; NULL: all), as tenants share the bookkeeping.
SELECT DISTINCT ON (f.table_schema, f.table_name, f.constraint_name)
       f.table_schema, f.table_name, f.constraint_name, f.revision, f.change,
       (to_jsonb(f) ->> 'old_validated')::boolean AS old_validated,
       (to_jsonb(f) ->> 'validated_at') AS validated_at,
       COALESCE((to_jsonb(f) ->> 'validate_later')::boolean, false) AS validate_later
  FROM cascade_tool.fk_changes f
 WHERE (to_jsonb(f) ->> 'restored_at') IS NULL
   AND (%(schemas)s::text[] IS NULL OR f.table_schema = ANY (%(schemas)s::text[]))
 ORDER BY f.table_schema, f.table_name, f.constraint_name, f.seq DESC
