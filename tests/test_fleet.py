"""`cascade-tool fleet plan|apply|verify` over many databases and tenant schemas, on a real server.

A fleet of about 30 databases cloned from a template (some without the optional table, one where
orphan rows block a new FK, one unreachable) and 40 tenant schemas in one database, upgraded by
the user's own Alembic project: this repository's env.py (reads DATABASE_URL) and a stock
`alembic init` one (reads sqlalchemy.url).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cascade_tool import revisions
from cascade_tool.distributed import Placement, citus_problems
from cascade_tool.errors import FleetError
from cascade_tool.fleet.run import Outcome, run_targets
from cascade_tool.fleet.targets import Target, mask_url, parse_targets, with_search_path
from cascade_tool.manifest import load_manifest
from cascade_tool.plan import Step
from tests.helpers import DATA, REPO, Server, execute_sql, fk_state

MANIFEST = DATA / "fleet_manifest.toml"
SCHEMA_SQL = (DATA / "fleet_schema.sql").read_text()
REV = "f1ee7a000001"
SECRET = "pw-Secret-1"  # trust auth: accepted and ignored, so it can sit in every URL
UNREACHABLE = f"postgresql+psycopg://app:{SECRET}@127.0.0.1:1/nowhere"


def fleet_loader(url: str) -> None:
    execute_sql(url, SCHEMA_SQL)


def lean_loader(url: str) -> None:
    execute_sql(url, SCHEMA_SQL + "\nDROP TABLE legacy_notes;")


def with_password(url: str) -> str:
    """postgresql://user@host/db -> postgresql+psycopg://user:SECRET@host/db."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"postgresql+psycopg://{user}:{SECRET}@{host}"


def generate(project_versions: Path) -> None:
    revisions.generate(load_manifest(MANIFEST), project_versions, "cascade user foreign keys", rev_id=REV)


def versions(url: str, schema: str = "public") -> list[str]:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".alembic_version',)).fetchone()
        if found is None or found[0] is None:
            return []
        query = sql.SQL("SELECT version_num FROM {}.alembic_version").format(sql.Identifier(schema))
        return [r[0] for r in conn.execute(query).fetchall()]


def write_fleet(path: Path, rows: list[dict[str, Any]]) -> Path:
    lines = []
    for row in rows:
        lines.append("[[targets]]")
        for key, value in row.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def statuses(out: str) -> dict[str, str]:
    return {t["name"]: t["status"] for t in json.loads(out)["targets"]}


@dataclass
class Fleet:
    urls: dict[str, str]  # name -> URL (with the password)
    rows: list[dict[str, Any]]
    orphan: str
    lean: set[str]


@pytest.fixture
def db_fleet(server: Server) -> Iterator[Fleet]:
    """30 targets: 24 full databases, 4 without the optional table, one with an orphan
    session (the new FK to users cannot be created), one unreachable."""
    full, lean = server.template("fleet", fleet_loader), server.template("fleet_lean", lean_loader)
    names: list[str] = []
    urls: dict[str, str] = {}
    lean_names: set[str] = set()
    for i in range(29):
        db = server.create_database(lean if i % 7 == 3 else full)
        names.append(db)
        name = f"db{i:02d}"
        urls[name] = with_password(server.url(db))
        if i % 7 == 3:
            lean_names.add(name)
    orphan = "db28"
    execute_sql(server.url(names[-1]), "INSERT INTO sessions VALUES (999, 4242)")
    urls["gone"] = UNREACHABLE
    rows = [{"name": n, "url": u, "tags": ["canary"] if n == orphan else []} for n, u in urls.items()]
    try:
        yield Fleet(urls, rows, orphan, lean_names)
    finally:
        for db in names:
            server.drop_database(db)


@pytest.fixture
def project(alembic_project: Path) -> Path:
    """This repository's Alembic project (env.py reads DATABASE_URL) with the fleet revision."""
    generate(alembic_project / "migrations" / "versions")
    return alembic_project


