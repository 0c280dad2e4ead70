-- cascade-tool validate: record that an FK is validated now. Parameters: schema, table, constraint.
UPDATE cascade_tool.fk_changes SET validated_at = clock_timestamp()
 WHERE table_schema = %(schema)s AND table_name = %(table)s AND constraint_name = %(constraint)s
   AND validated_at IS NULL AND restored_at IS NULL
