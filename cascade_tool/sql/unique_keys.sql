-- Referenced columns that have no unique index, for entries with add_unique = true: the unique
-- index the FK needs, built like the FK indexes (CONCURRENTLY, recorded, dropped on downgrade).
-- Input: the lookup's rows, as in fk_indexes.sql. The upgrade's check phase has already refused
-- duplicate keys and partitioned targets. Name: <table>_<columns>_key, or a hash.
SELECT DISTINCT ON (w.rel, w.sorted)
       w.entry, w.table_schema, w.table_name, w.columns, w.partitioned,
       w.table_schema || '.' || w.table_name || ' (' || array_to_string(w.columns, ', ') || ') unique' AS label,
       w.index_name,
       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_class o JOIN pg_catalog.pg_index i ON i.indexrelid = o.oid
                          WHERE o.relnamespace = w.nsp AND o.relname = w.index_name
                            AND i.indrelid = w.rel AND NOT i.indisvalid)
            THEN format('DROP INDEX CONCURRENTLY IF EXISTS %I.%I', w.table_schema, w.index_name) END AS drop_sql,
       CASE WHEN NOT w.partitioned
            THEN format('CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS %I ON %s (%s)', w.index_name, w.q_target,
                        array_to_string(ARRAY(SELECT quote_ident(c) FROM unnest(w.columns) WITH ORDINALITY AS u(c, o) ORDER BY o), ', '))
       END AS create_sql
FROM (
    SELECT s.*,
           CASE WHEN octet_length(s.table_name || '_' || array_to_string(s.columns, '_') || '_key') <= 63
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class o
                                  WHERE o.relnamespace = s.nsp
                                    AND o.relname = s.table_name || '_' || array_to_string(s.columns, '_') || '_key'
                                    AND NOT (o.relkind = 'i' AND EXISTS (
                                        SELECT 1 FROM pg_catalog.pg_index i
                                         WHERE i.indexrelid = o.oid AND i.indrelid = s.rel AND NOT i.indisvalid)))
                THEN s.table_name || '_' || array_to_string(s.columns, '_') || '_key'
                ELSE 'uk_' || substr(md5(s.q_target || '(' || array_to_string(s.columns, ',') || ')'), 1, 24)
           END AS index_name
      FROM (
        SELECT (l.r->>'i')::integer AS entry, n.nspname::text AS table_schema, c.relname::text AS table_name,
               l.r->>'q_target' AS q_target, c.relkind = 'p' AS partitioned, c.oid AS rel, c.relnamespace AS nsp,
               ARRAY(SELECT jsonb_array_elements_text(l.r->'references_columns')) AS columns,
               ARRAY(SELECT x FROM jsonb_array_elements_text(l.r->'references_columns') AS x ORDER BY 1) AS sorted
          FROM /*lookup*/pg_temp.cascade_tool_lookup(NULL) AS l(r)
          JOIN pg_catalog.pg_class c ON c.oid = (l.r->>'q_target')::regclass
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE l.r->>'status' = 'not_unique' AND (l.r->>'add_unique')::boolean
      ) AS s
) AS w
ORDER BY w.rel, w.sorted, w.entry