def run_tool(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from cascade_tool.cli import main; main()", *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_a_fleet_of_databases_planned_canaried_stopped_interrupted_resumed_and_verified(
    server: Server, db_fleet: Fleet, project: Path, tmp_path: Path, run_cli: Any
) -> None:
    """The whole rollout on 30 targets, each step judged on the databases themselves."""
    fleet = write_fleet(tmp_path / "fleet.toml", db_fleet.rows)
    ini, logs = str(project / "alembic.ini"), tmp_path / "logs"
    orphan_url = db_fleet.urls[db_fleet.orphan]
    orphan_fks = fk_state(orphan_url.replace("+psycopg", "").replace(f":{SECRET}", ""))
    outputs: list[str] = []

    # plan: read-only, one row per target
    plan = run_cli("fleet", "plan", "--fleet", str(fleet), "--manifest", str(MANIFEST), "--json")
    outputs += [plan.out, plan.err]
    assert plan.code == 1, plan.err
    report = json.loads(plan.out)
    assert list(report) == ["targets", "summary"]
    assert [list(t) for t in report["targets"]] == [["name", "status", "detail"]] * 30
    got = statuses(plan.out)
    assert got["gone"] == "unreachable" and got[db_fleet.orphan] == "blocked"
    assert {s for n, s in got.items() if n not in ("gone", db_fleet.orphan)} == {"ready"}
    details = {t["name"]: t["detail"] for t in report["targets"]}
    assert details["db00"].startswith("4 to convert, 1 to create, 0 unchanged, 0 skipped, 0 blocked; "
                                      "0 long transaction(s), 0 orphan row(s)")
    assert details["db03"].startswith("3 to convert, 1 to create, 0 unchanged, 1 skipped")  # lean
    assert "1 orphan row(s)" in details[db_fleet.orphan]
    assert report["summary"]["total"] == 30 and report["summary"]["ready"] == 28
    assert versions(orphan_url) == []

    # a failing canary stops the rollout whatever --on-error says
    canary = run_cli("fleet", "apply", "--fleet", str(fleet), "--alembic-ini", ini, "--log-dir", str(logs),
                     "--canary", "canary", "--on-error", "continue", "--json")
    outputs += [canary.out, canary.err]
    assert canary.code == 1
    got = statuses(canary.out)
    assert got.pop(db_fleet.orphan) == "failed"
    assert set(got.values()) == {"not-run"}
    rows = {t["name"]: t["detail"] for t in json.loads(canary.out)["targets"]}
    assert rows["db00"] == f"the canary {db_fleet.orphan} is failed"
    assert rows[db_fleet.orphan].startswith("cascade-tool: upgrade stopped before changing anything: ")
    assert "public.sessions" in rows[db_fleet.orphan]
    log = (logs / f"{db_fleet.orphan}.log").read_text()  # the line alembic itself would print, no traceback
    assert f"FAILED: {rows[db_fleet.orphan]}" in log and "Traceback" not in log, log
    assert fk_state(orphan_url.replace("+psycopg", "").replace(f":{SECRET}", "")) == orphan_fks
    assert versions(orphan_url) == [] and versions(db_fleet.urls["db00"]) == []

    # --on-error stop: one at a time, the orphan third: two upgraded, nothing after it started
    order = [r for r in db_fleet.rows if r["name"] in ("db00", "db01")]
    order += [r for r in db_fleet.rows if r["name"] == db_fleet.orphan]
    order += [r for r in db_fleet.rows if r["name"] in ("db02", "db04")]
    stop = run_cli("fleet", "apply", "--fleet", str(write_fleet(tmp_path / "stop.toml", order)),
                   "--alembic-ini", ini, "--log-dir", str(logs), "--parallel", "1", "--json")
    outputs += [stop.out, stop.err]
    assert stop.code == 1
    assert statuses(stop.out) == {"db00": "upgraded", "db01": "upgraded", db_fleet.orphan: "failed",
                                  "db02": "not-run", "db04": "not-run"}
    assert f"stopped after {db_fleet.orphan} was failed (--on-error stop)" in stop.out
    assert versions(db_fleet.urls["db00"]) == [REV] and versions(db_fleet.urls["db02"]) == []

    # interrupted (Ctrl-C) while upgrading: running targets finish, the rest are reported not run
    child = run_tool("fleet", "apply", "--fleet", str(fleet), "--alembic-ini", ini, "--log-dir", str(logs),
                     "--parallel", "2", "--on-error", "continue", "--json", cwd=tmp_path)
    deadline = time.monotonic() + 120
    while sum("=== succeeded" in p.read_text() for p in logs.glob("db*.log")) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    outputs += [out, err]
    assert child.returncode == 1, err
    first = statuses(out)
    upgraded = {n for n, s in first.items() if s == "upgraded"}
    not_run = {n for n, s in first.items() if s == "not-run"}
    assert first["db00"] == first["db01"] == "at-head"
    assert upgraded and not_run and set(first.values()) <= {"upgraded", "at-head", "not-run"}, first
    assert "interrupted (Ctrl-C) before it started" in out
    assert "interrupted" in err
    for name in not_run - {"gone", db_fleet.orphan}:
        assert versions(db_fleet.urls[name]) == [], name
    for name in upgraded:
        assert versions(db_fleet.urls[name]) == [REV], name

    # re-run: only what is left is upgraded; the orphan fails again, unchanged; gone is unreachable
    again = run_cli("fleet", "apply", "--fleet", str(fleet), "--alembic-ini", ini, "--log-dir", str(logs),
                    "--on-error", "continue", "--json")
    outputs += [again.out, again.err]
    assert again.code == 1
    second = statuses(again.out)
    assert {n for n, s in second.items() if s == "upgraded"} == not_run - {"gone", db_fleet.orphan}
    assert {n for n, s in second.items() if s == "at-head"} == upgraded | {"db00", "db01"}
    assert second["gone"] == "unreachable" and second[db_fleet.orphan] == "failed"
    summary = json.loads(again.out)["summary"]
    assert (summary["total"], summary["upgraded"] + summary["at-head"], summary["failed"],
            summary["unreachable"], summary["not-run"]) == (30, 28, 1, 1, 0)
    assert fk_state(orphan_url.replace("+psycopg", "").replace(f":{SECRET}", "")) == orphan_fks

    # verify: one row per target
    verify = run_cli("fleet", "verify", "--fleet", str(fleet), "--manifest", str(MANIFEST), "--json")
    outputs += [verify.out, verify.err]
    assert verify.code == 1
    got = statuses(verify.out)
    assert got.pop("gone") == "unreachable" and got.pop(db_fleet.orphan) == "drift"
    assert set(got.values()) == {"ok"}
    with psycopg.connect(db_fleet.urls["db05"].replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND confdeltype = 'c'"
                            " AND convalidated").fetchone() == (4,)

    # the table form, and passwords nowhere: not in any output, not in any log
    table = run_cli("fleet", "verify", "--fleet", str(fleet), "--manifest", str(MANIFEST))
    outputs += [table.out, table.err]
    assert table.out.splitlines()[0].split() == ["target", "status", "detail"]
    assert "gone    unreachable  cannot connect to postgresql+psycopg://app:***@127.0.0.1:1/nowhere: " in table.out
    assert table.out.splitlines()[-1].startswith("fleet verify: 30 targets: 28 ok, 1 drift, 1 unreachable in ")
    logs_text = [p.read_text() for p in logs.glob("*.log")]
    assert len(logs_text) == 29  # every reachable target ran at least once; gone never did
    assert all(SECRET not in text for text in outputs + logs_text)


