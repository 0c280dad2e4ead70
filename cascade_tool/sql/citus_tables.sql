-- cascade-tool plan on a Citus coordinator: how Citus places each table in its metadata. No
-- parameters. method/replication/colocation are pg_dist_partition's partmethod, repmodel and
-- colocationid: 'h' is hash-distributed on `column`; 'n' with 't' a reference table; 'n' with
-- 's' and colocation 0 a Citus local table; other 'n' tables are single-shard distributed
-- tables, those of a distributed schema (pg_dist_schema, Citus 12 and later) with in_schema.
-- partkey is Citus's text form of the distribution column (a Var node); :varattno is its number.
SELECT p.logicalrelid::oid AS oid, n.nspname || '.' || c.relname AS name,
       p.partmethod::text AS method, p.repmodel::text AS replication,
       p.colocationid AS colocation, a.attname::text AS column,
       EXISTS (SELECT 1 FROM pg_catalog.pg_dist_schema s WHERE s.schemaid = n.oid) AS in_schema
  FROM pg_catalog.pg_dist_partition p
  JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_attribute a
    ON a.attrelid = c.oid AND a.attnum = substring(p.partkey FROM ':varattno ([0-9]+)')::int
