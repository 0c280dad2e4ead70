-- The columns of one table, with what smoke-test needs to make up a value for each.
-- Parameters: schema, table.
SELECT a.attname::text AS name, a.attnotnull AS not_null,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' AS has_default,
       a.attgenerated <> '' AS generated,
       t.typcategory AS category, t.typname::text AS type, a.atttypmod AS typmod,
       (SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid
         ORDER BY e.enumsortorder LIMIT 1) AS first_label,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                WHERE i.indrelid = a.attrelid AND i.indisunique AND i.indkey[0] = a.attnum
                  AND i.indnkeyatts = 1) AS unique_alone
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
 WHERE a.attrelid = (SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
                      ON n.oid = c.relnamespace WHERE n.nspname = %(schema)s AND c.relname = %(table)s)
   AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
