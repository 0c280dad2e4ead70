-- A table as PostgreSQL resolves the name (first match on search_path when unqualified),
-- with its primary key columns. Parameters: schema (NULL: search_path), table.
SELECT n.nspname AS schema, c.relname AS name,
       ARRAY(SELECT a.attname::text
               FROM pg_catalog.pg_constraint p, unnest(p.conkey) WITH ORDINALITY AS k(num, ord),
                    pg_catalog.pg_attribute a
              WHERE p.conrelid = c.oid AND p.contype = 'p' AND a.attrelid = c.oid AND a.attnum = k.num
              ORDER BY k.ord) AS primary_key
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN unnest(pg_catalog.current_schemas(false)) WITH ORDINALITY AS s(nsp, ord) ON s.nsp = n.nspname
 WHERE c.relname = %(table)s::text AND c.relkind IN ('r', 'p')
   AND (n.nspname = %(schema)s::text OR (%(schema)s::text IS NULL AND s.ord IS NOT NULL))
 ORDER BY s.ord LIMIT 1
