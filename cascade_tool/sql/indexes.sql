-- The indexes the upgrade builds before the swaps (CONCURRENTLY, recorded, dropped on downgrade):
-- - FK columns that have no index PostgreSQL can use to find the referencing rows, so every
--   delete of a parent row scans the table. An index covers an FK when its leading key columns
--   are the FK's columns, in any order; a partial index counts only when its predicate is
--   `col IS NOT NULL` on a one-column FK (the FK's own lookups imply it);
-- - for entries with add_unique = true, the unique index the FK needs on the referenced columns
--   (the upgrade's check phase has already refused duplicate keys and partitioned targets).
-- Input: the lookup's rows (resolve.sql) as jsonb, from the function named below (the generated
-- revision defines it; the CLI substitutes the lookup). The names are ours:
-- <table>_<columns>_fk_idx / _key, or a hash when longer than 63 bytes or taken; an INVALID
-- index of that name on the same table is a leftover of an earlier attempt, dropped and rebuilt.
WITH lookup AS (
    SELECT l.r FROM /*lookup*/pg_temp.cascade_tool_lookup(NULL) AS l(r)
),
wanted AS (
    SELECT false AS uniq, (r->>'i')::integer AS entry, r->>'q_table' AS q_rel,
           ARRAY(SELECT jsonb_array_elements_text(r->'columns')) AS columns
      FROM lookup
     WHERE r->>'status' IN ('convert', 'create', 'ok', 'not_valid', 'not_enforced')
    UNION ALL
    SELECT true, (r->>'i')::integer, r->>'q_target',
           ARRAY(SELECT jsonb_array_elements_text(r->'references_columns'))
      FROM lookup
     WHERE r->>'status' = 'not_unique' AND (r->>'add_unique')::boolean
),
located AS (
    SELECT w.*, c.oid AS rel, c.relnamespace AS nsp, c.relkind = 'p' AS partitioned,
           c.nspname::text AS table_schema, c.relname::text AS table_name,
           ARRAY(SELECT x FROM unnest(w.columns) AS x ORDER BY 1) AS sorted
      FROM wanted w,
           LATERAL (SELECT c.oid, c.relnamespace, c.relkind, c.relname, n.nspname
                      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                     WHERE c.oid = w.q_rel::regclass OFFSET 0) AS c  -- an index lookup by oid
),
missing AS (
    SELECT s.*,
           s.table_name || '_' || array_to_string(s.columns, '_') || CASE WHEN s.uniq THEN '_key' ELSE '_fk_idx' END AS base_name,
           CASE WHEN s.uniq THEN 'uk_' || substr(md5(s.q_rel || '(' || array_to_string(s.columns, ',') || ')'), 1, 24)
                ELSE 'fk_idx_' || substr(md5(s.q_rel || '(' || array_to_string(s.columns, ',') || ')'), 1, 20)
           END AS hash_name
      FROM located s
     WHERE s.uniq OR NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_index x
             WHERE x.indrelid = s.rel AND x.indisvalid AND x.indnkeyatts >= cardinality(s.columns)
               AND ARRAY(SELECT k FROM unnest((string_to_array(x.indkey::text, ' ')::int2[])[1:cardinality(s.columns)]) AS k ORDER BY 1)
                 = ARRAY(SELECT a.attnum FROM pg_catalog.pg_attribute a
                          WHERE a.attrelid = s.rel AND a.attname = ANY (s.columns) ORDER BY 1)
               AND (x.indpred IS NULL
                    OR (cardinality(s.columns) = 1
                        AND pg_catalog.pg_get_expr(x.indpred, x.indrelid) = '(' || quote_ident(s.columns[1]) || ' IS NOT NULL)')))
),
named AS MATERIALIZED (
    SELECT m.*,
           CASE WHEN octet_length(m.base_name) <= 63
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class o
                                  WHERE o.relnamespace = m.nsp AND o.relname = m.base_name
                                    AND NOT (o.relkind = 'i' AND EXISTS (
                                        SELECT 1 FROM pg_catalog.pg_index i
                                         WHERE i.indexrelid = o.oid AND i.indrelid = m.rel AND NOT i.indisvalid)))
                THEN m.base_name ELSE m.hash_name END AS index_name
      FROM missing m
)
SELECT DISTINCT ON (w.uniq, w.table_schema, w.table_name, w.sorted)
       w.entry, w.table_schema, w.table_name, w.columns, w.partitioned, w.uniq AS unique_key,
       w.table_schema || '.' || w.table_name || ' (' || array_to_string(w.columns, ', ') || ')'
         || CASE WHEN w.uniq THEN ' unique' ELSE '' END AS label,
       w.index_name,
       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_class o JOIN pg_catalog.pg_index i ON i.indexrelid = o.oid
                          WHERE o.relnamespace = w.nsp AND o.relname = w.index_name
                            AND i.indrelid = w.rel AND NOT i.indisvalid)
            THEN format('DROP INDEX CONCURRENTLY IF EXISTS %I.%I', w.table_schema, w.index_name) END AS drop_sql,
       CASE WHEN NOT w.partitioned
            THEN format('CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %I ON %s (%s)',
                        CASE WHEN w.uniq THEN 'UNIQUE ' ELSE '' END, w.index_name, w.q_rel,
                        array_to_string(ARRAY(SELECT quote_ident(c) FROM unnest(w.columns) WITH ORDINALITY AS u(c, o) ORDER BY o), ', '))
       END AS create_sql
  FROM named w
 ORDER BY w.uniq, w.table_schema, w.table_name, w.sorted, w.entry
