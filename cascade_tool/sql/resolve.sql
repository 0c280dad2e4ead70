-- cascade-tool catalog lookup: one row per manifest entry and matching foreign key.
-- Input: a JSON array of entries in place of the NULL below (see manifest.py, entry_payload).
-- `plan`, `verify` and `verify --print-sql` run this query, and every generated revision embeds
-- it, so the deploy and the checks find the same constraints in the same way.
-- Reads pg_catalog only. Identifiers in the statements it builds are quoted by quote_ident().
WITH RECURSIVE
entry AS (
    SELECT x.*
    FROM jsonb_to_recordset(/*entries*/NULL::jsonb) AS x(
        i integer, schema text, "table" text, columns text[],
        target_schema text, target_table text, "references" text[],
        on_delete text, optional boolean, orphans text, add_unique boolean, validate text)
),
located AS (
    -- An unqualified name resolves like PostgreSQL does: first schema on search_path. Each schema
    -- looked up by name (OFFSET 0: through the catalog's indexes), so a database of thousands of
    -- schemas holding tables of the same names costs what one schema does.
    SELECT e.*,
        (SELECT c.oid
           FROM unnest(CASE WHEN e.schema IS NULL THEN pg_catalog.current_schemas(false)::text[]
                            ELSE ARRAY[e.schema] END) WITH ORDINALITY AS s(nsp, ord),
                LATERAL (SELECT c.oid FROM pg_catalog.pg_class c
                          WHERE c.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = s.nsp)
                            AND c.relname = e."table" AND c.relkind IN ('r', 'p')
                         OFFSET 0) AS c
          ORDER BY s.ord LIMIT 1) AS relid,
        (SELECT c.oid
           FROM unnest(CASE WHEN e.target_schema IS NULL THEN pg_catalog.current_schemas(false)::text[]
                            ELSE ARRAY[e.target_schema] END) WITH ORDINALITY AS s(nsp, ord),
                LATERAL (SELECT c.oid FROM pg_catalog.pg_class c
                          WHERE c.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = s.nsp)
                            AND c.relname = e.target_table AND c.relkind IN ('r', 'p')
                         OFFSET 0) AS c
          ORDER BY s.ord LIMIT 1) AS trelid
    FROM entry e
),
checked AS (
    SELECT l.*,
        ARRAY(SELECT k.name FROM unnest(l.columns) WITH ORDINALITY AS k(name, ord)
               WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                                  WHERE a.attrelid = l.relid AND a.attname = k.name
                                    AND a.attnum > 0 AND NOT a.attisdropped)
               ORDER BY k.ord) AS missing_columns,
        COALESCE(l."references",
            (SELECT array_agg(a.attname ORDER BY k.ord)
               FROM pg_catalog.pg_constraint p,
                    unnest(p.conkey) WITH ORDINALITY AS k(num, ord),
                    pg_catalog.pg_attribute a
              WHERE p.conrelid = l.trelid AND p.contype = 'p'
                AND a.attrelid = p.conrelid AND a.attnum = k.num)) AS refs
    FROM located l
),
targeted AS (
    SELECT c.*,
        ARRAY(SELECT k.name FROM unnest(c.refs) WITH ORDINALITY AS k(name, ord)
               WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                                  WHERE a.attrelid = c.trelid AND a.attname = k.name
                                    AND a.attnum > 0 AND NOT a.attisdropped)
               ORDER BY k.ord) AS missing_refs,
        EXISTS (SELECT 1 FROM pg_catalog.pg_index x
                 WHERE x.indrelid = c.trelid AND x.indisunique AND x.indisvalid
                   AND x.indpred IS NULL AND x.indexprs IS NULL
                   AND x.indnkeyatts = cardinality(c.refs)
                   AND ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
                              WHERE a.attrelid = c.trelid
                                AND a.attnum = ANY ((string_to_array(x.indkey::text, ' ')::int2[])[1:x.indnkeyatts])
                              ORDER BY 1)
                       = ARRAY(SELECT r FROM unnest(c.refs) AS r ORDER BY 1)) AS refs_unique
    FROM checked c
),
fk AS (
    SELECT con.oid, con.conname, con.conrelid, con.confrelid, con.confdeltype,
           con.confupdtype, con.confmatchtype, con.convalidated,
           COALESCE((to_jsonb(con) ->> 'conenforced')::boolean, true) AS enforced,
           ARRAY(SELECT a.attname::text
                   FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
                  ORDER BY k.ord) AS cols,
           ARRAY(SELECT a.attname::text
                   FROM unnest(con.confkey) WITH ORDINALITY AS k(num, ord)
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
                  ORDER BY k.ord) AS refcols,
           -- ON DELETE SET NULL (col, ...) exists from PostgreSQL 15; to_jsonb keeps 13/14 working.
           ARRAY(SELECT a.attname::text
                   FROM jsonb_array_elements_text(
                          CASE WHEN jsonb_typeof(to_jsonb(con) -> 'confdelsetcols') = 'array'
                               THEN to_jsonb(con) -> 'confdelsetcols' ELSE '[]'::jsonb END)
                        WITH ORDINALITY AS k(num, ord)
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num::int2
                  ORDER BY k.ord) AS setcols,
           pg_catalog.pg_get_constraintdef(con.oid) AS def
    -- Per table, through the index on conrelid (OFFSET 0 keeps it a nested loop: a schema with
    -- thousands of tables, such as many tenants in one database, costs what a small one does).
    FROM (SELECT DISTINCT relid FROM located WHERE relid IS NOT NULL) AS lr,
         LATERAL (SELECT * FROM pg_catalog.pg_constraint c
                   WHERE c.conrelid = lr.relid AND c.contype = 'f' AND c.conparentid = 0
                  OFFSET 0) AS con
),
inherited AS MATERIALIZED (
    -- pg_constraint has no index on conparentid: read the (few) clone rows once, and only when
    -- one of the FKs is on or references a partitioned table (only those have clones).
    SELECT c.oid, c.conparentid, c.conrelid, c.confrelid, c.conname
      FROM pg_catalog.pg_constraint c
     WHERE c.contype = 'f' AND c.conparentid <> 0
       AND EXISTS (SELECT 1 FROM fk f,
                           LATERAL (SELECT 1 FROM pg_catalog.pg_class p
                                     WHERE p.oid IN (f.conrelid, f.confrelid) AND p.relkind = 'p' OFFSET 0) AS p)
),
clone (root, oid, conrelid, confrelid, conname) AS (
    -- Per-partition copies of an FK declared on a partitioned table (and of FKs that reference
    -- a partitioned table). PostgreSQL re-creates them with the parent; we restore their names.
    SELECT f.oid, c.oid, c.conrelid, c.confrelid, c.conname
      FROM fk f JOIN inherited c ON c.conparentid = f.oid
    UNION ALL
    SELECT cl.root, c.oid, c.conrelid, c.confrelid, c.conname
      FROM clone cl JOIN inherited c ON c.conparentid = cl.oid
),
clones AS (
    SELECT cl.root,
           jsonb_agg(jsonb_build_object(
               'schema', n.nspname, 'table', r.relname,
               'ref_schema', fn.nspname, 'ref_table', fr.relname, 'name', cl.conname)
             ORDER BY n.nspname, r.relname, fn.nspname, fr.relname) AS list
      FROM clone cl
      JOIN pg_catalog.pg_class r ON r.oid = cl.conrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
      JOIN pg_catalog.pg_class fr ON fr.oid = cl.confrelid
      JOIN pg_catalog.pg_namespace fn ON fn.oid = fr.relnamespace
     GROUP BY cl.root
),
matched AS (
    SELECT t.i, f.*
      FROM targeted t
      JOIN fk f ON f.conrelid = t.relid AND f.confrelid = t.trelid
     WHERE CASE WHEN t."references" IS NULL
                THEN ARRAY(SELECT x FROM unnest(f.cols) AS x ORDER BY 1)
                   = ARRAY(SELECT x FROM unnest(t.columns) AS x ORDER BY 1)
                ELSE (SELECT jsonb_agg(jsonb_build_array(a, b) ORDER BY a, b)
                        FROM unnest(f.cols, f.refcols) AS u(a, b))
                   = (SELECT jsonb_agg(jsonb_build_array(a, b) ORDER BY a, b)
                        FROM unnest(t.columns, t."references") AS u(a, b))
           END
),
named AS MATERIALIZED (
    SELECT t.*,
           r.nspname AS table_schema, r.relname AS table_name, r.relkind,
           tr.nspname AS target_schema_found, tr.relname AS target_name_found,
           quote_ident(r.nspname) || '.' || quote_ident(r.relname) AS q_table,
           quote_ident(tr.nspname) || '.' || quote_ident(tr.relname) AS q_target,
           CASE WHEN t.relid IS NULL THEN NULL
                WHEN pg_catalog.pg_table_is_visible(t.trelid) THEN quote_ident(tr.relname)
                ELSE quote_ident(tr.nspname) || '.' || quote_ident(tr.relname) END AS printed_target,
           COALESCE(mc.matches, 0) AS matches
      FROM targeted t
      LEFT JOIN (SELECT i, count(*) AS matches FROM matched GROUP BY i) AS mc ON mc.i = t.i
      -- by oid, one row each (OFFSET 0: an index lookup, not a scan of pg_class)
      LEFT JOIN LATERAL (SELECT n.nspname, c.relname, c.relkind
                           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                          WHERE c.oid = t.relid OFFSET 0) AS r ON true
      LEFT JOIN LATERAL (SELECT n.nspname, c.relname
                           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                          WHERE c.oid = t.trelid OFFSET 0) AS tr ON true
),
parts AS MATERIALIZED (
    SELECT nm.*, m.oid AS fk_oid, m.conname, m.cols AS fk_columns, m.convalidated, m.enforced, m.def,
           CASE m.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT'
                WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END
             || CASE WHEN cardinality(m.setcols) > 0
                     THEN ' (' || array_to_string(ARRAY(SELECT quote_ident(x) FROM unnest(m.setcols) WITH ORDINALITY AS u(x, o) ORDER BY o), ', ') || ')'
                     ELSE '' END AS current_action,
           'FOREIGN KEY (' || array_to_string(ARRAY(SELECT quote_ident(x) FROM unnest(m.cols) WITH ORDINALITY AS u(x, o) ORDER BY o), ', ')
             || ') REFERENCES ' AS head_cols,
           '(' || array_to_string(ARRAY(SELECT quote_ident(x) FROM unnest(m.refcols) WITH ORDINALITY AS u(x, o) ORDER BY o), ', ') || ')' AS head_refs,
           CASE m.confmatchtype WHEN 'f' THEN ' MATCH FULL' WHEN 'p' THEN ' MATCH PARTIAL' ELSE '' END
             || CASE m.confupdtype WHEN 'r' THEN ' ON UPDATE RESTRICT' WHEN 'c' THEN ' ON UPDATE CASCADE'
                     WHEN 'n' THEN ' ON UPDATE SET NULL' WHEN 'd' THEN ' ON UPDATE SET DEFAULT' ELSE '' END AS head_match_update,
           CASE m.confdeltype WHEN 'r' THEN ' ON DELETE RESTRICT' WHEN 'c' THEN ' ON DELETE CASCADE'
                WHEN 'n' THEN ' ON DELETE SET NULL' WHEN 'd' THEN ' ON DELETE SET DEFAULT' ELSE '' END
             || CASE WHEN cardinality(m.setcols) > 0
                     THEN ' (' || array_to_string(ARRAY(SELECT quote_ident(x) FROM unnest(m.setcols) WITH ORDINALITY AS u(x, o) ORDER BY o), ', ') || ')'
                     ELSE '' END AS head_delete,
           CASE nm.on_delete WHEN 'NO ACTION' THEN '' ELSE ' ON DELETE ' || nm.on_delete END AS new_delete,
           cl.list AS clones
      FROM named nm
      LEFT JOIN matched m ON m.i = nm.i
      LEFT JOIN clones cl ON cl.root = m.oid
),
defs AS MATERIALIZED (
    -- pg_get_constraintdef() prints: FOREIGN KEY (cols) REFERENCES target(cols) [MATCH ...]
    -- [ON UPDATE ...] [ON DELETE ...] and then whatever else the server knows (DEFERRABLE,
    -- INITIALLY DEFERRED, NOT VALID, NOT ENFORCED, ...). We rebuild the head from the catalog,
    -- check that it is exactly what the server printed, and keep the rest verbatim: so every
    -- property but ON DELETE survives, including ones newer servers add.
    SELECT p.*,
           p.head_cols || p.printed_target || p.head_refs || p.head_match_update || p.head_delete AS printed_head,
           p.head_cols || p.q_target || p.head_refs || p.head_match_update AS qualified_head
      FROM parts p
),
final AS MATERIALIZED (
    SELECT d.*,
           CASE WHEN d.fk_oid IS NULL THEN NULL
                WHEN left(d.def, length(d.printed_head)) = d.printed_head
                THEN substr(d.def, length(d.printed_head) + 1) END AS tail,
           -- Online swaps add the new FK NOT VALID and validate it in a later transaction.
           -- PostgreSQL 17 and earlier refuse NOT VALID FKs on partitioned tables: there the
           -- add validates at once (the docs' deploying page says what that locks).
           (d.relkind IS DISTINCT FROM 'p'
             OR pg_catalog.current_setting('server_version_num')::int >= 180000) AS not_valid_ok,
           -- The new FK's name while both exist: a hash (28 bytes), never a truncation of the old one.
           'cascade_tmp_' || substr(md5(COALESCE(d.q_table, '') || ' ' || COALESCE(d.conname, '')), 1, 16) AS tmp_name,
           -- A created FK gets PostgreSQL's usual <table>_<columns>_fkey, or a hash when that is
           -- too long or taken, so plan can print the VALIDATE statement by name.
           CASE WHEN d.fk_oid IS NULL AND d.relid IS NOT NULL THEN
               CASE WHEN octet_length(d.table_name || '_' || array_to_string(d.columns, '_') || '_fkey') <= 63
                     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x
                                      WHERE x.conrelid = d.relid
                                        AND x.conname = d.table_name || '_' || array_to_string(d.columns, '_') || '_fkey')
                    THEN d.table_name || '_' || array_to_string(d.columns, '_') || '_fkey'
                    ELSE 'fk_' || substr(md5(d.q_table || '(' || array_to_string(d.columns, ',') || ')'), 1, 24)
               END
           END AS create_name
      FROM defs d
)
SELECT
    f.i,
    CASE
        WHEN f.relid IS NULL THEN 'missing_table'
        WHEN f.trelid IS NULL THEN 'missing_target'
        WHEN cardinality(f.missing_columns) > 0 THEN 'missing_columns'
        WHEN f.fk_oid IS NOT NULL AND f.tail IS NULL THEN 'unparseable'
        WHEN f.fk_oid IS NOT NULL AND f.current_action <> f.on_delete THEN 'convert'
        WHEN f.fk_oid IS NOT NULL AND NOT f.enforced THEN 'not_enforced'
        WHEN f.fk_oid IS NOT NULL AND NOT f.convalidated THEN 'not_valid'
        WHEN f.fk_oid IS NOT NULL THEN 'ok'
        WHEN f.refs IS NULL THEN 'no_primary_key'
        WHEN cardinality(f.missing_refs) > 0 THEN 'missing_references'
        WHEN NOT f.refs_unique THEN 'not_unique'
        ELSE 'create'
    END AS status,
    CASE
        WHEN f.relid IS NULL THEN 'table does not exist'
        WHEN f.trelid IS NULL THEN 'referenced table '
             || COALESCE(f.target_schema || '.', '') || f.target_table || ' does not exist'
        WHEN cardinality(f.missing_columns) > 0 THEN 'column ' || array_to_string(f.missing_columns, ', ')
             || ' does not exist'
        WHEN f.fk_oid IS NOT NULL AND f.tail IS NULL THEN 'cannot read the definition of '
             || f.conname || ': ' || f.def
        WHEN f.fk_oid IS NOT NULL AND f.current_action <> f.on_delete THEN 'ON DELETE '
             || f.current_action || ' -> ' || f.on_delete
        WHEN f.fk_oid IS NOT NULL AND NOT f.enforced THEN 'ON DELETE ' || f.current_action || ' but NOT ENFORCED'
        WHEN f.fk_oid IS NOT NULL AND NOT f.convalidated THEN 'ON DELETE ' || f.current_action || ' but NOT VALID'
        WHEN f.fk_oid IS NOT NULL THEN 'already ON DELETE ' || f.current_action
        WHEN f.refs IS NULL THEN 'referenced table ' || f.target_name_found || ' has no primary key; name references'
        WHEN cardinality(f.missing_refs) > 0 THEN 'referenced column ' || array_to_string(f.missing_refs, ', ')
             || ' does not exist'
        WHEN NOT f.refs_unique THEN 'referenced columns (' || array_to_string(f.refs, ', ')
             || ') of ' || f.target_name_found || ' have no unique constraint'
        ELSE 'no foreign key yet: one will be created'
    END AS detail,
    f.optional,
    COALESCE(f.orphans, 'fail') AS orphans,
    COALESCE(f.add_unique, false) AS add_unique,
    -- "later": the revision leaves the FKs it swaps or creates NOT VALID, their validation pending
    COALESCE(f.validate, 'now') AS validate,
    f.on_delete AS wanted_action,
    COALESCE(f.table_schema || '.' || f.table_name, COALESCE(f.schema || '.', '') || f."table") AS table_display,
    COALESCE(f.target_schema_found || '.' || f.target_name_found,
             COALESCE(f.target_schema || '.', '') || f.target_table) AS target_display,
    f.table_schema, f.table_name, f.q_table, f.q_target, f.relkind = 'p' AS partitioned,
    COALESCE(f.fk_columns, f.columns) AS columns,
    f.refs AS references_columns,
    f.fk_oid,
    f.conname,
    f.current_action,
    f.convalidated AS validated,
    f.matches,
    CASE
        WHEN f.fk_oid IS NOT NULL AND f.tail IS NOT NULL THEN f.qualified_head || f.head_delete || f.tail
    END AS old_def,
    CASE
        WHEN f.fk_oid IS NOT NULL AND f.tail IS NOT NULL THEN f.qualified_head || f.new_delete || f.tail
    END AS new_def,
    CASE
        WHEN f.fk_oid IS NOT NULL AND f.tail IS NOT NULL AND f.current_action <> f.on_delete
        THEN ARRAY[
            'ALTER TABLE ' || f.q_table || ' ADD CONSTRAINT ' || quote_ident(f.tmp_name) || ' '
                || f.qualified_head || f.new_delete || f.tail
                || CASE WHEN f.convalidated AND f.not_valid_ok THEN ' NOT VALID' ELSE '' END,
            'ALTER TABLE ' || f.q_table || ' DROP CONSTRAINT ' || quote_ident(f.conname),
            'ALTER TABLE ' || f.q_table || ' RENAME CONSTRAINT ' || quote_ident(f.tmp_name)
                || ' TO ' || quote_ident(f.conname)]
        WHEN f.fk_oid IS NULL AND f.relid IS NOT NULL AND f.trelid IS NOT NULL
             AND cardinality(f.missing_columns) = 0 AND f.refs IS NOT NULL
             AND cardinality(f.missing_refs) = 0 AND f.refs_unique
        THEN ARRAY['ALTER TABLE ' || f.q_table || ' ADD CONSTRAINT ' || quote_ident(f.create_name) || ' FOREIGN KEY ('
             || array_to_string(ARRAY(SELECT quote_ident(x) FROM unnest(f.columns) WITH ORDINALITY AS u(x, o) ORDER BY o), ', ')
             || ') REFERENCES ' || f.q_target || ' ('
             || array_to_string(ARRAY(SELECT quote_ident(x) FROM unnest(f.refs) WITH ORDINALITY AS u(x, o) ORDER BY o), ', ')
             || ')' || f.new_delete
             || CASE WHEN f.not_valid_ok THEN ' NOT VALID' ELSE '' END]
    END AS swap_sql,
    -- The swap left a NOT VALID FK that must be validated (in its own transaction).
    CASE
        WHEN f.fk_oid IS NOT NULL AND f.tail IS NOT NULL AND f.current_action <> f.on_delete
        THEN f.convalidated AND f.not_valid_ok
        WHEN f.fk_oid IS NULL THEN f.not_valid_ok
        ELSE false
    END AS validate_after,
    'ALTER TABLE ' || f.q_table || ' VALIDATE CONSTRAINT ' || quote_ident(COALESCE(f.conname, f.create_name)) AS validate_sql,
    f.tmp_name,
    f.create_name,
    CASE
        WHEN f.relid IS NOT NULL AND f.trelid IS NOT NULL
             AND cardinality(f.missing_columns) = 0 AND f.refs IS NOT NULL
             AND cardinality(f.missing_refs) = 0
        THEN 'SELECT count(*) FROM ' || f.q_table || ' AS child WHERE '
             || array_to_string(ARRAY(SELECT 'child.' || quote_ident(x) || ' IS NOT NULL'
                                        FROM unnest(f.columns) WITH ORDINALITY AS u(x, o) ORDER BY o), ' AND ')
             || ' AND NOT EXISTS (SELECT 1 FROM ' || f.q_target || ' AS parent WHERE '
             || array_to_string(ARRAY(SELECT 'parent.' || quote_ident(b) || ' = child.' || quote_ident(a)
                                        FROM unnest(f.columns, f.refs) WITH ORDINALITY AS u(a, b, o) ORDER BY o), ' AND ')
             || ')'
    END AS orphan_sql,
    CASE
        WHEN f.fk_oid IS NOT NULL AND NOT f.convalidated
        THEN 'ALTER TABLE ' || f.q_table || ' VALIDATE CONSTRAINT ' || quote_ident(f.conname)
    END AS validate_ddl,
    COALESCE(f.clones, '[]'::jsonb) AS clones
FROM final f
ORDER BY f.i, f.conname
