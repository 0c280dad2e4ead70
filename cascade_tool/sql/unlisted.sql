-- FKs to the manifest's target that no manifest entry matched (verify's "unlisted" warnings).
-- Parameters: target_table, target_schema (NULL: search_path), matched (the FK oids entries matched).
SELECT n.nspname AS table_schema, r.relname AS table_name, c.conname,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(num, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num
              ORDER BY k.ord) AS columns,
       CASE c.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
            WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END AS current_action
  FROM pg_catalog.pg_constraint c
  JOIN pg_catalog.pg_class r ON r.oid = c.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
 WHERE c.contype = 'f' AND c.conparentid = 0
   AND c.confrelid = (
        SELECT c2.oid FROM pg_catalog.pg_class c2
          JOIN pg_catalog.pg_namespace n2 ON n2.oid = c2.relnamespace
          LEFT JOIN unnest(pg_catalog.current_schemas(false)) WITH ORDINALITY AS s(nsp, ord)
            ON s.nsp = n2.nspname
         WHERE c2.relname = %(target_table)s AND c2.relkind IN ('r', 'p')
           AND (n2.nspname = %(target_schema)s OR (%(target_schema)s IS NULL AND s.ord IS NOT NULL))
         ORDER BY s.ord LIMIT 1)
   AND NOT (c.oid = ANY (%(matched)s::oid[]))
 ORDER BY n.nspname, r.relname, c.conname
