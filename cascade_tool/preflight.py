"""preflight: what would make the upgrade wait or fail in this database now, and what it costs.

The findings come from one read-only catalog query, `sql/preflight.sql`, written so that the
generated revision can embed it verbatim (its upgrade runs the text first and raises each
finding as a WARNING), so the command and the deploy judge the database the same way. Here the
query runs in a READ ONLY transaction that is rolled back at once; the query itself takes no lock
on any table, so it never queues behind the sessions it reports.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from cascade_tool import distributed, sqlfile
from cascade_tool.catalog import ENTRIES_SLOT
from cascade_tool.errors import DatabaseError
from cascade_tool.manifest import Manifest

PREFLIGHT_SQL = sqlfile.load("preflight")
# The second slot: seconds from which an open transaction is reported (the text keeps 60).
LONG_TRANSACTION_SLOT = "/*long_transaction_seconds*/60"
DEFAULT_LONG_TRANSACTION_SECONDS = 60.0


@dataclass(frozen=True)
class Finding:
    """One row of the query: `warning` when the deploy would wait or fail, else `info`."""

    severity: str
    kind: str  # long_transaction | lock | partitioned_swap | max_locks | table | visibility
    object: str
    message: str
    detail: dict[str, Any]


JsonObject = dict[str, object]


@dataclass(frozen=True)
class _Head:
    ro: str  # transaction_read_only
    version: int  # server_version_num
    db: str
    jit: str


@dataclass(frozen=True)
class _FindingRow:
    """One row of sql/preflight.sql."""

    severity: str
    kind: str
    object: str
    message: str
    detail: JsonObject | None


@dataclass(frozen=True)
class Preflight:
    findings: tuple[Finding, ...]
    server_version: int  # server_version_num, e.g. 150013
    database: str
    seconds: float  # how long the query took

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    def of_kind(self, kind: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind == kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "server_version_num": self.server_version,
            "seconds": round(self.seconds, 3),
            "warnings": len(self.warnings),
            "findings": [asdict(f) for f in self.findings],
        }


def _seconds_literal(seconds: float) -> str:
    if not seconds >= 0:  # also rejects NaN
        raise ValueError(f"long-transaction threshold must be 0 or more seconds, got {seconds!r}")
    return repr(float(seconds))


def query_text(manifest: Manifest, long_transaction_seconds: float = DEFAULT_LONG_TRANSACTION_SECONDS) -> str:
    """The query with both slots filled in as literals: what a PL/pgSQL block or psql can run.

    The payload is dollar-quoted with a tag it does not contain (never a bare `$$`).
    """
    payload = manifest.payload_json()
    tag = "cascade_tool_entries"
    while f"${tag}$" in payload:
        tag += "_"
    return (
        PREFLIGHT_SQL.replace(ENTRIES_SLOT, f"${tag}${payload}${tag}$::jsonb")
        .replace(LONG_TRANSACTION_SLOT, _seconds_literal(long_transaction_seconds))
        .rstrip()
    )


def run(
    conn: psycopg.Connection[Any],
    manifest: Manifest,
    long_transaction_seconds: float = DEFAULT_LONG_TRANSACTION_SECONDS,
) -> Preflight:
    """Run the preflight query in a READ ONLY transaction of its own, then roll it back."""
    sql = PREFLIGHT_SQL.replace(ENTRIES_SLOT, "%(entries)s::jsonb").replace(
        LONG_TRANSACTION_SLOT, "%(seconds)s::numeric"
    )
    params = {"entries": Jsonb(manifest.payload()), "seconds": float(_seconds_literal(long_transaction_seconds))}
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise DatabaseError("preflight needs a connection with no transaction open")
    autocommit = conn.autocommit
    conn.autocommit = False
    conn.read_only = True
    started = time.monotonic()
    try:
        with conn.cursor(row_factory=class_row(_Head)) as head_cur:
            head_cur.execute("SELECT pg_catalog.current_setting('transaction_read_only') AS ro,"
                             " pg_catalog.current_setting('server_version_num')::int AS version,"
                             " pg_catalog.current_database() AS db,"
                             # The planner over-estimates catalog queries: no JIT compile for this one.
                             " pg_catalog.set_config('jit', 'off', true) AS jit")
            head = head_cur.fetchone()
        if head is None or head.ro != "on":
            raise DatabaseError("preflight could not start a READ ONLY transaction")
        version, database = head.version, head.db
        with conn.cursor(row_factory=class_row(_FindingRow)) as cur:
            cur.execute(sql.encode(), params)
            rows = cur.fetchall()
        findings = tuple(Finding(r.severity, r.kind, r.object, r.message, dict(r.detail or {})) for r in rows)
        # On a Citus coordinator, rows and sizes come from the shards, not the empty shell tables.
        findings = distributed.with_shard_costs(conn, findings)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseError(f"preflight query failed: {first}") from None
    finally:
        if not conn.closed:
            conn.rollback()
            conn.autocommit = autocommit
    elapsed = time.monotonic() - started
    return Preflight(findings, version, database, elapsed)