def tenant_loader(url: str) -> None:
    statements = []
    for i in range(40):
        statements.append(f"CREATE SCHEMA tenant_{i:02d}; SET search_path = tenant_{i:02d};\n{SCHEMA_SQL}")
    execute_sql(url, "\n".join(statements))


def test_forty_tenant_schemas_from_a_targets_query(
    server: Server, project: Path, tmp_path: Path, run_cli: Any
) -> None:
    """Each schema target runs with its schema first on search_path: its own alembic_version, its
    own FKs converted; public is untouched. Targets come from a query; a re-run skips them all."""
    db = server.create_database(server.template("tenants", tenant_loader))
    url = with_password(server.url(db))
    plain = server.url(db)
    query = ("SELECT nspname AS name, %s AS url, nspname AS schema FROM pg_namespace "
             "WHERE nspname LIKE 'tenant\\_%%' ORDER BY 1")
    query = query.replace("%s", "'" + url + "'").replace("%%", "%")
    args = ["--targets-query", query, "--targets-url", plain, "--json"]
    try:
        plan = run_cli("fleet", "plan", *args, "--manifest", str(MANIFEST))
        assert plan.code == 0, plan.out + plan.err
        assert set(statuses(plan.out).values()) == {"ready"} and len(statuses(plan.out)) == 40

        up = run_cli("fleet", "apply", *args, "--alembic-ini", str(project / "alembic.ini"),
                     "--log-dir", str(tmp_path / "logs"), "--parallel", "4")
        assert up.code == 0, up.out + up.err
        assert set(statuses(up.out).values()) == {"upgraded"} and len(statuses(up.out)) == 40
        assert all(versions(plain, f"tenant_{i:02d}") == [REV] for i in range(40))
        assert versions(plain, "public") == []
        with psycopg.connect(plain) as conn:
            by_schema = conn.execute(
                "SELECT n.nspname, count(*) FILTER (WHERE c.confdeltype = 'c') FROM pg_constraint c"
                " JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.contype = 'f' GROUP BY 1"
            ).fetchall()
        assert dict(by_schema) == {f"tenant_{i:02d}": 4 for i in range(40)}

        verify = run_cli("fleet", "verify", *args, "--manifest", str(MANIFEST))
        assert verify.code == 0 and set(statuses(verify.out).values()) == {"ok"}
        again = run_cli("fleet", "apply", *args, "--alembic-ini", str(project / "alembic.ini"),
                        "--log-dir", str(tmp_path / "logs"))
        assert again.code == 0 and set(statuses(again.out).values()) == {"at-head"}
        assert SECRET not in plan.out + up.out + verify.out + again.out + up.err
    finally:
        server.drop_database(db)


def stock_project(tmp_path: Path) -> Path:
    """`alembic init` with the generic template: env.py reads sqlalchemy.url from the ini."""
    subprocess.run([sys.executable, "-m", "alembic", "init", "stock"], cwd=tmp_path, check=True,
                   capture_output=True)
    generate(tmp_path / "stock" / "versions")
    env_py = (tmp_path / "stock" / "env.py").read_text()
    assert 'config.get_section(config.config_ini_section' in env_py and "DATABASE_URL" not in env_py
    return tmp_path / "alembic.ini"


