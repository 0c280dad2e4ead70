-- cascade-tool validate: may this role record validations in the upgrades' bookkeeping?
SELECT CASE WHEN to_regclass('cascade_tool.fk_changes') IS NOT NULL
            THEN has_table_privilege('cascade_tool.fk_changes', 'UPDATE') ELSE false END
