-- cascade-tool preflight and plan on a Citus coordinator: a table's rows and size, read from each
-- of its shards' own catalog rows (the coordinator's shell table holds no rows). One placement
-- per shard, through run_command_on_shards. One parameter: %(relid)s, the table's oid.
-- Like preflight.sql, it reads pg_class (as of the last VACUUM, ANALYZE or CREATE INDEX on the
-- shard) and never pg_relation_size(), which would lock the shard. Each result is a JSON array:
-- [reltuples, relpages, live tuples, index and TOAST pages, block size].
SELECT r.shardid, r.success, r.result
  FROM pg_catalog.run_command_on_shards(%(relid)s::oid::regclass, $citus$
    SELECT json_build_array(c.reltuples, c.relpages, pg_catalog.pg_stat_get_live_tuples(c.oid),
               COALESCE((SELECT sum(i.relpages) FROM pg_catalog.pg_index x
                           JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
                          WHERE x.indrelid IN (c.oid, c.reltoastrelid)), 0)
               + COALESCE((SELECT t.relpages FROM pg_catalog.pg_class t WHERE t.oid = c.reltoastrelid), 0),
               pg_catalog.current_setting('block_size')::int)
      FROM pg_catalog.pg_class c
     WHERE c.oid = $shard$%%s$shard$::regclass
  $citus$) AS r
