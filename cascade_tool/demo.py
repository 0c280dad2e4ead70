"""`cascade-tool demo`: the whole story on a throwaway server, with nothing set up by hand.

It uses a stock `alembic init` project (not ours) on purpose: the generated revision must work
in any Alembic project, and this shows it does.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
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
from cascade_tool.pgserver import Cluster, default_bindir, require_server_binaries
from cascade_tool.plan import Step


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
        if row.table_schema is None or row.table_name is None or entry.chain or row.status.startswith("missing"):
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


@dataclass(frozen=True)
class Starting:
    """A throwaway server is about to start."""


@dataclass(frozen=True)
class ServerStarted:
    version: int
    url: str


@dataclass(frozen=True)
class SchemaLoaded:
    """The sample schema is in (its FKs to users are NO ACTION)."""


@dataclass(frozen=True)
class Planned:
    convert: int
    create: int
    leave: int
    skip: int


@dataclass(frozen=True)
class Generated:
    file_name: str


@dataclass(frozen=True)
class Upgrading:
    """`alembic upgrade head` starts."""


@dataclass(frozen=True)
class Verified:
    entries: int
    drift: tuple[Step, ...]

    @property
    def ok(self) -> bool:
        return not self.drift


@dataclass(frozen=True)
class Deleted:
    user_id: int
    before: tuple[tuple[str, int], ...]  # (table.column, rows linked to the user) before the delete
    after: dict[str, int]


@dataclass(frozen=True)
class Downgrading:
    """`alembic downgrade -1` starts."""


@dataclass(frozen=True)
class Downgraded:
    converted_back: int  # FKs back to their original ON DELETE


@dataclass(frozen=True)
class Finished:
    ok: bool  # every linked row went with the user, and the downgrade restored the FKs
    completed: bool  # the story ran to its end (False: it stopped at drift)


DemoEvent = (
    Starting | ServerStarted | SchemaLoaded | Planned | Generated | Upgrading | Verified | Deleted
    | Downgrading | Downgraded | Finished
)


def run_demo(bindir: Path | None, user_id: int) -> Iterator[DemoEvent]:
    """The story, step by step: each event as it happens (the last one is Finished)."""
    manifest = demo_manifest()
    bindir = require_server_binaries(bindir or default_bindir())  # else one line saying how to get them
    yield Starting()
    with Cluster.start(bindir) as cluster:
        yield ServerStarted(cluster.version, cluster.url())
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE health")
        url = cluster.url("health")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(demo_schema_sql().encode())
        yield SchemaLoaded()

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
            yield Planned(actions["convert"], actions["create"], actions["leave"], actions["skip"])

            path = revisions.generate(manifest, project / "alembic" / "versions", "cascade user foreign keys")
            yield Generated(path.name)

            yield Upgrading()
            command.upgrade(cfg, "head")

            with catalog.connect(url) as conn:
                result = planning.verify(conn, manifest)
            yield Verified(len(result.steps), tuple(result.drift))
            if not result.ok:
                yield Finished(ok=False, completed=False)
                return

            with psycopg.connect(url, autocommit=True) as conn:
                before = linked_counts(conn, manifest, user_id)
                conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
                after = dict(linked_counts(conn, manifest, user_id))
            yield Deleted(user_id, tuple(before), after)

            yield Downgrading()
            command.downgrade(cfg, "-1")
            with catalog.connect(url) as conn:
                result = planning.verify(conn, manifest)
            converted_back = sum(1 for s in result.steps if s.status in ("convert", "create"))
            yield Downgraded(converted_back)
        yield Finished(ok=sum(after.values()) == 0 and converted_back > 0, completed=True)