def test_a_stock_alembic_init_project_on_a_database_and_a_schema_target(
    server: Server, tmp_path: Path, run_cli: Any
) -> None:
    """The stock env.py gets the target's URL as sqlalchemy.url (the ini's placeholder is never
    used), for a database target and for a tenant schema target alike."""
    ini = stock_project(tmp_path)
    whole = server.create_database(server.template("fleet", fleet_loader))
    tenants = server.create_database(server.template("tenants", tenant_loader))
    fleet = write_fleet(tmp_path / "fleet.toml", [
        {"name": "whole", "url": with_password(server.url(whole))},
        {"name": "tenant-07", "url": with_password(server.url(tenants)), "schema": "tenant_07"},
    ])
    try:
        up = run_cli("fleet", "apply", "--fleet", str(fleet), "--alembic-ini", str(ini),
                     "--log-dir", str(tmp_path / "logs"), "--json")
        assert up.code == 0, up.out + up.err
        assert statuses(up.out) == {"whole": "upgraded", "tenant-07": "upgraded"}
        assert json.loads(up.out)["targets"][0]["detail"] == f"from no revision to {REV}"
        assert versions(server.url(whole)) == [REV]
        assert versions(server.url(tenants), "tenant_07") == [REV]
        assert versions(server.url(tenants), "tenant_06") == []
        verify = run_cli("fleet", "verify", "--fleet", str(fleet), "--manifest", str(MANIFEST), "--json")
        assert verify.code == 0 and statuses(verify.out) == {"whole": "ok", "tenant-07": "ok"}
    finally:
        server.drop_database(whole)
        server.drop_database(tenants)


