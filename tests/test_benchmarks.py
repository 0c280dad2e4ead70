"""The benchmark scripts run and print their tables; their log parsing counts lock waits right.

No timing is asserted here: the benchmarks measure, the tests only check that they work.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from benchmarks.harness import app_waits, deadlocks, lock_waits, parse_log
from tests.citus import ensure_citus
from tests.helpers import REPO

# Lines as PostgreSQL 18 wrote them with the benchmarks' log_line_prefix.
LOG = """\
2026-11-23 13:05:24.460 UTC [22712] app= LOG:  checkpoint complete: wrote 0 buffers (0.0%)
2026-11-23 13:05:24.521 UTC [22750] app=bench-app-x LOG:  process 22750 still waiting for AccessShareLock on relation 16385 of database 16408 after 50.102 ms at character 15
2026-11-23 13:05:24.521 UTC [22750] app=bench-app-x DETAIL:  Process holding the lock: 22749. Wait queue: 22750.
2026-11-23 13:05:24.530 UTC [22760] app=bench-migration LOG:  process 22760 still waiting for AccessExclusiveLock on relation 16385 of database 16408 after 50.007 ms
2026-11-23 13:05:25.587 UTC [22750] app=bench-app-x LOG:  process 22750 acquired AccessShareLock on relation 16385 of database 16408 after 1116.765 ms at character 15
2026-11-23 13:05:26.000 UTC [22770] app=bench-app-y LOG:  process 22770 still waiting for RowExclusiveLock on relation 16390 of database 16408 after 50.300 ms
2026-11-23 13:05:26.001 UTC [22770] app=bench-app-y LOG:  process 22770 detected deadlock while waiting for RowExclusiveLock on relation 16390 of database 16408 after 50.900 ms
2026-11-23 13:05:26.001 UTC [22770] app=bench-app-y ERROR:  deadlock detected
2026-11-23 13:05:26.001 UTC [22770] app=bench-app-y DETAIL:  Process 22770 waits for RowExclusiveLock on relation 16390 of database 16408; blocked by process 22760.
	Process 22760 waits for AccessExclusiveLock on relation 16385 of database 16408; blocked by process 22770.
	Process 22770: INSERT INTO t001 (user_id, payload) VALUES ($1, 'app')
