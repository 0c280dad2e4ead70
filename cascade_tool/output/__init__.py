"""Everything the commands print: text (rich tables on a terminal) and JSON, for every command.

The library returns data (frozen dataclasses); the commands in cascade_tool/cli hand it here,
as `output.<command>(result, ...)`. Data goes to stdout, status and summaries to stderr. Plain
sentences, no colour codes unless stdout is a terminal (rich decides), no emoji. The functions
live in one module per family of commands and are all importable from here.
"""

from __future__ import annotations

from cascade_tool.output.checks import (
    check_models,
    orphans,
    preflight,
    preflight_summary,
    quarantine_list,
    quarantine_purge,
    quarantine_restore,
)
from cascade_tool.output.common import echo_json, progress_status, status, write_text
from cascade_tool.output.deploy import (
    demo,
    generate_check,
    generated,
    plan,
    plan_script,
    print_plan,
    print_verification,
    validate,
    validate_progress,
    verify,
    verify_sql,
)
from cascade_tool.output.fleet import fleet, fleet_status_line, fleet_summary
from cascade_tool.output.graph import (
    discover,
    discovery_summary,
    impact,
    lint,
    lint_summary,
    merged_summary,
    smoke_test,
)

__all__ = [
    "check_models",
    "demo",
    "discover",
    "discovery_summary",
    "echo_json",
    "fleet",
    "fleet_status_line",
    "fleet_summary",
    "generate_check",
    "generated",
    "impact",
    "lint",
    "lint_summary",
    "merged_summary",
    "orphans",
    "plan",
    "plan_script",
    "preflight",
    "preflight_summary",
    "print_plan",
    "print_verification",
    "progress_status",
    "quarantine_list",
    "quarantine_purge",
    "quarantine_restore",
    "smoke_test",
    "status",
    "validate",
    "validate_progress",
    "verify",
    "verify_sql",
    "write_text",
]