def test_run_from_another_directory_with_relative_paths_and_the_default_log_dir(
    server: Server, tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker runs in the project's directory; the log files still go where the operator's
    relative --log-dir (here the default, fleet-logs) says, from where fleet apply was run. A
    project whose scripts cannot be read stops fleet apply before any target, in one line."""
    ini = stock_project(tmp_path)
    tenants = server.create_database(server.template("tenants", tenant_loader))
    ops = tmp_path / "ops"
    ops.mkdir()
    monkeypatch.chdir(ops)
    write_fleet(ops / "fleet.toml", [
        {"name": "tenant-03", "url": with_password(server.url(tenants)), "schema": "tenant_03"}])
    try:
        up = run_cli("fleet", "apply", "--fleet", "fleet.toml", "--alembic-ini", "../alembic.ini", "--json")
        assert up.code == 0, up.out + up.err
        assert statuses(up.out) == {"tenant-03": "upgraded"}
        log = (ops / "fleet-logs" / "tenant-03.log").read_text()
        assert "upgrade head on schema tenant_03" in log and "=== succeeded after" in log
        assert not (tmp_path / "fleet-logs").exists()
        assert versions(server.url(tenants), "tenant_03") == [REV]
    finally:
        server.drop_database(tenants)
    broken = tmp_path / "broken.ini"
    broken.write_text(ini.read_text().replace("script_location = %(here)s/stock", "script_location = nowhere"))
    assert "script_location = nowhere" in broken.read_text()
    refused = run_cli("fleet", "apply", "--fleet", "fleet.toml", "--alembic-ini", str(broken))
    assert refused.code == 2 and refused.err.count("\n") == 1, refused.err
    assert refused.err.startswith(f"cascade-tool: error: --alembic-ini {broken}: cannot read its Alembic scripts: ")
    assert (ops / "fleet-logs" / "tenant-03.log").read_text() == log  # no target was run


def patch_env(project: Path, before: str = "", configure: str | None = None) -> None:
    """Edit the project's env.py: `before` runs when it is loaded (after its imports);
    `configure` replaces its context.configure call (inside _run, where `connection` is)."""
    env_py = project / "migrations" / "env.py"
    text = env_py.read_text()
    text = text.replace("config = context.config\n", before + "\nconfig = context.config\n", 1)
    if configure is not None:
        old = ("    context.configure(\n        connection=connection, target_metadata=None, "
               "transaction_per_migration=True\n    )\n")
        assert old in text
        text = text.replace(old, configure, 1)
    env_py.write_text(text)


def tenant_rows(url: str, schemas: list[str]) -> list[dict[str, Any]]:
    return [{"name": s, "url": url, "schema": s} for s in schemas]


CRASHING_ENV = """
import signal as _signal
import sys as _sys
_url = os.environ.get("DATABASE_URL", "")
if "tenant_02" in _url:  # a segfault or the OOM killer: the process is gone, no word
    os.kill(os.getpid(), _signal.SIGKILL)
if "tenant_03" in _url:
    print("env.py: giving up on this tenant", flush=True)
    os._exit(3)
if "tenant_05" in _url:  # takes the fleet's worker process down with it
    os.kill(os.getppid(), _signal.SIGKILL)
    os._exit(4)
"""


def test_a_target_that_kills_its_process_is_failed_and_the_rest_go_on(
    server: Server, project: Path, tmp_path: Path, run_cli: Any
) -> None:
    """Targets run in forks of one preloaded worker. One dies by SIGKILL, one by os._exit, one
    kills the worker itself: each is reported failed with how its process ended; the others are
    upgraded, after the dead worker by a new one. Progress goes to stderr as plain lines."""
    patch_env(project, CRASHING_ENV)
    db = server.create_database(server.template("tenants", tenant_loader))
    url, plain = with_password(server.url(db)), server.url(db)
    schemas = [f"tenant_{i:02d}" for i in range(1, 7)]
    fleet = write_fleet(tmp_path / "fleet.toml", tenant_rows(url, schemas))
    logs = tmp_path / "logs"
    try:
        up = run_cli("fleet", "apply", "--fleet", str(fleet), "--alembic-ini", str(project / "alembic.ini"),
                     "--log-dir", str(logs), "--parallel", "1", "--on-error", "continue", "--json")
        assert up.code == 1, up.out + up.err
        report = {t["name"]: (t["status"], t["detail"]) for t in json.loads(up.out)["targets"]}
        assert {n: s for n, (s, _) in report.items()} == {
            "tenant_01": "upgraded", "tenant_02": "failed", "tenant_03": "failed",
            "tenant_04": "upgraded", "tenant_05": "failed", "tenant_06": "upgraded"}
        assert report["tenant_02"][1] == ("the upgrade's process killed by SIGKILL (out of memory, or killed from "
                                          "outside) before reporting a result")
        assert report["tenant_03"][1] == ("the upgrade's process exited with code 3 before reporting a result; "
                                          "its last output: env.py: giving up on this tenant")
        assert report["tenant_05"][1] == ("the fleet worker process ended (killed by SIGKILL) while upgrading "
                                          "this target")
        assert report["tenant_06"][1] == f"from no revision to {REV}"
        for schema in schemas:
            expected = [REV] if schema in ("tenant_01", "tenant_04", "tenant_06") else []
            assert versions(plain, schema) == expected, schema
        assert (logs / "tenant_02.log").read_text().splitlines()[-1].startswith("=== killed by SIGKILL after ")
        assert "=== exit code 3 after " in (logs / "tenant_03.log").read_text()
        assert "fleet apply: 6/6 done, 3 failed, 0 running, " in up.err
        assert SECRET not in up.out + up.err + "".join(p.read_text() for p in logs.glob("*.log"))
    finally:
        server.drop_database(db)


PID_ENV = """
print(f"env.py runs in process {os.getpid()}", flush=True)
if "tenant_03" in os.environ.get("DATABASE_URL", ""):
    raise RuntimeError("env.py refuses tenant_03")
"""


def test_a_child_upgrades_targets_in_turn_until_one_fails(
    server: Server, project: Path, tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One child upgrades target after target (env.py runs afresh for each); a target that fails
    retires its child, and the next target gets a new fork; so does the one after a child's
    TARGETS_PER_CHILD (set to 3 here, through the worker's environment)."""
    monkeypatch.setenv("CASCADE_TOOL_TARGETS_PER_CHILD", "3")
    patch_env(project, PID_ENV)
    db = server.create_database(server.template("tenants", tenant_loader))
    url, plain = with_password(server.url(db)), server.url(db)
    schemas = [f"tenant_{i:02d}" for i in range(1, 9)]
    logs = tmp_path / "logs"
    try:
        up = run_cli("fleet", "apply", "--fleet", str(write_fleet(tmp_path / "fleet.toml", tenant_rows(url, schemas))),
                     "--alembic-ini", str(project / "alembic.ini"), "--log-dir", str(logs), "--parallel", "1",
                     "--on-error", "continue", "--json")
        assert up.code == 1, up.out + up.err
        report = {t["name"]: (t["status"], t["detail"]) for t in json.loads(up.out)["targets"]}
        assert report["tenant_03"] == ("failed", "RuntimeError: env.py refuses tenant_03")
        assert {n for n, (s, _) in report.items() if s == "upgraded"} == set(schemas) - {"tenant_03"}
        pids = {}
        for schema in schemas:
            text = (logs / f"{schema}.log").read_text()
            pids[schema] = int(text.split("env.py runs in process ")[1].split()[0])
            assert versions(plain, schema) == ([] if schema == "tenant_03" else [REV]), schema
            last = text.splitlines()[-1]
            assert last.startswith("=== failed after " if schema == "tenant_03" else "=== succeeded after "), last
        # 01 02 03(fails) | 04 05 06 (three) | 07 08
        groups = [["tenant_01", "tenant_02", "tenant_03"], ["tenant_04", "tenant_05", "tenant_06"],
                  ["tenant_07", "tenant_08"]]
        assert [len({pids[s] for s in group}) for group in groups] == [1, 1, 1], pids
        assert len({pids[group[0]] for group in groups}) == 3, pids
    finally:
        server.drop_database(db)


OWN_VERSION_TABLE = """\
    schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
    connection.commit()
    context.configure(
        connection=connection, target_metadata=None, transaction_per_migration=True,
        version_table="tenant_versions", version_table_schema=schema,
    )
"""


def test_at_head_is_read_from_the_version_table_env_py_configures(
    server: Server, project: Path, tmp_path: Path, run_cli: Any
) -> None:
    """env.py keeps each tenant's history in <tenant>.tenant_versions. A public.alembic_version
    at head (which search_path would find for every tenant) does not make them look done; after
    the upgrade, a re-run finds them at head in their own table."""
    patch_env(project, configure=OWN_VERSION_TABLE)
    db = server.create_database(server.template("tenants", tenant_loader))
    url, plain = with_password(server.url(db)), server.url(db)
    execute_sql(plain, f"CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY);"
                       f" INSERT INTO public.alembic_version VALUES ('{REV}')")
    schemas = ["tenant_07", "tenant_08"]
    fleet = write_fleet(tmp_path / "fleet.toml", tenant_rows(url, schemas))
    args = ["fleet", "apply", "--fleet", str(fleet), "--alembic-ini", str(project / "alembic.ini"),
            "--log-dir", str(tmp_path / "logs"), "--json"]
    try:
        first = run_cli(*args)
        assert first.code == 0, first.out + first.err
        assert statuses(first.out) == {"tenant_07": "upgraded", "tenant_08": "upgraded"}
        with psycopg.connect(plain) as conn:
            for schema in schemas:
                rows = conn.execute(sql.SQL("SELECT version_num FROM {}.tenant_versions").format(
                    sql.Identifier(schema))).fetchall()
                assert rows == [(REV,)]
                assert conn.execute("SELECT to_regclass(%s)", (f"{schema}.alembic_version",)).fetchone() == (None,)
                assert conn.execute(
                    "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
                    " WHERE n.nspname = %s AND c.contype = 'f' AND c.confdeltype = 'c'", (schema,)
                ).fetchone() == (4,)
        again = run_cli(*args)
        assert again.code == 0, again.out + again.err
        assert [(t["status"], t["detail"]) for t in json.loads(again.out)["targets"]] == [("at-head", f"at {REV}")] * 2
    finally:
        server.drop_database(db)


SLOW_ENV = """
import time as _time
_go = os.environ.get("FLEET_TEST_GO", "")
if "tenant_10" in os.environ.get("DATABASE_URL", ""):  # held until the test says go
    _until = _time.monotonic() + 60
    while not os.path.exists(_go) and _time.monotonic() < _until:
        _time.sleep(0.02)
else:
    _time.sleep(0.3)
"""


def fleet_sessions(url: str) -> list[str]:
    """application_name of fleet apply's lock sessions, and whether each holds an advisory lock."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT a.application_name, EXISTS (SELECT FROM pg_locks l WHERE l.pid = a.pid"
            " AND l.locktype = 'advisory' AND l.granted) FROM pg_stat_activity a"
            " WHERE a.application_name LIKE 'cascade-tool fleet apply%' ORDER BY 1").fetchall()
    return [f"{name}{' (holds)' if held else ''}" for name, held in rows]


def test_two_fleet_applies_over_the_same_targets_never_upgrade_one_at_once(
    server: Server, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two CI jobs run `fleet apply` on the same tenants. Each target is upgraded by one of them;
    the other waits on the target's advisory lock (seen waiting in pg_locks), then finds it at
    head and says it waited."""
    patch_env(project, SLOW_ENV)
    go = tmp_path / "go"
    monkeypatch.setenv("FLEET_TEST_GO", str(go))
    db = server.create_database(server.template("tenants", tenant_loader))
    url, plain = with_password(server.url(db)), server.url(db)
    schemas = ["tenant_10", "tenant_11", "tenant_12"]
    fleet = write_fleet(tmp_path / "fleet.toml", tenant_rows(url, schemas))

    def start(name: str) -> subprocess.Popen[str]:
        return run_tool("fleet", "apply", "--fleet", str(fleet), "--alembic-ini", str(project / "alembic.ini"),
                        "--log-dir", str(tmp_path / name), "--parallel", "2", "--json", cwd=tmp_path)

    def wait_for(condition: Any) -> None:
        deadline = time.monotonic() + 60
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert condition(), fleet_sessions(plain)

    try:
        first = start("first")
        wait_for(lambda: fleet_sessions(plain) == ["cascade-tool fleet apply (holds)"])  # tenant_10's
        second = start("second")
        wait_for(lambda: fleet_sessions(plain) == [  # the second waits for it
            "cascade-tool fleet apply (holds)", "cascade-tool fleet apply (waiting for another run)"])
        go.touch()
        outs = [p.communicate(timeout=180) for p in (first, second)]
        assert [p.returncode for p in (first, second)] == [0, 0], outs
        reports = [{t["name"]: (t["status"], t["detail"]) for t in json.loads(out)["targets"]} for out, _ in outs]
        for schema in schemas:
            got = sorted(r[schema][0] for r in reports)
            assert got == ["at-head", "upgraded"], (schema, reports)
            assert versions(plain, schema) == [REV]
        assert reports[0]["tenant_10"] == ("upgraded", f"from no revision to {REV}")
        assert reports[1]["tenant_10"][1].startswith(f"at {REV} (after waiting ")
        assert reports[1]["tenant_10"][1].endswith(" s for another fleet apply)")
        assert fleet_sessions(plain) == []
    finally:
        go.touch()
        server.drop_database(db)


# --- no database needed ---------------------------------------------------------------------

def test_a_targets_file_reports_every_problem_at_once(tmp_path: Path) -> None:
    text = """
[[targets]]
name = "a"
url = "mysql://x@y/z"

[[targets]]
name = "b"
url_env = "FLEET_TEST_UNSET"
colour = "red"

[[targets]]
name = "a"
url = "postgresql://app@db/a"
"""
    with pytest.raises(FleetError) as exc:
        parse_targets(text, "fleet.toml", env={})
    assert exc.value.problems == [
        "fleet.toml: target 1 (a): url must start with postgresql:// or postgresql+psycopg://, got 'mysql://x@y/z'",
        "fleet.toml: target 2: unknown key(s) colour (allowed: name, schema, tags, url, url_env)",
        "fleet.toml: target 2 (b): environment variable FLEET_TEST_UNSET (url_env) is not set",
    ]
    targets = parse_targets('[[targets]]\nname = "e"\nurl_env = "X"\nschema = "t 1"\ntags = ["eu"]\n',
                            env={"X": "postgresql://app:pw@db/x?sslmode=require"})
    assert targets == [Target("e", "postgresql://app:pw@db/x?sslmode=require", "t 1", ("eu",))]
    assert targets[0].display_url == "postgresql://app:***@db/x?sslmode=require"
    assert targets[0].connect_url == (
        "postgresql://app:pw@db/x?sslmode=require&options=-c%20search_path%3D%22t%5C%201%22%2Cpublic"
    )


def test_a_schema_targets_connection_error_shows_the_url_as_written() -> None:
    target = Target("t", "postgresql://app:pw@127.0.0.1:2/y", "t1")
    message = f"cannot connect to {mask_url(target.connect_url)}: connection failed: refused"
    assert target.unreachable(message) == (
        "cannot connect to postgresql://app:***@127.0.0.1:2/y (schema t1): connection failed: refused")


def test_urls_are_masked_and_search_path_is_added_to_existing_options() -> None:
    assert mask_url("postgresql://u:p%40ss@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert mask_url("postgresql://u@h/d?password=hunter2&sslmode=require") == (
        "postgresql://u@h/d?password=***&sslmode=require")
    assert with_search_path("postgresql://u@h/d?options=-c%20work_mem%3D64MB", "acme") == (
        "postgresql://u@h/d?options=-c%20work_mem%3D64MB%20-c%20search_path%3D%22acme%22%2Cpublic")


def test_usage_errors_exit_2_with_one_line_per_problem(tmp_path: Path, run_cli: Any) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[targets]]\nname = "a"\n\n[[targets]]\nname = "a"\nurl = "postgresql://u@h/a"\ntags = "x"\n')
    refused = run_cli("fleet", "verify", "--fleet", str(bad))
    assert (refused.code, refused.err) == (2, (
        f"cascade-tool: error: {bad}: target 1 (a): give exactly one of url or url_env\n"
        f"cascade-tool: error: {bad}: target 2 (a): tags must be a list of non-empty strings\n"))
    fleet = write_fleet(tmp_path / "f.toml", [{"name": "a", "url": "postgresql://u@127.0.0.1:1/a"}])
    both = run_cli("fleet", "plan", "--fleet", str(fleet), "--targets-query", "SELECT 1")
    assert (both.code, both.err) == (
        2, "cascade-tool: error: give --fleet or --targets-query, not both (see cascade-tool fleet plan --help)\n")
    none = run_cli("fleet", "verify")
    assert none.code == 2 and "no targets: pass --fleet FILE or --targets-query SQL" in none.err
    canary = run_cli("fleet", "apply", "--fleet", str(fleet), "--alembic-ini", str(REPO / "alembic.ini"),
                     "--canary", "nope", "--log-dir", str(tmp_path / "logs"))
    assert (canary.code, canary.err) == (2, "cascade-tool: error: --canary nope: no target has that name or tag\n")
    ini = run_cli("fleet", "apply", "--fleet", str(fleet), "--alembic-ini", str(tmp_path / "missing.ini"))
    assert ini.code == 2 and ini.err.startswith("cascade-tool: error: --alembic-ini ") and "no such file" in ini.err


