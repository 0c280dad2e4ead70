-- cascade-tool quarantine list: what each revision moved aside (or nulled), per table and action.
SELECT q.revision,
       q.table_schema || '.' || q.table_name AS "table",
       q.action,
       count(*) FILTER (WHERE q.restored_at IS NULL) AS pending,
       count(*) FILTER (WHERE q.restored_at IS NOT NULL) AS restored,
       min(q.quarantined_at) AS oldest,
       max(q.quarantined_at) AS newest,
       array_agg(DISTINCT q.constraint_name ORDER BY q.constraint_name) AS constraints
  FROM cascade_quarantine.rows AS q
 WHERE (%(revision)s::text IS NULL OR q.revision = %(revision)s::text)
   AND (%(table_schema)s::text IS NULL OR q.table_schema = %(table_schema)s::text)
   AND (%(table_name)s::text IS NULL OR q.table_name = %(table_name)s::text)
   AND (%(schema)s::text IS NULL OR q.table_schema = %(schema)s::text)
 GROUP BY q.revision, q.table_schema, q.table_name, q.action
 ORDER BY min(q.quarantined_at), q.revision, q.table_schema, q.table_name, q.action
