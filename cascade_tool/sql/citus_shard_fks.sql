-- cascade-tool verify on a Citus coordinator: the FKs of every table on every node (shards
-- included), read from each node's own catalog by run_command_on_all_nodes. No parameters.
-- One row per node: nodeid, success, and result, a JSON array of
-- [schema, table, constraint, confdeltype, [FK column names]].
SELECT r.nodeid, r.success, r.result
  FROM pg_catalog.run_command_on_all_nodes($citus$
    SELECT COALESCE(json_agg(json_build_array(
               n.nspname, t.relname, c.conname, c.confdeltype,
               (SELECT json_agg(a.attname ORDER BY k.ord)
                  FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum))), '[]')
      FROM pg_catalog.pg_constraint c
      JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
     WHERE c.contype = 'f'
  $citus$) AS r
