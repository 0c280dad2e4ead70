-- FK columns that have no index PostgreSQL can use to find the referencing rows, so every
-- delete of a parent row scans the table. Input: the lookup's rows (resolve.sql) as jsonb, from
-- the function named below (the generated revision defines it; the CLI substitutes the lookup).
-- An index covers an FK when its leading key columns are the FK's columns, in any order; a
-- partial index counts only when its predicate is `col IS NOT NULL` on a one-column FK (the FK's
-- own lookups imply it). The names are ours: <table>_<columns>_fk_idx, or a hash when longer than
-- 63 bytes or taken; an INVALID index of that name on the same table is a leftover of an earlier
-- attempt, dropped and rebuilt.
SELECT DISTINCT ON (w.table_schema, w.table_name, w.sorted)
       w.entry, w.table_schema, w.table_name, w.columns, w.partitioned,
       w.table_display || ' (' || array_to_string(w.columns, ', ') || ')' AS label,
       w.index_name,
       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_class o JOIN pg_catalog.pg_index i ON i.indexrelid = o.oid
                          WHERE o.relnamespace = w.nsp AND o.relname = w.index_name
                            AND i.indrelid = w.rel AND NOT i.indisvalid) THEN format('DROP INDEX CONCURRENTLY IF EXISTS %I.%I', w.table_schema, w.index_name) END AS drop_sql,
       CASE WHEN NOT w.partitioned
            THEN format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON %s (%s)', w.index_name, w.q_table,
                        array_to_string(ARRAY(SELECT quote_ident(c) FROM unnest(w.columns) WITH ORDINALITY AS u(c, o) ORDER BY o), ', '))
       END AS create_sql
FROM (
    SELECT n.*,
           CASE WHEN octet_length(n.base_name) <= 63
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class o
                                  WHERE o.relnamespace = n.nsp AND o.relname = n.base_name
                                    AND NOT (o.relkind = 'i' AND EXISTS (
                                        SELECT 1 FROM pg_catalog.pg_index i
                                         WHERE i.indexrelid = o.oid AND i.indrelid = n.rel AND NOT i.indisvalid)))
                THEN n.base_name ELSE n.hash_name END AS index_name
      FROM (
        SELECT s.*,
               s.table_name || '_' || array_to_string(s.columns, '_') || '_fk_idx' AS base_name,
               'fk_idx_' || substr(md5(s.q_table || '(' || array_to_string(s.columns, ',') || ')'), 1, 20) AS hash_name
          FROM (
            SELECT (l.r->>'i')::integer AS entry, l.r->>'table_schema' AS table_schema,
                   l.r->>'table_name' AS table_name, l.r->>'table_display' AS table_display,
                   l.r->>'q_table' AS q_table, (l.r->>'partitioned')::boolean AS partitioned,
                   ARRAY(SELECT jsonb_array_elements_text(l.r->'columns')) AS columns,
                   ARRAY(SELECT x FROM jsonb_array_elements_text(l.r->'columns') AS x ORDER BY 1) AS sorted,
                   (l.r->>'q_table')::regclass AS rel,
                   (SELECT c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid = (l.r->>'q_table')::regclass) AS nsp
              FROM /*lookup*/pg_temp.cascade_tool_lookup(NULL) AS l(r)
             WHERE l.r->>'status' IN ('convert', 'create', 'ok', 'not_valid', 'not_enforced')
          ) AS s
         WHERE NOT EXISTS (
                SELECT 1 FROM pg_catalog.pg_index x
                 WHERE x.indrelid = s.rel AND x.indisvalid AND x.indnkeyatts >= cardinality(s.columns)
                   AND ARRAY(SELECT k FROM unnest((string_to_array(x.indkey::text, ' ')::int2[])[1:cardinality(s.columns)]) AS k ORDER BY 1)
                     = ARRAY(SELECT a.attnum FROM pg_catalog.pg_attribute a
                              WHERE a.attrelid = s.rel AND a.attname = ANY (s.columns) ORDER BY 1)
                   AND (x.indpred IS NULL
                        OR (cardinality(s.columns) = 1
                            AND pg_catalog.pg_get_expr(x.indpred, x.indrelid) = '(' || quote_ident(s.columns[1]) || ' IS NOT NULL)')))
      ) AS n
) AS w
ORDER BY w.table_schema, w.table_name, w.sorted, w.entry
