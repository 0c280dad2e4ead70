-- cascade-tool orphans: the columns, referenced table and MATCH type of an existing FK (by oid),
-- for counting the rows that a NOT VALID foreign key still has to accept.
SELECT n.nspname AS table_schema, r.relname AS table_name, r.relkind::text AS relkind,
       fn.nspname AS target_schema, fr.relname AS target_table, fr.relkind::text AS target_relkind,
       con.confmatchtype = 'f' AS match_full,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
              ORDER BY k.ord) AS columns,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(num, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
              ORDER BY k.ord) AS references_columns
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_class r ON r.oid = con.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
  JOIN pg_catalog.pg_class fr ON fr.oid = con.confrelid
  JOIN pg_catalog.pg_namespace fn ON fn.oid = fr.relnamespace
 WHERE con.oid = %(oid)s::oid
