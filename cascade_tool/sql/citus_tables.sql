-- cascade-tool plan on a Citus coordinator: how Citus places each distributed table (hash on a
-- column, or a reference table). No parameters.
SELECT p.logicalrelid::oid AS oid, n.nspname || '.' || c.relname AS name,
       p.partmethod::text AS method, p.repmodel::text AS replication,
       p.colocationid AS colocation, a.attname::text AS column
  FROM pg_catalog.pg_dist_partition p
  JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_attribute a
    ON a.attrelid = c.oid AND a.attnum = substring(p.partkey FROM ':varattno ([0-9]+)')::int
