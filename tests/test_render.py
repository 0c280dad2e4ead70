"""Rendering: deterministic, self-contained, and pinned by a golden file.

Regenerate the golden file after an intended template change:
    CASCADE_TOOL_REGENERATE_GOLDEN=1 python -m pytest tests/test_render.py
then read the diff (git diff tests/golden) before committing it. The golden revision is also
*run* against real databases by tests/test_upgrade.py (same manifest, same templates).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from cascade_tool.manifest import load_manifest
from cascade_tool.render import RevisionInfo, render_revision
from tests.helpers import DATA

GOLDEN = Path(__file__).parent / "golden" / "quirks_revision.py"
INFO = RevisionInfo("golden0001", "base0000", "2026-01-01 00:00:00+0000", "cascade quirks")


def rendered() -> str:
    return render_revision(load_manifest(DATA / "quirks_manifest.toml"), INFO)


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"rev_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rendering_matches_the_golden_file() -> None:
    text = rendered()
    if os.environ.get("CASCADE_TOOL_REGENERATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "template output changed: see this file's docstring"


def test_rendering_is_deterministic() -> None:
    assert rendered() == rendered()


def test_revision_imports_only_alembic_sqlalchemy_and_stdlib() -> None:
    """A generated revision must keep working after cascade-tool changes or is uninstalled."""
    tree = ast.parse(rendered())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    stdlib = {"__future__", "collections", "contextlib", "json", "os", "re", "time", "typing"}
    assert imported <= stdlib | {"sqlalchemy", "alembic"}



def test_revision_payload_equals_the_manifest_payload(tmp_path: Path) -> None:
    """The revision rebuilds exactly the JSON that plan/verify send to the same query."""
    path = tmp_path / "rev.py"
    path.write_text(rendered())
    module = load_module(path)
    manifest = load_manifest(DATA / "quirks_manifest.toml")
    assert json.loads(module._payload()) == manifest.payload()


def test_revision_lists_entries_grouped_and_readable() -> None:
    text = rendered()
    assert "    # --- Chain (2) ---\n" in text
    assert (
        '    {"table": "chat_messages", "columns": ["session_id"], "on_delete": "CASCADE", '
        '"target_table": "chat_sessions"},\n' in text
    )
    assert '{"table": "x\\"; DROP TABLE users; --", "columns": ["y\\"; DROP TABLE users; --"]' in text
    compile(text, "rev.py", "exec")


def test_hostile_message_cannot_break_the_docstring(tmp_path: Path) -> None:
    manifest = load_manifest(DATA / "quirks_manifest.toml")
    info = RevisionInfo("r1", None, "2026-01-01", 'evil """ \\ message\nimport os')
    text = render_revision(manifest, info)
    compile(text, "rev.py", "exec")
    assert ast.get_docstring(ast.parse(text)).splitlines()[0] == "evil ''' / message import os"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib")
def test_example_revision_in_migrations_is_up_to_date() -> None:
    """migrations/versions holds the example revision; it must match manifest.toml."""
    from cascade_tool import revisions
    from tests.helpers import REPO

    result = revisions.check(load_manifest(REPO / "manifest.toml"), REPO / "migrations" / "versions")
    assert result.ok, result.diff
