-- cascade-tool discover: columns that look like references to the target but have no foreign
-- key. A column qualifies when
--   - its name is one of names (e.g. user_id), ends with one of suffixes (e.g.
--     _user_id), or is the name of a single-column FK to the target that no FK to another
--     table uses (e.g. author_id, when every FK named author_id points at users);
--   - its type is the type of the target's key column (integer types count as one type);
--   - no FK of its table (declared or per-partition copy) includes it.
-- Partitions (their columns are the parent's), system schemas, the cascade_tool schema and
-- extension-owned tables are left out. Parameters: target oid, key_type oid,
-- names text[], suffixes text[].
WITH
fk_to_target AS (
    SELECT DISTINCT a.attname::text AS name
      FROM pg_catalog.pg_constraint c
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
     WHERE c.contype = 'f' AND c.conparentid = 0 AND cardinality(c.conkey) = 1
       AND c.confrelid = %(target)s::oid
),
fk_elsewhere AS (
    SELECT DISTINCT a.attname::text AS name
      FROM pg_catalog.pg_constraint c
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
     WHERE c.contype = 'f' AND c.conparentid = 0 AND cardinality(c.conkey) = 1
       AND c.confrelid <> %(target)s::oid
),
names AS (
    SELECT unnest(%(names)s::text[]) AS name
    UNION
    (SELECT name FROM fk_to_target EXCEPT SELECT name FROM fk_elsewhere)
),
int_types AS (
    SELECT unnest(ARRAY['pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype,
                        'pg_catalog.int8'::regtype]::oid[]) AS oid
)
SELECT n.nspname::text AS schema, r.relname::text AS "table", a.attname::text AS "column",
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index x
                WHERE x.indrelid = r.oid AND x.indisvalid AND x.indkey[0] = a.attnum) AS indexed
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class r ON r.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
 WHERE r.relkind IN ('r', 'p') AND NOT r.relispartition
   AND a.attnum > 0 AND NOT a.attisdropped
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'cascade_tool')
   AND n.nspname NOT LIKE 'pg\_toast%%' AND n.nspname NOT LIKE 'pg\_temp\_%%'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = r.oid
                      AND d.deptype = 'e')
   AND (a.attname IN (SELECT name FROM names)
        OR EXISTS (SELECT 1 FROM unnest(%(suffixes)s::text[]) AS s(suffix)
                    WHERE right(a.attname, length(s.suffix)) = s.suffix))
   AND (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END = %(key_type)s::oid
        OR (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END IN (SELECT oid FROM int_types)
            AND %(key_type)s::oid IN (SELECT oid FROM int_types)))
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                    WHERE c.contype = 'f' AND c.conrelid = r.oid AND a.attnum = ANY (c.conkey))
   AND NOT (r.oid = %(target)s::oid AND EXISTS (
            SELECT 1 FROM pg_catalog.pg_constraint p
             WHERE p.conrelid = r.oid AND p.contype IN ('p', 'u') AND a.attnum = ANY (p.conkey)))
 ORDER BY n.nspname, r.relname, a.attname
