-- cascade-tool preflight: what would make the upgrade wait or fail in this database right now,
-- and what each manifest entry costs. One read-only SELECT over pg_catalog, pg_stat_activity and
-- pg_locks, one row per finding: (severity text, kind text, object text, message text, detail jsonb).
--
-- Inputs are text slots, replaced before the query runs (see cascade_tool/preflight.py):
--   the entries slot (below, in pf_entry): a JSON array from Manifest.payload(), as in resolve.sql,
--   the long-transaction slot (below, in pf_setting): seconds from which an open transaction is
--   reported (60 unless replaced).
-- Table names resolve exactly as in resolve.sql: an unqualified name is the first match on
-- search_path, and a chain entry's referenced table comes from its own target.
--
-- The generated revision embeds this text verbatim in PL/pgSQL (FOR v IN <query> LOOP RAISE
-- WARNING ...), so: one SELECT, no semicolon outside string literals, no dollar quote, no percent sign, and every CTE and
-- range variable is named pf_* and every column reference qualified, so that no PL/pgSQL variable
-- can collide with a column name.
--
-- Kinds: long_transaction, lock (sessions holding or waiting for locks on the manifest's tables,
-- their referenced tables and the partitions of either), partitioned_swap (PostgreSQL 17 and
-- earlier validate a partitioned table's FK inside the swap), max_locks (lock slots of the largest
-- swap step), table (rows, size, covering index, validation cost per entry), visibility.
WITH RECURSIVE
pf_setting AS (
    SELECT (/*long_transaction_seconds*/60)::numeric AS long_seconds,
           pf_db.oid AS dboid,
           pg_catalog.current_setting('max_locks_per_transaction')::integer AS max_locks,
           pg_catalog.current_setting('max_connections')::integer AS max_connections,
           pg_catalog.current_setting('max_prepared_transactions')::integer AS max_prepared,
           pg_catalog.current_setting('server_version_num')::integer AS version_num,
           pg_catalog.current_setting('block_size')::numeric AS block_size,
           pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE') AS sees_all,
           pg_catalog.pg_backend_pid() AS me
      FROM pg_catalog.pg_database pf_db
     WHERE pf_db.datname = pg_catalog.current_database()
),
pf_entry AS (
    SELECT pf_x.*
    FROM jsonb_to_recordset(/*entries*/NULL::jsonb) AS pf_x(
        i integer, schema text, "table" text, columns text[],
        target_schema text, target_table text, "references" text[],
        on_delete text, optional boolean)
),
pf_located AS (
    -- As resolve.sql's `located`: an unqualified name is the first schema on search_path.
    SELECT pf_e.*,
        (SELECT pf_c.oid
           FROM unnest(CASE WHEN pf_e.schema IS NULL THEN pg_catalog.current_schemas(false)::text[]
                            ELSE ARRAY[pf_e.schema] END) WITH ORDINALITY AS pf_s(nsp, ord),
                LATERAL (SELECT pf_c.oid FROM pg_catalog.pg_class pf_c
                          WHERE pf_c.relnamespace = (SELECT pf_n.oid FROM pg_catalog.pg_namespace pf_n WHERE pf_n.nspname = pf_s.nsp)
                            AND pf_c.relname = pf_e."table" AND pf_c.relkind IN ('r', 'p')
                         OFFSET 0) AS pf_c
          ORDER BY pf_s.ord LIMIT 1) AS relid,
        (SELECT pf_c.oid
           FROM unnest(CASE WHEN pf_e.target_schema IS NULL THEN pg_catalog.current_schemas(false)::text[]
                            ELSE ARRAY[pf_e.target_schema] END) WITH ORDINALITY AS pf_s(nsp, ord),
                LATERAL (SELECT pf_c.oid FROM pg_catalog.pg_class pf_c
                          WHERE pf_c.relnamespace = (SELECT pf_n.oid FROM pg_catalog.pg_namespace pf_n WHERE pf_n.nspname = pf_s.nsp)
                            AND pf_c.relname = pf_e.target_table AND pf_c.relkind IN ('r', 'p')
                         OFFSET 0) AS pf_c
          ORDER BY pf_s.ord LIMIT 1) AS trelid
    FROM pf_entry pf_e
),
pf_present AS (
    -- The entries the upgrade acts on: table, referenced table and every column present
    -- (the others it skips, and plan / lint report them).
    SELECT pf_l.*
      FROM pf_located pf_l
     WHERE pf_l.relid IS NOT NULL AND pf_l.trelid IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM unnest(pf_l.columns) AS pf_u(col)
                        WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute pf_a
                                           WHERE pf_a.attrelid = pf_l.relid AND pf_a.attname = pf_u.col
                                             AND pf_a.attnum > 0 AND NOT pf_a.attisdropped))
),
pf_root AS (
    -- Every table a swap step touches: the manifest's tables and the tables they reference.
    SELECT pf_l.relid FROM pf_present pf_l
    UNION
    SELECT pf_l.trelid FROM pf_present pf_l
),
pf_tree (root, relid) AS (
    -- Each of them with all its partitions, at any depth (pg_partition_tree() returns nothing for
    -- a plain table, so walk pg_inherits).
    SELECT pf_r.relid, pf_r.relid FROM pf_root pf_r
    UNION ALL
    SELECT pf_t.root, pf_i.inhrelid
      FROM pf_tree pf_t
      JOIN pg_catalog.pg_inherits pf_i ON pf_i.inhparent = pf_t.relid
      JOIN pg_catalog.pg_class pf_c ON pf_c.oid = pf_i.inhrelid AND pf_c.relispartition
),
pf_member AS (
    -- Rows and sizes come from pg_class (as of the last VACUUM, ANALYZE or CREATE INDEX), never
    -- from pg_relation_size(): that locks the table, so it would queue behind a waiting ALTER
    -- TABLE (the very sessions this query reports) and, inside the revision, keep the lock.
    SELECT pf_t.root, pf_t.relid, pf_c.relkind, pf_n.nspname::text AS schema_name,
           pf_c.relname::text AS table_name,
           -- Never analyzed: reltuples is -1 (14 and later), or relpages is 0 while the
           -- statistics count live rows (13, or an ANALYZE done when the table was empty).
           pf_c.relkind <> 'p'
             AND (pf_c.reltuples < 0
                  OR (pf_c.relpages = 0 AND pg_catalog.pg_stat_get_live_tuples(pf_t.relid) > 0)) AS unanalyzed,
           CASE WHEN pf_c.relkind = 'p' THEN 0 ELSE pf_c.relpages * pf_s.block_size END AS heap_bytes,
           CASE WHEN pf_c.relkind = 'p' THEN 0
                ELSE (pf_c.relpages
                      + COALESCE((SELECT sum(pf_ic.relpages)
                                    FROM pg_catalog.pg_index pf_x
                                    JOIN pg_catalog.pg_class pf_ic ON pf_ic.oid = pf_x.indexrelid
                                   WHERE pf_x.indrelid IN (pf_t.relid, pf_c.reltoastrelid)), 0)
                      + COALESCE((SELECT pf_tc.relpages FROM pg_catalog.pg_class pf_tc
                                   WHERE pf_tc.oid = pf_c.reltoastrelid), 0)) * pf_s.block_size
           END AS total_bytes,
           CASE WHEN pf_c.relkind = 'p' THEN 0
                WHEN pf_c.reltuples >= 0
                     AND NOT (pf_c.relpages = 0 AND pg_catalog.pg_stat_get_live_tuples(pf_t.relid) > 0)
                THEN pf_c.reltuples::numeric
                WHEN pg_catalog.pg_stat_get_live_tuples(pf_t.relid) > 0
                THEN pg_catalog.pg_stat_get_live_tuples(pf_t.relid)::numeric
           END AS est_rows,
           -- Indexes a validation scan opens (and locks): those of the tables holding rows.
           CASE WHEN pf_c.relkind = 'p' THEN 0
                ELSE (SELECT count(*) FROM pg_catalog.pg_index pf_x WHERE pf_x.indrelid = pf_t.relid)
           END AS indexes
      FROM pf_tree pf_t
      JOIN pg_catalog.pg_class pf_c ON pf_c.oid = pf_t.relid
      JOIN pg_catalog.pg_namespace pf_n ON pf_n.oid = pf_c.relnamespace
      CROSS JOIN pf_setting pf_s
),
pf_rel AS (
    -- Per table: sums over itself and its partitions.
    SELECT pf_m.root,
           count(*) AS relations,
           count(*) - 1 AS partitions,
           count(*) FILTER (WHERE pf_m.relkind <> 'p') AS leaves,
           sum(pf_m.heap_bytes) AS heap_bytes,
           sum(pf_m.total_bytes) AS total_bytes,
           sum(pf_m.est_rows) AS est_rows,
           count(*) FILTER (WHERE pf_m.relkind <> 'p' AND pf_m.est_rows IS NULL) AS unknown_rows,
           count(*) FILTER (WHERE pf_m.unanalyzed) AS unanalyzed,
           sum(pf_m.indexes) AS indexes,
           min(pf_m.schema_name || '.' || pf_m.table_name) FILTER (WHERE pf_m.relid = pf_m.root) AS display,
           bool_or(pf_m.relkind = 'p' AND pf_m.relid = pf_m.root) AS partitioned
      FROM pf_member pf_m
     GROUP BY pf_m.root
),
pf_cover AS (
    -- Per entry and per table holding its rows: a valid index whose leading key columns are the
    -- FK columns in any order. A partial index counts only when its predicate is just
    -- "col IS NOT NULL" on FK columns (the FK's lookup, col = value, implies it).
    SELECT pf_l.i, pf_m.relid,
           (SELECT pf_ic.relname::text
              FROM pg_catalog.pg_index pf_x
              JOIN pg_catalog.pg_class pf_ic ON pf_ic.oid = pf_x.indexrelid
              CROSS JOIN LATERAL (
                  SELECT pg_catalog.pg_get_expr(pf_x.indpred, pf_x.indrelid) AS pred,
                         ARRAY(SELECT '(' || quote_ident(pf_u.col) || ' IS NOT NULL)'
                                 FROM unnest(pf_l.columns) AS pf_u(col)) AS allowed
              ) AS pf_p
             WHERE pf_x.indrelid = pf_m.relid AND pf_x.indisvalid
               AND pf_x.indnkeyatts >= cardinality(pf_l.columns)
               AND ARRAY(SELECT pf_a.attname::text
                           FROM unnest((string_to_array(pf_x.indkey::text, ' ')::int2[])[1:cardinality(pf_l.columns)])
                                AS pf_k(num)
                           JOIN pg_catalog.pg_attribute pf_a
                             ON pf_a.attrelid = pf_x.indrelid AND pf_a.attnum = pf_k.num
                          ORDER BY 1)
                   = ARRAY(SELECT pf_u.col FROM unnest(pf_l.columns) AS pf_u(col) ORDER BY 1)
               AND (pf_x.indpred IS NULL
                    OR pf_p.pred = ANY (pf_p.allowed)
                    OR (left(pf_p.pred, 1) = '(' AND right(pf_p.pred, 1) = ')'
                        AND NOT EXISTS (
                            SELECT 1
                              FROM regexp_split_to_table(substr(pf_p.pred, 2, length(pf_p.pred) - 2), ' AND ')
                                   AS pf_q(part)
                             WHERE pf_q.part <> ALL (pf_p.allowed))))
             ORDER BY pf_x.indpred IS NOT NULL, pf_ic.relname
             LIMIT 1) AS index_name
      FROM pf_present pf_l
      JOIN pf_member pf_m ON pf_m.root = pf_l.relid AND pf_m.relkind <> 'p'
),
pf_cost AS (
    SELECT pf_l.i, pf_l.relid, pf_l.trelid, pf_l.columns,
           pf_cr.display, pf_cr.partitioned, pf_cr.relations, pf_cr.partitions, pf_cr.leaves,
           pf_cr.heap_bytes, pf_cr.total_bytes, pf_cr.est_rows, pf_cr.unknown_rows, pf_cr.unanalyzed,
           pf_tr.display AS target_display, pf_tr.est_rows AS target_rows,
           pf_tr.total_bytes AS target_bytes,
           (SELECT count(*) FROM pf_cover pf_v WHERE pf_v.i = pf_l.i AND pf_v.index_name IS NOT NULL)
             AS covered_leaves,
           (SELECT min(pf_v.index_name) FROM pf_cover pf_v WHERE pf_v.i = pf_l.i) AS index_name,
           -- The relations one swap step locks (the usual rule of thumb): both tables and their partitions.
           pf_cr.relations + CASE WHEN pf_l.trelid = pf_l.relid THEN 0 ELSE pf_tr.relations END
             AS step_relations,
           -- Lock slots it takes, as measured on PostgreSQL 15 and 18 (see the docs' preflight page):
           -- those relations, the indexes of the tables holding rows (the validation's join opens
           -- them), four object locks per FK clone (its constraint and triggers: three on 15),
           -- six for the FK itself, and up to six for pg_constraint and its indexes.
           pf_cr.relations + pf_cr.indexes
             + CASE WHEN pf_l.trelid = pf_l.relid THEN 0 ELSE pf_tr.relations + pf_tr.indexes END
             + 4 * (pf_cr.partitions + CASE WHEN pf_l.trelid = pf_l.relid THEN 0 ELSE pf_tr.partitions END)
             + 12 AS step_locks,
           CASE WHEN pf_cr.unanalyzed > 0 THEN 'unknown'
                WHEN pf_cr.heap_bytes = 0 THEN 'none'
                WHEN pf_cr.heap_bytes < 10 * 1024 * 1024 THEN 'trivial'
                WHEN pf_cr.heap_bytes < 1024 * 1024 * 1024 THEN 'small'
                WHEN pf_cr.heap_bytes < 10 * 1024::bigint * 1024 * 1024 THEN 'medium'
                ELSE 'large' END AS cost
      FROM pf_present pf_l
      JOIN pf_rel pf_cr ON pf_cr.root = pf_l.relid
      JOIN pf_rel pf_tr ON pf_tr.root = pf_l.trelid
),
pf_session AS (
    -- Other sessions of this database (never this backend or its parallel workers).
    SELECT pf_a.pid, pf_a.usename::text AS usename, pf_a.application_name, pf_a.backend_type,
           pf_a.state, pf_a.xact_start, pf_a.backend_xmin, pf_a.wait_event_type, pf_a.wait_event,
           left(regexp_replace(pf_a.query, '\s+', ' ', 'g'), 80) AS query,
           round(extract(epoch FROM pg_catalog.clock_timestamp() - pf_a.xact_start)::numeric, 1) AS age,
           'pid ' || pf_a.pid
             || ' (' || concat_ws(', ',
                  NULLIF(pf_a.application_name, ''),
                  CASE WHEN pf_a.backend_type <> 'client backend' THEN pf_a.backend_type END,
                  'user ' || pf_a.usename,
                  pf_a.state
                    || COALESCE(', transaction open '
                                || round(extract(epoch FROM pg_catalog.clock_timestamp() - pf_a.xact_start)::numeric)
                                || ' s', ''))
             || ')' AS who
      FROM pg_catalog.pg_stat_activity pf_a
      CROSS JOIN pf_setting pf_s
     WHERE pf_a.datid = pf_s.dboid AND pf_a.pid <> pf_s.me
       AND pf_a.leader_pid IS DISTINCT FROM pf_s.me
),
pf_watch AS (
    SELECT pf_m.relid, min(pf_m.root) AS root, min(pf_m.schema_name || '.' || pf_m.table_name) AS display
      FROM pf_member pf_m
     GROUP BY pf_m.relid
),
pf_lock AS (
    SELECT pf_k.pid, pf_k.relation, pf_k.granted, pf_k.virtualtransaction,
           string_agg(DISTINCT pf_k.mode, ', ') AS modes,
           -- A prepared transaction has no backend: name it by its gid.
           (SELECT pf_p.gid FROM pg_catalog.pg_locks pf_t
              JOIN pg_catalog.pg_prepared_xacts pf_p ON pf_p.transaction = pf_t.transactionid
             WHERE pf_k.pid IS NULL AND pf_t.pid IS NULL AND pf_t.locktype = 'transactionid'
               AND pf_t.virtualtransaction = pf_k.virtualtransaction
             LIMIT 1) AS gid
      FROM pg_catalog.pg_locks pf_k
      CROSS JOIN pf_setting pf_s
     WHERE pf_k.locktype = 'relation' AND pf_k.database = pf_s.dboid
       AND pf_k.relation IN (SELECT pf_w.relid FROM pf_watch pf_w)
       AND pf_k.pid IS DISTINCT FROM pf_s.me
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity pf_a
                        WHERE pf_a.pid = pf_k.pid AND pf_a.leader_pid = pf_s.me)
     GROUP BY pf_k.pid, pf_k.relation, pf_k.granted, pf_k.virtualtransaction
),
pf_finding (severity, kind, object, message, detail, sort_key) AS (
    -- Transactions open longer than the threshold.
    SELECT 'warning', 'long_transaction', 'pid ' || pf_a.pid,
           pf_a.who || ' has had its transaction open longer than ' || pf_s.long_seconds::float8
             || ' s: a swap waits for it if it holds a lock on a table the swap changes, and locks'
             || ' it takes later queue behind the swap'
             || CASE WHEN pf_a.backend_xmin IS NOT NULL
                     THEN '; it holds a snapshot, so CREATE INDEX CONCURRENTLY waits for it to end'
                     ELSE '' END
             || '; query: ' || COALESCE(pf_a.query, '(not visible)'),
           jsonb_build_object('pid', pf_a.pid, 'state', pf_a.state, 'age_seconds', pf_a.age,
                              'application_name', pf_a.application_name, 'user', pf_a.usename,
                              'backend_type', pf_a.backend_type, 'query', pf_a.query,
                              'holds_snapshot', pf_a.backend_xmin IS NOT NULL,
                              'threshold_seconds', pf_s.long_seconds),
           lpad(pf_a.pid::text, 10, '0')
      FROM pf_session pf_a
      CROSS JOIN pf_setting pf_s
     WHERE pf_a.xact_start IS NOT NULL
       AND pg_catalog.clock_timestamp() - pf_a.xact_start >= pf_s.long_seconds * interval '1 second'
    UNION ALL
    -- Prepared transactions keep their locks until COMMIT PREPARED / ROLLBACK PREPARED.
    SELECT 'warning', 'long_transaction', 'prepared transaction ' || quote_literal(pf_p.gid),
           'prepared transaction ' || quote_literal(pf_p.gid) || ' (owner ' || pf_p.owner || ') has been '
             || 'waiting for COMMIT PREPARED or ROLLBACK PREPARED for '
             || round(extract(epoch FROM pg_catalog.clock_timestamp() - pf_p.prepared)) || ' s: it keeps '
             || 'its locks until then',
           jsonb_build_object('gid', pf_p.gid, 'owner', pf_p.owner,
                              'age_seconds', round(extract(epoch FROM pg_catalog.clock_timestamp() - pf_p.prepared)::numeric, 1)),
           pf_p.gid
      FROM pg_catalog.pg_prepared_xacts pf_p
      CROSS JOIN pf_setting pf_s
     WHERE pf_p.database = pg_catalog.current_database()
       AND pg_catalog.clock_timestamp() - pf_p.prepared >= pf_s.long_seconds * interval '1 second'
    UNION ALL
    -- Sessions holding or waiting for a lock on a table a swap step locks.
    SELECT CASE WHEN pf_k.granted AND pf_a.backend_type = 'autovacuum worker'
                     AND strpos(pf_a.query, 'to prevent wraparound') = 0 THEN 'info'
                WHEN pf_k.granted AND pf_a.state = 'active' AND pf_a.age < 1 THEN 'info'
                ELSE 'warning' END,
           'lock', pf_w.display,
           COALESCE(pf_a.who, CASE WHEN pf_k.pid IS NULL
                                   THEN 'prepared transaction ' || COALESCE(quote_literal(pf_k.gid), '(unknown gid)')
                                   ELSE 'pid ' || pf_k.pid END)
             || CASE WHEN pf_k.granted THEN ' holds ' ELSE ' waits for ' END || pf_k.modes || ' on '
             || pf_w.display
             || CASE WHEN pf_w.relid <> pf_w.root
                     THEN ' (a partition of ' || (SELECT pf_r.display FROM pf_rel pf_r WHERE pf_r.root = pf_w.root) || ')'
                     ELSE '' END
             || CASE WHEN NOT pf_k.granted AND pf_k.pid IS NOT NULL
                          AND cardinality(pg_catalog.pg_blocking_pids(pf_k.pid)) > 0
                     THEN ' behind pid ' || array_to_string(pg_catalog.pg_blocking_pids(pf_k.pid), ', pid ')
                     ELSE '' END
             || CASE WHEN pf_k.granted AND pf_a.backend_type = 'autovacuum worker'
                     THEN ': autovacuum gives its lock up when a swap asks for it'
                     WHEN pf_k.granted AND pf_a.state = 'active' AND pf_a.age < 1
                     THEN ': a short statement, which the swap''s lock retries outlast'
                     WHEN pf_k.granted AND pf_k.pid IS NULL
                     THEN ': a swap on this table waits until COMMIT PREPARED or ROLLBACK PREPARED'
                     WHEN pf_k.granted THEN ': a swap on this table waits until that transaction ends'
                     ELSE ': a swap on this table would queue behind it' END
             || COALESCE('; query: ' || pf_a.query, ''),
           jsonb_build_object('pid', pf_k.pid, 'gid', pf_k.gid, 'table', pf_w.display, 'modes', pf_k.modes,
                              'granted', pf_k.granted, 'state', pf_a.state, 'age_seconds', pf_a.age,
                              'application_name', pf_a.application_name, 'query', pf_a.query,
                              'blocked_by', CASE WHEN pf_k.pid IS NOT NULL AND NOT pf_k.granted
                                                 THEN to_jsonb(pg_catalog.pg_blocking_pids(pf_k.pid)) END),
           lpad(COALESCE(pf_k.pid, 0)::text, 10, '0') || pf_k.modes
      FROM pf_lock pf_k
      JOIN pf_watch pf_w ON pf_w.relid = pf_k.relation
      LEFT JOIN pf_session pf_a ON pf_a.pid = pf_k.pid
    UNION ALL
    -- PostgreSQL 17 and earlier refuse NOT VALID FKs on partitioned tables: the swap adds the FK
    -- validated, scanning every partition while it holds its locks on both tables.
    SELECT CASE WHEN pf_c.cost IN ('none', 'trivial', 'unknown') THEN 'info' ELSE 'warning' END,
           'partitioned_swap', pf_c.display || '(' || array_to_string(pf_c.columns, ', ') || ')',
           pf_c.display || ' is partitioned and this is PostgreSQL '
             || (pf_s.version_num / 10000) || ': NOT VALID is refused on partitioned tables before 18, so '
             || 'the swap validates the new FK inside its own transaction, holding SHARE ROW EXCLUSIVE (writes wait) on '
             || pf_c.display || ' and ' || pf_c.target_display || ' while it scans '
             || CASE WHEN pf_c.unknown_rows = 0 THEN 'about ' || pf_c.est_rows || ' rows' ELSE 'its rows' END
             || CASE WHEN pf_c.leaves = 0 THEN ' (it has no partitions yet)'
                     ELSE ' in ' || pf_c.leaves || ' partition(s) ('
                          || CASE WHEN pf_c.unanalyzed = 0 THEN pg_catalog.pg_size_pretty(pf_c.heap_bytes)
                                  ELSE 'size unknown until ANALYZE' END || ')' END,
           jsonb_build_object('table', pf_c.display, 'columns', to_jsonb(pf_c.columns),
                              'target', pf_c.target_display, 'rows_estimate', pf_c.est_rows,
                              'heap_bytes', pf_c.heap_bytes, 'partitions', pf_c.partitions,
                              'cost', pf_c.cost, 'server_version_num', pf_s.version_num),
           lpad(pf_c.i::text, 10, '0')
      FROM pf_cost pf_c
      CROSS JOIN pf_setting pf_s
     WHERE pf_c.partitioned AND pf_s.version_num < 180000
    UNION ALL
    -- max_locks_per_transaction against the largest swap step.
    SELECT CASE WHEN pf_c.step_locks > pf_s.max_locks THEN 'warning' ELSE 'info' END,
           'max_locks', 'max_locks_per_transaction',
           'the largest swap step (' || pf_c.display || ' -> ' || pf_c.target_display || ') locks '
             || pf_c.step_relations || ' relation(s), about ' || pf_c.step_locks
             || ' lock slots with their indexes and the constraint and trigger locks; '
             || 'max_locks_per_transaction = ' || pf_s.max_locks
             || CASE WHEN pf_c.step_locks > pf_s.max_locks
                     THEN ' is too low: the step can fail with "out of shared memory" while other '
                          || 'sessions hold locks. Set max_locks_per_transaction = '
                          || (ceil(pf_c.step_locks / 64.0) * 64)::bigint
                          || ' (a server restart is needed)'
                     ELSE ' is enough' END,
           jsonb_build_object('table', pf_c.display, 'columns', to_jsonb(pf_c.columns),
                              'target', pf_c.target_display,
                              'relations', pf_c.step_relations, 'lock_slots', pf_c.step_locks,
                              'max_locks_per_transaction', pf_s.max_locks,
                              'suggested', CASE WHEN pf_c.step_locks > pf_s.max_locks
                                                THEN (ceil(pf_c.step_locks / 64.0) * 64)::bigint END,
                              'shared_lock_slots', pf_s.max_locks * (pf_s.max_connections + pf_s.max_prepared)),
           ''
      FROM (SELECT pf_x.* FROM pf_cost pf_x
             ORDER BY pf_x.step_locks DESC, pf_x.i LIMIT 1) AS pf_c
      CROSS JOIN pf_setting pf_s
    UNION ALL
    -- Per present entry: what validating its FK (and indexing it) costs.
    SELECT 'info', 'table', pf_c.display || '(' || array_to_string(pf_c.columns, ', ') || ')',
           pf_c.display || '(' || array_to_string(pf_c.columns, ', ') || '): '
             || CASE WHEN pf_c.leaves > 0 AND pf_c.unknown_rows = pf_c.leaves THEN 'rows unknown'
                     ELSE 'about ' || pf_c.est_rows || ' rows'
                          || CASE WHEN pf_c.unknown_rows > 0
                                  THEN ' (and unknown in ' || pf_c.unknown_rows || ' partition(s))'
                                  ELSE '' END END
             || ', ' || CASE WHEN pf_c.unanalyzed = 0
                             THEN pg_catalog.pg_size_pretty(pf_c.total_bytes) || ' in total'
                             ELSE 'size unknown' END
             || CASE WHEN pf_c.partitioned THEN ', summed over ' || pf_c.leaves || ' partition(s)' ELSE '' END
             || '; '
             || CASE WHEN pf_c.leaves = 0 THEN 'no partitions yet'
                     WHEN pf_c.covered_leaves = pf_c.leaves
                     THEN 'indexed' || CASE WHEN pf_c.partitioned THEN ' on every partition'
                                            ELSE ' (' || pf_c.index_name || ')' END
                     WHEN pf_c.covered_leaves > 0
                     THEN 'indexed on ' || pf_c.covered_leaves || ' of ' || pf_c.leaves || ' partitions'
                     ELSE 'not indexed: deleting a ' || pf_c.target_display || ' row scans this table'
                          || ' (the upgrade builds the index first when create_indexes is on)' END
             || '; validation cost ' || pf_c.cost
             || CASE pf_c.cost WHEN 'unknown' THEN ' (never analyzed: run ANALYZE for estimates)'
                               WHEN 'none' THEN ' (empty)'
                               WHEN 'trivial' THEN ' (under 10 MB to scan)'
                               WHEN 'small' THEN ' (under 1 GB to scan: seconds)'
                               WHEN 'medium' THEN ' (under 10 GB to scan: minutes)'
                               ELSE ' (10 GB or more to scan: VALIDATE may take a long time)' END,
           jsonb_build_object('table', pf_c.display, 'columns', to_jsonb(pf_c.columns),
                              'target', pf_c.target_display, 'partitioned', pf_c.partitioned,
                              'partitions', pf_c.partitions,
                              'rows_estimate', pf_c.est_rows, 'rows_unknown_in', pf_c.unknown_rows,
                              'unanalyzed', pf_c.unanalyzed,
                              'heap_bytes', pf_c.heap_bytes, 'total_bytes', pf_c.total_bytes,
                              'indexed', pf_c.leaves > 0 AND pf_c.covered_leaves = pf_c.leaves,
                              'indexed_partitions', pf_c.covered_leaves, 'index', pf_c.index_name,
                              'cost', pf_c.cost, 'target_rows_estimate', pf_c.target_rows,
                              'target_total_bytes', pf_c.target_bytes,
                              'step_relations', pf_c.step_relations, 'step_lock_slots', pf_c.step_locks),
           lpad(pf_c.i::text, 10, '0')
      FROM pf_cost pf_c
    UNION ALL
    SELECT 'info', 'visibility', 'pg_stat_activity',
           'this role (' || current_user || ') is not a member of pg_read_all_stats: other roles'' '
             || 'sessions show no state, transaction start or query, so their long transactions are '
             || 'not reported (their locks are)',
           jsonb_build_object('role', current_user),
           ''
      FROM pf_setting pf_s
     WHERE NOT pf_s.sees_all
)
SELECT pf_f.severity, pf_f.kind, pf_f.object, pf_f.message, pf_f.detail
  FROM pf_finding pf_f
 ORDER BY CASE pf_f.severity WHEN 'warning' THEN 0 ELSE 1 END,
          CASE pf_f.kind WHEN 'long_transaction' THEN 0 WHEN 'lock' THEN 1 WHEN 'partitioned_swap' THEN 2
                         WHEN 'max_locks' THEN 3 WHEN 'table' THEN 4 ELSE 5 END,
          pf_f.sort_key, pf_f.object