def test_the_scheduler_runs_canaries_first_and_at_most_n_at_once() -> None:
    import threading

    targets = [Target(f"t{i}", "postgresql://u@h/d") for i in range(9)]
    lock, running, peak, order = threading.Lock(), [0], [0], []

    def work(target: Target) -> Outcome:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            order.append(target.name)
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return Outcome(target.name, "upgraded", "")

    report = run_targets("apply", targets, work, parallel=3, canaries=[targets[5]])
    assert order[0] == "t5" and peak[0] == 3 and report.ok
    assert [o.name for o in report.outcomes] == [t.name for t in targets]


def test_one_schema_target_per_database_runs_before_its_siblings() -> None:
    """With one_first_per_database, a database's first tenant finishes before the others of that
    database start (what their revisions create once per database is not raced); a database with
    one target, and a canary's database, need no such wave."""
    import threading

    targets = [Target(f"s{i}", "postgresql://u:pw@h/shared", f"s{i}") for i in range(6)]
    targets += [Target("alone", "postgresql://u@h/alone"), Target("c1", "postgresql://u@h/other", "c1"),
                Target("c2", "postgresql://u@h/other", "c2")]
    lock, spans = threading.Lock(), {}

    def work(target: Target) -> Outcome:
        began = time.monotonic()
        time.sleep(0.03)
        with lock:
            spans[target.name] = (began, time.monotonic())
        return Outcome(target.name, "upgraded", "")

    report = run_targets("apply", targets, work, parallel=4, canaries=[targets[-2]], one_first_per_database=True)
    assert report.ok
    assert all(spans["s0"][1] <= spans[f"s{i}"][0] for i in range(1, 6))
    assert spans["c1"][1] <= spans["c2"][0]  # the canary went first anyway
    assert targets[0].database == "h/shared"


