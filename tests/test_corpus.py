"""The whole flow on real public schemas (../shared/corpus): Danbooru and GitLab.

Skipped when ../shared/corpus is not beside the checkout (CI has it).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import DATA, SHARED, Server, alembic, dump_schema

CORPUS = SHARED / "corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus not present")


def corpus_loader(server: Server, name: str, filename: str) -> Any:
    def load(url: str) -> None:
        text = (CORPUS / name / filename).read_text()
        with psycopg.connect(url) as conn:
            available = {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions")}
        # The embedded server has no pgcrypto (no OpenSSL); Danbooru loads fine without it.
        for ext in re.findall(r"CREATE EXTENSION IF NOT EXISTS (\w+)", text):
            if ext not in available:
                text = re.sub(rf"(?m)^(CREATE|COMMENT ON) EXTENSION (IF NOT EXISTS )?{ext}\b.*$", "", text)
        script = Path(url.rsplit("/", 1)[1] + ".sql")
        path = Path("/tmp") / f"cascade-tool-corpus-{script}"
        path.write_text(text)
        result = subprocess.run(
            [server.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(path)],
            capture_output=True, text=True,
        )
        path.unlink()
        assert result.returncode == 0, result.stderr[-2000:]

    return load


def corpus_db(server: Server, name: str, filename: str) -> Iterator[str]:
    """A fresh copy of a corpus schema, cloned from a per-server template."""
    db = server.create_database(server.template(name, corpus_loader(server, name, filename)))
    yield server.url(db)
    server.drop_database(db)


@pytest.fixture
def danbooru(server: Server) -> Iterator[str]:
    yield from corpus_db(server, "danbooru", "structure.sql")


@pytest.fixture
def gitlab(server: Server) -> Iterator[str]:
    yield from corpus_db(server, "gitlab", "structure.sql")


def user_fks(url: str) -> dict[tuple[str, str], tuple[str, bool, bool]]:
    """(table, constraint) -> (ON DELETE, deferrable, initially deferred) for FKs to users."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT conrelid::regclass::text, conname, confdeltype, condeferrable, condeferred"
            " FROM pg_constraint WHERE contype = 'f' AND conparentid = 0"
            " AND confrelid = 'public.users'::regclass"
        ).fetchall()
    return {(t, c): (a, d, i) for t, c, a, d, i in rows}


def fk_columns(url: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(table, column) -> (table, constraint) for single-column FKs to users."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT conrelid::regclass::text, a.attname, conname FROM pg_constraint c"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
            " WHERE contype = 'f' AND conparentid = 0 AND confrelid = 'public.users'::regclass"
        ).fetchall()
    return {(t, col): (t, con) for t, col, con in rows}


def partition_fk_names(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint"
            " WHERE contype = 'f' AND conparentid <> 0 ORDER BY 1, 2"
        ).fetchall()


