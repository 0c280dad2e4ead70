-- cascade-tool quarantine purge: remove quarantined rows older than an explicit retention.
WITH gone AS (
    DELETE FROM cascade_quarantine.rows AS q
     WHERE q.quarantined_at < now() - %(older_than)s::interval
       AND (%(revision)s::text IS NULL OR q.revision = %(revision)s::text)
       AND (%(table_schema)s::text IS NULL OR q.table_schema = %(table_schema)s::text)
       AND (%(table_name)s::text IS NULL OR q.table_name = %(table_name)s::text)
       AND (%(schema)s::text IS NULL OR q.table_schema = %(schema)s::text)
    RETURNING q.*
)
SELECT g.revision,
       g.table_schema || '.' || g.table_name AS "table",
       g.action,
       count(*) AS rows,
       count(*) FILTER (WHERE g.restored_at IS NULL) AS never_restored,
       min(g.quarantined_at) AS oldest,
       max(g.quarantined_at) AS newest
  FROM gone AS g
 GROUP BY g.revision, g.table_schema, g.table_name, g.action
 ORDER BY min(g.quarantined_at), g.revision, g.table_schema, g.table_name, g.action