def _step(table: str, target: str, columns: list[str], wanted: str, action: str = "convert",
          references: list[str] | None = None) -> Step:
    return Step(entry=0, group=None, table=table, columns=columns, target=target, constraint="fk",
                status=action, detail="", wanted=wanted, actual="NO ACTION", validated=True, optional=False,
                matches=1, action=action, references=references or ["id"])


def test_citus_problems_name_each_entry_citus_would_reject() -> None:
    """The pure rules; tests/test_citus_plan.py checks each against a real cluster."""
    placements = {
        "public.users": Placement("distributed", "id", 1),
        "public.orders": Placement("distributed", "user_id", 1),
        "public.visits": Placement("distributed", "site_id", 1),
        "public.countries": Placement("reference", None, 2),
        "public.audit": Placement("reference", None, 2),
        "public.cl": Placement("citus local", None, 0),
    }
    steps = [
        _step("public.orders", "public.users", ["user_id"], "CASCADE"),
        _step("public.orders", "public.users", ["user_id"], "SET NULL"),
        _step("public.visits", "public.users", ["user_id"], "CASCADE"),
        _step("public.audit", "public.users", ["user_id"], "CASCADE"),
        _step("public.orders", "public.countries", ["country_id"], "CASCADE"),
        _step("public.notes", "public.local_users", ["user_id"], "SET NULL"),
        _step("public.orders", "public.users", ["user_id"], "SET NULL", action="leave"),
        _step("public.cl", "public.users", ["user_id"], "CASCADE"),
    ]
    assert citus_problems(steps, placements) == [
        "public.orders(user_id): Citus rejects ON DELETE SET NULL on an FK that includes the distribution "
        "column user_id; CASCADE, RESTRICT or NO ACTION are allowed",
        "public.visits(user_id): Citus needs an FK between distributed tables to hold the distribution "
        "column site_id at the same position as public.users's id",
        "public.audit(user_id): Citus has no FK from a reference table to a distributed table (public.users)",
        "public.cl(user_id): Citus has no FK from a Citus local table to a distributed table (public.users)",
    ]


