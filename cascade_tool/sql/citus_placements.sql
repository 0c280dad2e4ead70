-- cascade-tool verify on a Citus coordinator: every shard placement of the given tables, and the
-- node that holds it. One parameter: relids, an array of the tables' oids. shard_relname is
-- the shard's own name (Citus appends the shard id, or a hash when the name would be too long).
SELECT s.logicalrelid::oid AS relid, s.shardid, n.nspname::text AS schema_name,
       (pg_catalog.parse_ident(pg_catalog.shard_name(s.logicalrelid, s.shardid)))[
           cardinality(pg_catalog.parse_ident(pg_catalog.shard_name(s.logicalrelid, s.shardid)))] AS shard_relname,
       d.nodeid, d.nodename::text AS nodename, d.nodeport
  FROM pg_catalog.pg_dist_shard s
  JOIN pg_catalog.pg_dist_placement p ON p.shardid = s.shardid
  JOIN pg_catalog.pg_dist_node d ON d.groupid = p.groupid
  JOIN pg_catalog.pg_class c ON c.oid = s.logicalrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE s.logicalrelid::oid = ANY (%(relids)s)
 ORDER BY s.shardid, d.nodeid
