"""A peer's linter agrees: squawk-cli (pinned in the test extra) on the statements `plan --sql`
prints for a real database, against a hand-written naive migration of the same FK."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import DATA, Server

# What replacing a constraint needs by nature: the old one is dropped, the new one renamed.
INHERENT = {"ban-drop-constraint", "renaming-object"}
# PostgreSQL 17 and earlier: the validated add a partitioned table requires.
PARTITIONED_BEFORE_18 = {"constraint-missing-not-valid", "adding-foreign-key-constraint"}

NAIVE = """BEGIN;
ALTER TABLE posts DROP CONSTRAINT posts_user_id_fkey;
ALTER TABLE posts ADD CONSTRAINT posts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
COMMIT;
"""


def squawk_binary() -> str:
    found = Path(sys.executable).parent / "squawk"
    if found.exists():
        return str(found)
    which = shutil.which("squawk")
    assert which, "squawk-cli is in the [test] extra: pip install -e '.[test]'"
    return which


def lint(path: Path, pg_version: int) -> list[dict[str, Any]]:
    result = subprocess.run(
        [squawk_binary(), "--reporter", "json", "--pg-version", str(pg_version), str(path)],
        capture_output=True, text=True,
    )
    assert result.returncode in (0, 1), result.stderr
    findings: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    return findings



def test_naive_migration_raises_five_findings(tmp_path: Path) -> None:
    path = tmp_path / "naive.sql"
    path.write_text(NAIVE)
    rules = sorted(f["rule_name"] for f in lint(path, 15))
    assert rules == sorted([
        "require-lock-timeout", "require-statement-timeout", "ban-drop-constraint",
        "constraint-missing-not-valid", "adding-foreign-key-constraint",
    ])


def test_plan_sql_raises_only_what_replacing_a_constraint_needs(
    server: Server, quirks_db: str, run_cli: Any, tmp_path: Path
) -> None:
    result = run_cli("plan", "--manifest", str(DATA / "quirks_manifest.toml"), "--database-url", quirks_db, "--sql")
    assert result.code == 0, result.err
    path = tmp_path / "plan.sql"
    path.write_text(result.out)
    lines = result.out.splitlines()
    assert sum(1 for line in lines if line.startswith("CREATE INDEX CONCURRENTLY")) >= 5
    # one short transaction per swap and one per validation
    assert sum(1 for line in lines if line.startswith("ALTER TABLE") and "RENAME CONSTRAINT" in line) == 16
    assert sum(1 for line in lines if line == "BEGIN;") == 17 + sum(1 for line in lines if "VALIDATE" in line)
    findings = lint(path, server.version)
    assert findings, "squawk should at least report the inherent drop and rename"
    for finding in findings:
        statement = lines[finding["line"]]  # squawk counts lines from 0
        if finding["rule_name"] in INHERENT:
            continue
        # the only other kind: the validated add on a partitioned table before PostgreSQL 18
        assert server.version < 18 and finding["rule_name"] in PARTITIONED_BEFORE_18, (finding, statement)
        assert statement.startswith("ALTER TABLE public.measurements ADD CONSTRAINT"), statement
    assert {f["rule_name"] for f in findings} >= INHERENT
