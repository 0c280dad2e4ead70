"""The public API (`import cascade_tool`): the same verbs as the CLI, with the same answers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import cascade_tool
from tests.helpers import DATA, alembic
from tests.test_render import GOLDEN, INFO

MANIFEST = DATA / "quirks_manifest.toml"


def test_the_declared_api_is_importable_from_the_package() -> None:
    for name in cascade_tool.__all__:
        assert hasattr(cascade_tool, name), name
    assert {"load_manifest", "build_plan", "render_revision", "generate", "verify"} <= set(cascade_tool.__all__)


def test_render_revision_gives_the_golden_file() -> None:
    manifest = cascade_tool.load_manifest(MANIFEST)
    text = cascade_tool.render_revision(
        manifest, INFO.revision, down_revision=INFO.down_revision, message=INFO.message,
        create_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    assert text == GOLDEN.read_text()


def test_plan_generate_verify_agree_with_the_cli(quirks_db: str, alembic_project: Path, run_cli: Any) -> None:
    """build_plan and verify give what `plan --json` and `verify --json` print; after generate
    and the upgrade, verify is ok."""
    manifest = cascade_tool.load_manifest(MANIFEST)
    steps = cascade_tool.build_plan(manifest, quirks_db)
    cli_plan = run_cli("plan", "--manifest", str(MANIFEST), "--database-url", quirks_db, "--json")
    assert [s.to_json() for s in steps] == json.loads(cli_plan.out)["entries"]
    before = cascade_tool.verify(manifest, quirks_db)
    assert not before.ok and before.drift

    path = cascade_tool.generate(manifest, alembic_project / "migrations" / "versions", rev_id="api0001")
    assert path.name.startswith("api0001_") and path.exists()
    assert alembic(alembic_project, quirks_db, "upgrade", "head").returncode == 0
    after = cascade_tool.verify(manifest, quirks_db)
    cli_verify = run_cli("verify", "--manifest", str(MANIFEST), "--database-url", quirks_db, "--json")
    assert after.ok and cli_verify.code == 0
    assert after.to_json() == json.loads(cli_verify.out)


def test_errors_are_cascade_tool_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[target]\n")
    try:
        cascade_tool.load_manifest(bad)
    except cascade_tool.CascadeToolError as exc:
        assert exc.problems and all("\n" not in problem and "target" in str(exc) for problem in exc.problems)
    else:
        raise AssertionError("a bad manifest must raise CascadeToolError")
