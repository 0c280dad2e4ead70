-- cascade-tool: find the target table (the one rows are deleted from) the way PostgreSQL
-- resolves a name: schema-qualified, or the first match on search_path.
-- Parameters: schema (NULL: search_path), table.
-- One row, or none when no ordinary or partitioned table has that name.
SELECT c.oid,
       n.nspname AS schema,
       c.relname AS name,
       c.relkind::text AS kind,
       c.relispartition AS is_partition,
       ARRAY(SELECT a.attname::text
               FROM pg_catalog.pg_constraint p,
                    unnest(p.conkey) WITH ORDINALITY AS k(num, ord),
                    pg_catalog.pg_attribute a
              WHERE p.conrelid = c.oid AND p.contype = 'p'
                AND a.attrelid = c.oid AND a.attnum = k.num
              ORDER BY k.ord) AS primary_key,
       ARRAY(SELECT a.atttypid
               FROM pg_catalog.pg_constraint p,
                    unnest(p.conkey) WITH ORDINALITY AS k(num, ord),
                    pg_catalog.pg_attribute a
              WHERE p.conrelid = c.oid AND p.contype = 'p'
                AND a.attrelid = c.oid AND a.attnum = k.num
              ORDER BY k.ord) AS primary_key_types
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN unnest(pg_catalog.current_schemas(false)) WITH ORDINALITY AS s(nsp, ord)
    ON s.nsp = n.nspname
 WHERE c.relname = %(table)s AND c.relkind IN ('r', 'p')
   AND (n.nspname = %(schema)s OR (%(schema)s IS NULL AND s.ord IS NOT NULL))
 ORDER BY s.ord
 LIMIT 1