2026-11-23 13:05:26.001 UTC [22770] app=bench-app-y HINT:  See server log for query details.
2026-11-23 13:05:26.001 UTC [22770] app=bench-app-y STATEMENT:  INSERT INTO t001 (user_id, payload) VALUES ($1, 'app')
"""


def test_lock_waits_and_deadlocks_are_read_from_the_server_log() -> None:
    """Each wait counts once, with its final duration; the migration's own waits are not application
    waits; a deadlock keeps the cycle the server described, continuation lines included."""
    waits = lock_waits(parse_log(LOG))
    assert sorted((w.app, w.outcome, w.ms) for w in waits) == [
        ("bench-app-x", "acquired", 1116.765),
        ("bench-app-y", "deadlock", 50.9),
        ("bench-migration", "unfinished", 50.007),
    ]
    assert [w.app for w in app_waits(waits)] == ["bench-app-x", "bench-app-y"]
    found = deadlocks(parse_log(LOG))
    assert [d.victim for d in found] == ["bench-app-y"]
    assert found[0].described({16390: "t001", 16385: "users"}) == (
        "victim bench-app-y (INSERT INTO t001 (user_id, payload) VALUES ($1, 'app')): "
        "Process 22770 waits for RowExclusiveLock on relation t001; blocked by process 22760. "
        "Process 22760 waits for AccessExclusiveLock on relation users; blocked by process 22770. "
        "Process 22770: INSERT INTO t001 (user_id, payload) VALUES ($1, 'app')"
    )


def test_fk_indexes_benchmark_prints_its_table() -> None:
    """A tiny run of benchmarks/fk_indexes.py converts every FK and prints before/after side by side."""
    result = subprocess.run(
        [sys.executable, "benchmarks/fk_indexes.py", "--tables", "3", "--rows", "2000", "--users", "500",
         "--deletes", "3"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^  +before index step +after +before/after$", out, re.M), out
    assert re.search(r"^  delete one user: median \(ms\) +[\d.,]+ +[\d.,]+ +[\d.,]+x$", out, re.M), out
    assert re.search(r"^  FKs ON DELETE CASCADE and valid +3 +3$", out, re.M), out
    assert re.search(r"^  rows deleted with each user +12 +12$", out, re.M), out
    assert "Targets (issue 4):" in out


def test_hot_table_benchmark_prints_retries_before_and_after() -> None:
    """A tiny run of benchmarks/hot_table.py converts the FK both ways and prints the retry counts
    of each side by side."""
    result = subprocess.run(
        [sys.executable, "benchmarks/hot_table.py", "--runs", "1", "--rows", "2000", "--users", "500",
         "--writers", "2"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^  retries: median \| worst +\d+ \| \d+ +\d+ \| \d+$", out, re.M), out
    assert re.search(r"^  runs done \(FK CASCADE and valid\) +1/1 +1/1$", out, re.M), out
    assert "Targets (hot tables):" in out


def test_stall_benchmark_prints_the_three_cases_and_explains_the_slowest() -> None:
    """A tiny run of benchmarks/stall.py measures the baseline, ours and naive, and prints what the
    sampled sessions were doing during ours' slowest statements."""
    result = subprocess.run(
        [sys.executable, "benchmarks/stall.py", "--runs", "1", "--rows", "5000", "--users", "500"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^  worst application latency \(ms\) +[\d.,]+ +[\d.,]+ +[\d.,]+ +[\d.,]+x +[\d.,]+x$",
                     out, re.M), out
    assert re.search(r"^  t=[\d.]+-[\d.]+ s  SELECT pg_temp.cascade_tool_upgrade\('swap', 0\)$", out, re.M), out
    assert "Ours' slowest statements, and what pg_stat_activity showed meanwhile:" in out
    assert "Targets (5M-row stall):" in out


def test_validate_jobs_benchmark_prints_its_ratios() -> None:
    """A tiny run of benchmarks/validate_jobs.py deploys both ways, validates with 1 and 4 jobs and
    with psql's bare statements, and prints the ratios (no figure is asserted)."""
    result = subprocess.run(
        [sys.executable, "benchmarks/validate_jobs.py", "--quick"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^  deploy time, now / later: +[\d.]+x$", out, re.M), out
    assert re.search(r"^  validation wall time, --jobs 1 / --jobs 4: [\d.]+x$", out, re.M), out
    assert re.search(r"^  validate --jobs 1 less its idle run, over psql: -?[\d.]+x \(", out, re.M), out
    assert "  --jobs 1: orphans counted for 0 of 8 FKs (counted only when a validation fails)" in out


def test_fleet_apply_benchmark_prints_its_table() -> None:
    """A tiny run of benchmarks/fleet_apply.py: the loop and fleet apply both reach head on every
    database, and the ratios are printed side by side."""
    result = subprocess.run(
        [sys.executable, "benchmarks/fleet_apply.py", "--databases", "2", "--rounds", "1", "--levels", "1,2"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^  shell loop of alembic +[\d.]+ s +1\.00x", out, re.M), out
    assert re.search(r"^  fleet apply --parallel 2 +[\d.]+ s +[\d.]+x +[\d.]+x +\d+%$", out, re.M), out


@pytest.mark.citus
def test_citus_swap_benchmark_prints_its_ratios() -> None:
    """A tiny run of benchmarks/citus_swap.py converts and restores the FKs on plain PostgreSQL and
    on a Citus cluster, and prints the ratios (no figure is asserted)."""
    ensure_citus()
    result = subprocess.run(
        [sys.executable, "benchmarks/citus_swap.py", "--runs", "1", "--tables", "2", "--rows", "100",
         "--shards", "4"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^ratio +[\d.]+x +[\d.]+x +[\d.]+x +[\d.]+x$", result.stdout, re.M), result.stdout


def test_fleet_tenants_benchmark_prints_its_curve_and_where_the_time_goes() -> None:
    """A tiny run of benchmarks/fleet_tenants.py: the loop (on a sample) and fleet apply both
    reach head on every tenant; the per-tenant ratio and the per-target split are printed."""
    result = subprocess.run(
        [sys.executable, "benchmarks/fleet_tenants.py", "--quick"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^ +10 +\d+ ms +\d+ ms +[\d.]+x +\d+ s +[\d.]+ s +\d+ s$", out, re.M), out
    assert re.search(r"^ +10 tenants, a target in fleet apply's child: \d+ in all; Alembic and env.py up to "
                     r"run_migrations \(connection, version table read\) \d+; the revision \d+; the rest \(request, "
                     r"log\) \d+$", out, re.M), out
