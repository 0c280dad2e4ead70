-- Every declared foreign key (partition clones excluded), with what `impact` and `smoke-test`
-- need to follow a deletion through the graph. Reads pg_catalog only.
SELECT c.oid AS fk_oid,
       c.conname,
       cn.nspname AS child_schema, cr.relname AS child_table,
       pn.nspname AS parent_schema, pr.relname AS parent_table,
       ARRAY(SELECT a.attname::text
               FROM unnest(c.conkey) WITH ORDINALITY AS k(num, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num
              ORDER BY k.ord) AS columns,
       ARRAY(SELECT a.attname::text
               FROM unnest(c.confkey) WITH ORDINALITY AS k(num, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num
              ORDER BY k.ord) AS references_columns,
       CASE c.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
            WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END AS on_delete,
       -- the columns SET NULL / SET DEFAULT would change (PostgreSQL 15+ may name a subset)
       EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = c.conrelid AND a.attnotnull
                  AND a.attnum = ANY (
                      CASE WHEN jsonb_typeof(to_jsonb(c) -> 'confdelsetcols') = 'array'
                                AND jsonb_array_length(to_jsonb(c) -> 'confdelsetcols') > 0
                           THEN ARRAY(SELECT x::int2 FROM jsonb_array_elements_text(to_jsonb(c) -> 'confdelsetcols') AS x)
                           ELSE c.conkey END)) AS nulls_not_null_column,
       c.convalidated AS validated
  FROM pg_catalog.pg_constraint c
  JOIN pg_catalog.pg_class cr ON cr.oid = c.conrelid
  JOIN pg_catalog.pg_namespace cn ON cn.oid = cr.relnamespace
  JOIN pg_catalog.pg_class pr ON pr.oid = c.confrelid
  JOIN pg_catalog.pg_namespace pn ON pn.oid = pr.relnamespace
 WHERE c.contype = 'f' AND c.conparentid = 0
 ORDER BY pn.nspname, pr.relname, cn.nspname, cr.relname, c.conname