def test_danbooru_reviewed_manifest_round_trip(
    server: Server, danbooru: str, alembic_project: Path, run_cli: Any
) -> None:
    """Owners CASCADE, actors SET NULL; deferrability kept; downgrade restores the dump."""
    manifest = str(DATA / "danbooru_manifest.toml")
    before_dump = dump_schema(server, danbooru)
    before = user_fks(danbooru)
    assert len(before) == 56 and sum(d for _, d, _ in before.values()) == 51

    plan = run_cli("plan", "--manifest", manifest, "--database-url", danbooru)
    assert plan.code == 0 and "53 to convert, 0 to create, 3 left alone" in plan.out
    assert run_cli("generate", "--manifest", manifest, "--versions-dir",
                   str(alembic_project / "migrations" / "versions")).code == 0
    up = alembic(alembic_project, danbooru, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert "53 converted, 0 created, 3 unchanged, 0 skipped" in up.stdout

    after = user_fks(danbooru)
    by_column = fk_columns(danbooru)
    # a blind CASCADE here would delete the users someone invited, and the posts they approved
    assert after[by_column[("users", "inviter_id")]][0] == "n"
    assert after[by_column[("posts", "approver_id")]][0] == "n"
    assert after[by_column[("posts", "uploader_id")]][0] == "r"
    assert after[by_column[("favorites", "user_id")]][0] == "c"
    # every FK kept its deferrability
    assert {k: v[1:] for k, v in after.items()} == {k: v[1:] for k, v in before.items()}
    verify = run_cli("verify", "--manifest", manifest, "--database-url", danbooru, "--strict")
    assert verify.code == 0, verify.out

    down = alembic(alembic_project, danbooru, "downgrade", "-1")
    assert down.returncode == 0, down.stderr
    assert user_fks(danbooru) == before
    assert dump_schema(server, danbooru) == before_dump


def test_gitlab_partitioned_fks_round_trip(
    server: Server, gitlab: str, alembic_project: Path, run_cli: Any
) -> None:
    """192 FKs, 3 on partitioned tables with 87 partition copies: names kept both ways."""
    manifest = str(DATA / "gitlab_manifest.toml")
    before_dump = dump_schema(server, gitlab)
    before_parts = partition_fk_names(gitlab)
    assert len(user_fks(gitlab)) == 192

    plan = run_cli("plan", "--manifest", manifest, "--database-url", gitlab, "--json")
    assert plan.code == 0
    steps = json.loads(plan.out)["entries"]
    converting = [s for s in steps if s["action"] == "convert"]
    assert len(converting) == 5
    assert sorted(s["partitions"] for s in converting if s["partitions"]) == [23, 64]
    not_valid = [s for s in steps if s["status"] == "not_valid"]
    assert [s["table"] for s in not_valid] == ["public.duo_workflows_workflows"]
    assert 'VALIDATE CONSTRAINT "fk_duo_workflows_workflows_service_account_id"' in not_valid[0]["advice"]

    assert run_cli("generate", "--manifest", manifest, "--versions-dir",
                   str(alembic_project / "migrations" / "versions")).code == 0
    up = alembic(alembic_project, gitlab, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert "5 converted, 0 created, 187 unchanged, 0 skipped" in up.stdout
    assert partition_fk_names(gitlab) == before_parts
    actions = user_fks(gitlab)
    assert actions[("resource_link_events", "fk_bd4ae15ce4")][0] == "c"
    assert actions[("work_item_descriptions", "fk_rails_600bd0d333")][0] == "c"

    # the one NOT VALID FK (already the wanted action, NOT VALID before the upgrade): no drift, a
    # warning; --strict fails until `cascade-tool validate` has run
    verify = run_cli("verify", "--manifest", manifest, "--database-url", gitlab, "--json")
    assert verify.code == 0, verify.out
    data = json.loads(verify.out)
    assert data["drift"] == 0 and data["unlisted"] == []
    assert [(w["table"], w["kind"]) for w in data["warnings"]] == [("public.duo_workflows_workflows", "not_valid")]
    assert run_cli("verify", "--manifest", manifest, "--database-url", gitlab, "--strict").code == 1
    validated = run_cli("validate", "--manifest", manifest, "--database-url", gitlab, "--jobs", "2")
    assert validated.code == 0, validated.out + validated.err
    assert validated.out.startswith(
        "validated public.duo_workflows_workflows fk_duo_workflows_workflows_service_account_id in "
    )
    assert run_cli("verify", "--manifest", manifest, "--database-url", gitlab, "--strict").code == 0

    down = alembic(alembic_project, gitlab, "downgrade", "-1")
    assert down.returncode == 0, down.stderr
    assert partition_fk_names(gitlab) == before_parts
    # the downgrade restores what the revision changed; the validation stays
    validated_dump = re.sub(
        r"(ADD CONSTRAINT fk_duo_workflows_workflows_service_account_id [^;]*) NOT VALID;", r"\1;", before_dump
    )
    assert validated_dump != before_dump
    assert dump_schema(server, gitlab) == validated_dump
