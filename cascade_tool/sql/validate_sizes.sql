-- cascade-tool validate: each FK's child table and its size in pages (to validate the largest first).
-- Parameters: oids, the FKs.
SELECT c.oid, c.conrelid, r.relpages::bigint AS pages
  FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class r ON r.oid = c.conrelid
 WHERE c.oid = ANY (%(oids)s::oid[])
