"""One revision across many databases and tenant schemas: `cascade-tool fleet plan|apply|verify`.

- targets: the targets file (TOML) and the targets query, schema targets, masked URLs;
- run: the scheduler (canaries, --parallel, --on-error, Ctrl-C) and the report;
- apply, upgrade: `alembic upgrade head` of the user's project on one target;
- checks: plan and verify on one target (and what Citus would reject).

The library returns data (a FleetReport); cascade_tool/cli/fleet.py parses, cascade_tool/output/fleet.py prints.
"""
