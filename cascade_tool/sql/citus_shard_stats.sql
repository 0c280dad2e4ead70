-- cascade-tool preflight and plan on a Citus coordinator: rows and sizes of shards, read from
-- each node's own catalog (the coordinator's shell tables hold no rows), one round trip per node
-- through run_command_on_all_nodes. Parameters: schemas and names, the shards' schemas
-- and table names (two text arrays of the same length), quoted into the command by format().
-- Like preflight.sql it reads pg_class (as of the last VACUUM, ANALYZE or CREATE INDEX on the
-- shard) and never pg_relation_size(), which would lock the shard. One row per node: nodeid,
-- success, and result, a JSON array of [schema, shard table, reltuples, relpages, live tuples,
-- index and TOAST pages, block size].
SELECT r.nodeid, r.success, r.result
  FROM pg_catalog.run_command_on_all_nodes(pg_catalog.format($citus$
    SELECT COALESCE(json_agg(json_build_array(
               n.nspname, c.relname, c.reltuples, c.relpages, pg_catalog.pg_stat_get_live_tuples(c.oid),
               COALESCE((SELECT sum(i.relpages) FROM pg_catalog.pg_index x
                           JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
                          WHERE x.indrelid IN (c.oid, c.reltoastrelid)), 0)
               + COALESCE((SELECT t.relpages FROM pg_catalog.pg_class t WHERE t.oid = c.reltoastrelid), 0),
               pg_catalog.current_setting('block_size')::int)), '[]')
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE (n.nspname::text, c.relname::text) IN (SELECT * FROM unnest(%%L::text[], %%L::text[]))
  $citus$, %(schemas)s::text[], %(names)s::text[])) AS r
