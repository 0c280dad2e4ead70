"""The public API: what `import cascade_tool` offers, the same verbs the CLI runs.

    import cascade_tool

    manifest = cascade_tool.load_manifest("manifest.toml")
    steps = cascade_tool.build_plan(manifest, "postgresql://localhost/app") # read-only
    text = cascade_tool.render_revision(manifest, "a1b2c3", down_revision=None)
    path = cascade_tool.generate(manifest, "migrations/versions")           # writes a file
    result = cascade_tool.verify(manifest, "postgresql://localhost/app")    # result.ok

Every error is a `cascade_tool.CascadeToolError` (see cascade_tool.errors) with a one-line
message. The results are frozen dataclasses with `to_json()`; cascade_tool.output prints them
the way the CLI does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cascade_tool import catalog
from cascade_tool import plan as planning
from cascade_tool.manifest import Manifest, load_manifest
from cascade_tool.plan import Step, Verification

__all__ = ["build_plan", "generate", "load_manifest", "render_revision", "verify"]


def build_plan(manifest: Manifest, database_url: str, *, count_orphans: bool = True) -> list[Step]:
    """What `alembic upgrade` would do to this database, one step per manifest entry (and per
    matching FK): the statements, what it leaves alone and why, what would stop it. Read-only."""
    with catalog.connect(database_url) as conn:
        return planning.build_steps(conn, manifest, count_orphans=count_orphans)


def verify(manifest: Manifest, database_url: str, *, strict: bool = False) -> Verification:
    """Whether the database is as the manifest says (`.ok`), entry by entry: the plan is empty.
    With `strict`, FKs to the target that the manifest lacks count as drift too."""
    with catalog.connect(database_url) as conn:
        return planning.verify(conn, manifest, strict=strict)


def render_revision(
    manifest: Manifest,
    revision: str,
    *,
    down_revision: str | None = None,
    message: str = "cascade user foreign keys",
    create_date: dt.datetime | None = None,
) -> str:
    """The text of the Alembic revision for `manifest` (imports only alembic and sqlalchemy)."""
    from cascade_tool.render import RevisionInfo
    from cascade_tool.render import render_revision as render

    date = (create_date or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M:%S%z")
    return render(manifest, RevisionInfo(revision, down_revision, date, message))


def generate(
    manifest: Manifest,
    versions_dir: str | Path,
    *,
    message: str = "cascade user foreign keys",
    rev_id: str | None = None,
) -> Path:
    """Write the revision into an Alembic versions directory, chained onto its head; its path."""
    from cascade_tool import revisions  # imports alembic

    return revisions.generate(manifest, Path(versions_dir), message, rev_id=rev_id)