def test_four_step_rewrites_the_plain_swap_keeping_quoted_names() -> None:
    """plan's four-step form of a swap: the old name's quoted text reused, nothing else changed."""
    from cascade_tool.distributed import four_step

    add = ('ALTER TABLE "My Schema"."Order Lines" ADD CONSTRAINT cascade_tmp_0123456789abcdef FOREIGN KEY '
           '(user_id) REFERENCES "My Schema".users(id) ON DELETE CASCADE NOT VALID')
    drop = 'ALTER TABLE "My Schema"."Order Lines" DROP CONSTRAINT "Order Lines TO users"'
    rename = ('ALTER TABLE "My Schema"."Order Lines" RENAME CONSTRAINT cascade_tmp_0123456789abcdef '
              'TO "Order Lines TO users"')
    assert four_step([add, drop, rename]) == [
        add, drop,
        add.replace("cascade_tmp_0123456789abcdef", '"Order Lines TO users"'),
        'ALTER TABLE "My Schema"."Order Lines" DROP CONSTRAINT cascade_tmp_0123456789abcdef',
    ]
    assert four_step([add, rename]) is None  # not the plain swap: left as it is


def test_progress_shows_done_total_problems_rate_and_eta() -> None:
    """On a terminal, a live bar; its text, and the plain lines elsewhere, say done/total, the
    problems so far, the rate and the time left."""
    import io

    from rich.console import Console

    from cascade_tool.fleet.run import Progress
    from cascade_tool.output.fleet import fleet_status_line, progress_text

    progress = Progress(total=200, started=100.0)
    progress.done, progress.running = 50, 2
    progress.statuses.update({"upgraded": 47, "failed": 2, "unreachable": 1})
    assert progress_text(progress, now=125.0) == (
        "50/200 done, 2 failed, 1 unreachable, 2 running, 2.0 targets/s, ETA 1 min 15 s")
    progress.statuses = progress.statuses.__class__({"upgraded": 50})
    assert progress_text(progress, now=110.0) == "50/200 done, 0 failed, 2 running, 5.0 targets/s, ETA 30 s"

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, color_system=None)
    with fleet_status_line("apply", console) as update:
        progress = Progress(total=4)
        for status in ("upgraded", "failed", "upgraded", "at-head"):
            progress.done += 1
            progress.statuses[status] += 1
            update(progress)
    import re

    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue()).replace("\r", "\n")
    last = [line for line in plain.splitlines() if line.strip()][-1]
    assert last.startswith("fleet apply ") and " 4/4 1 failed, 0 running, " in last, last
    assert last.endswith("targets/s, ETA 0 s"), last
