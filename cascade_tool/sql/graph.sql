-- cascade-tool graph: every declared foreign key whose referenced table is the target or is
-- reachable from it through declared foreign keys (of any ON DELETE action), one row per FK;
-- with a NULL target, every declared foreign key of the database.
--
-- "Declared" means conparentid = 0: the per-partition copies PostgreSQL makes of an FK declared
-- on a partitioned table (or referencing one) are not edges; their count is in `clones`.
-- One round trip whatever the size of the schema: the reachability is a recursive CTE over
-- pg_constraint, and every per-FK property is a correlated subquery over the catalog.
-- Parameters: target, the target table's oid (NULL: every declared FK).
WITH RECURSIVE
declared AS (
    SELECT c.oid, c.conrelid, c.confrelid
      FROM pg_catalog.pg_constraint c
     WHERE c.contype = 'f' AND c.conparentid = 0
),
reach (relid) AS (
    SELECT %(target)s::oid
    UNION
    SELECT d.conrelid FROM reach r JOIN declared d ON d.confrelid = r.relid
),
edge AS (
    SELECT d.oid FROM declared d
     WHERE %(target)s::oid IS NULL OR d.confrelid IN (SELECT relid FROM reach)
),
clone (root, oid) AS (
    SELECT e.oid, c.oid
      FROM edge e JOIN pg_catalog.pg_constraint c ON c.conparentid = e.oid
    UNION ALL
    SELECT cl.root, c.oid
      FROM clone cl JOIN pg_catalog.pg_constraint c ON c.conparentid = cl.oid
)
SELECT con.oid,
       con.conname::text AS name,
       r.oid AS child_oid, n.nspname::text AS child_schema, r.relname::text AS child_name,
       r.relkind::text AS child_kind, r.relispartition AS child_is_partition,
       fr.oid AS parent_oid, fn.nspname::text AS parent_schema, fr.relname::text AS parent_name,
       fr.relkind::text AS parent_kind,
       ARRAY(SELECT a.attname::text
               FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
              ORDER BY k.ord) AS columns,
       ARRAY(SELECT pg_catalog.format_type(a.atttypid, a.atttypmod)
               FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
              ORDER BY k.ord) AS column_types,
       ARRAY(SELECT a.attname::text
               FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
              WHERE a.attnotnull
              ORDER BY k.ord) AS not_null_columns,
       ARRAY(SELECT a.attname::text
               FROM unnest(con.confkey) WITH ORDINALITY AS k(num, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
              ORDER BY k.ord) AS "references",
       ARRAY(SELECT a.attname::text
               FROM pg_catalog.pg_constraint p,
                    unnest(p.conkey) WITH ORDINALITY AS k(num, ord),
                    pg_catalog.pg_attribute a
              WHERE p.conrelid = con.confrelid AND p.contype = 'p'
                AND a.attrelid = p.conrelid AND a.attnum = k.num
              ORDER BY k.ord) AS parent_primary_key,
       CASE con.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
            WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END AS on_delete,
       CASE con.confupdtype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
            WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END AS on_update,
       CASE con.confmatchtype WHEN 'f' THEN 'FULL' WHEN 'p' THEN 'PARTIAL' ELSE 'SIMPLE' END AS match,
       -- ON DELETE SET NULL (col, ...) exists from PostgreSQL 15; to_jsonb keeps 13/14 working.
       -- The columns the action writes: that list, or every FK column.
       ARRAY(SELECT a.attname::text
               FROM unnest(COALESCE(
                        ARRAY(SELECT x::int2 FROM jsonb_array_elements_text(
                                CASE WHEN jsonb_typeof(to_jsonb(con) -> 'confdelsetcols') = 'array'
                                     THEN to_jsonb(con) -> 'confdelsetcols' ELSE '[]'::jsonb END) AS j(x)),
                        '{}'::int2[])) WITH ORDINALITY AS k(num, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
              ORDER BY k.ord) AS set_columns,
       -- Defaults of the FK columns, for SET DEFAULT: NULL when a column has none. `constant`
       -- when the stored expression is made of constants, type coercions and immutable
       -- functions only (so `DEFAULT 0` on a bigint, but not nextval()): only those are
       -- evaluated, to check that a parent row has that value.
       (SELECT jsonb_agg(jsonb_build_object(
                   'column', a.attname::text,
                   'expression', pg_catalog.pg_get_expr(d.adbin, d.adrelid),
                   'constant', d.adbin IS NOT NULL
                       AND NOT EXISTS (
                           SELECT 1 FROM regexp_matches(d.adbin::text, '\{([A-Z_]+)', 'g') AS n(node)
                            WHERE n.node[1] NOT IN ('CONST', 'FUNCEXPR', 'RELABELTYPE'))
                       AND NOT EXISTS (
                           SELECT 1 FROM regexp_matches(d.adbin::text, ':funcid ([0-9]+)', 'g') AS f(id)
                             JOIN pg_catalog.pg_proc p ON p.oid = f.id[1]::oid
                            WHERE p.provolatile <> 'i'))
                 ORDER BY k.ord)
          FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
          JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
          LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum)
         AS defaults,
       con.condeferrable AS deferrable,
       con.condeferred AS deferred,
       con.convalidated AS validated,
       COALESCE((to_jsonb(con) ->> 'conenforced')::boolean, true) AS enforced,
       -- A covering index: valid, not partial, its leading key columns are the FK columns.
       EXISTS (SELECT 1 FROM pg_catalog.pg_index x
                WHERE x.indrelid = con.conrelid AND x.indisvalid AND x.indpred IS NULL
                  AND cardinality(con.conkey) <= x.indnkeyatts
                  AND (string_to_array(x.indkey::text, ' ')::int2[])[1:cardinality(con.conkey)] @> con.conkey
                  AND (string_to_array(x.indkey::text, ' ')::int2[])[1:cardinality(con.conkey)] <@ con.conkey)
         AS indexed,
       -- Otherwise, the predicate of a partial index that has those leading columns (one whose
       -- predicate is just "col IS NOT NULL" first: the FK's lookup, col = $1, implies it, so
       -- PostgreSQL uses that index for cascades and checks; see `partial_index_serves`).
       (SELECT pg_catalog.pg_get_expr(x.indpred, x.indrelid)
          FROM pg_catalog.pg_index x
         WHERE x.indrelid = con.conrelid AND x.indisvalid AND x.indpred IS NOT NULL
           AND cardinality(con.conkey) <= x.indnkeyatts
           AND (string_to_array(x.indkey::text, ' ')::int2[])[1:cardinality(con.conkey)] @> con.conkey
           AND (string_to_array(x.indkey::text, ' ')::int2[])[1:cardinality(con.conkey)] <@ con.conkey
         ORDER BY pg_catalog.pg_get_expr(x.indpred, x.indrelid) <> not_null.predicate, x.indexrelid
         LIMIT 1) AS partial_index,
       not_null.predicate AS not_null_predicate,
       (SELECT count(*) FROM clone cl WHERE cl.root = con.oid) AS clones
  FROM edge e
  JOIN pg_catalog.pg_constraint con ON con.oid = e.oid
  JOIN pg_catalog.pg_class r ON r.oid = con.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
  JOIN pg_catalog.pg_class fr ON fr.oid = con.confrelid
  JOIN pg_catalog.pg_namespace fn ON fn.oid = fr.relnamespace
  -- How pg_get_expr prints "every FK column IS NOT NULL", to recognise such partial indexes.
  CROSS JOIN LATERAL (
    SELECT CASE WHEN count(*) = 1 THEN min(p.item)
                ELSE '(' || string_agg(p.item, ' AND ' ORDER BY p.ord) || ')' END AS predicate
      FROM (SELECT '(' || quote_ident(a.attname) || ' IS NOT NULL)' AS item, k.ord
              FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num) AS p
  ) AS not_null
 ORDER BY n.nspname, r.relname, con.conname, con.oid
