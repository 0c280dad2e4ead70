"""`cascade-tool demo`: the whole story on a throwaway server, with nothing set up by hand.

It uses a stock `alembic init` project (not ours) on purpose: the generated revision must work
in any Alembic project, and this shows it does.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql

from cascade_tool import catalog, revisions
from cascade_tool import plan as planning
from cascade_tool.manifest import Manifest, parse_manifest
from cascade_tool.pgserver import Cluster, default_bindir


def demo_manifest() -> Manifest:
    data = resources.files("cascade_tool").joinpath("data/example_manifest.toml").read_bytes()
    return parse_manifest(data, "example_manifest.toml")


def demo_schema_sql() -> str:
    return resources.files("cascade_tool").joinpath("data/demo_schema.sql").read_text("utf-8")


def linked_counts(
    conn: psycopg.Connection[Any], manifest: Manifest, user_id: int
) -> list[tuple[str, int]]:
    """Rows in each present manifest table that point at the user (directly or via a chain)."""
    out: list[tuple[str, int]] = []
    for row in catalog.resolve(conn, manifest):
        entry = manifest.active[row.i]
        if row.table_schema is None or entry.chain or row.status.startswith("missing"):
            continue
        cond = sql.SQL(" AND ").join(
            sql.SQL("{} = %s").format(sql.Identifier(c)) for c in entry.columns[:1]
        )
        query = sql.SQL("SELECT count(*) FROM {}.{} WHERE {}").format(
            sql.Identifier(row.table_schema), sql.Identifier(row.table_name), cond
        )
        n = conn.execute(query, (user_id,)).fetchone()
        out.append((f"{row.table_display}.{entry.columns[0]}", int(n[0]) if n else 0))
    return out


def run_demo(bindir: Path | None, user_id: int, echo: Callable[[str], None]) -> bool:
    manifest = demo_manifest()
    bindir = bindir or default_bindir()  # no server binaries: one line saying how to get them
    echo("Starting a throwaway PostgreSQL server...")
    with Cluster.start(bindir) as cluster:
        echo(f"  PostgreSQL {cluster.version} at {cluster.url()}")
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE health")
        url = cluster.url("health")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(demo_schema_sql().encode())
        echo("Loaded the sample health-app schema (FKs to users are NO ACTION: deleting a user fails).")

        with tempfile.TemporaryDirectory(prefix="cascade-tool-demo-") as tmp:
            project = Path(tmp) / "project"
            project.mkdir()
            cfg_path = project / "alembic.ini"
            with contextlib.redirect_stdout(io.StringIO()):
                command.init(Config(str(cfg_path)), str(project / "alembic"))
            cfg = Config(str(cfg_path))
            cfg.set_main_option("sqlalchemy.url", url.replace("postgresql://", "postgresql+psycopg://"))
            cfg.attributes["configure_logger"] = False

            with catalog.connect(url) as conn:
                steps = planning.build_steps(conn, manifest)
            actions = {a: sum(1 for s in steps if s.action == a) for a in ("convert", "create", "leave", "skip")}
            echo(
                f"\n$ cascade-tool plan: {actions['convert']} to convert, {actions['create']} to create, "
                f"{actions['leave']} left alone, {actions['skip']} skipped (absent legacy tables)"
            )

            path = revisions.generate(manifest, project / "alembic" / "versions", "cascade user foreign keys")
            echo(f"\n$ cascade-tool generate\n  {path.name}")

            echo("\n$ alembic upgrade head")
            command.upgrade(cfg, "head")

            with catalog.connect(url) as conn:
                result = planning.verify(conn, manifest)
            echo(f"\n$ cascade-tool verify\n  {len(result.steps)} entries, {len(result.drift)} drift: "
                 + ("OK" if result.ok else "FAILED"))
            if not result.ok:
                for step in result.drift:
                    echo(f"  drift: {step.table} {step.detail}")
                return False

            with psycopg.connect(url, autocommit=True) as conn:
                before = linked_counts(conn, manifest, user_id)
                conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
                after = dict(linked_counts(conn, manifest, user_id))
            total_before = sum(n for _, n in before)
            total_after = sum(after.values())
            echo(f"\n$ DELETE FROM users WHERE id = {user_id}")
            echo(f"  rows linked to user {user_id}: {total_before} before, {total_after} after")
            for name, n in before:
                if n:
                    echo(f"    {name}: {n} -> {after.get(name, 0)}")

            echo("\n$ alembic downgrade -1")
            command.downgrade(cfg, "-1")
            with catalog.connect(url) as conn:
                result = planning.verify(conn, manifest)
            converted_back = sum(1 for s in result.steps if s.status in ("convert", "create"))
            echo(f"  {converted_back} FKs back to their original ON DELETE (a downgrade restores "
                 "constraints, not deleted rows)")
        echo("\nStopping the server. Done.")
        return total_after == 0 and converted_back > 0
