"""`cascade-tool validate`: validate, after the deploy, the NOT VALID FKs a manifest covers.

Each FK is validated in a transaction of its own (VALIDATE CONSTRAINT reads the whole child table
under a SHARE UPDATE EXCLUSIVE lock, which blocks no reads or writes, and a ROW SHARE lock on the
referenced table). With several jobs, each runs on its own connection and no two ever work on the
same child table at once (two validations of one table would queue on that lock); any number may
reference the same table, since ROW SHARE locks do not conflict. Largest tables start first.

VALIDATE CONSTRAINT runs first: it reads the child table once, and on a clean table that read is
all the work there is. Only when it fails with foreign_key_violation are the FK's orphan rows
(rows that reference no parent) counted, in a second read, so that the user gets how many there
are and the command that lists them: the FK is skipped and reported, and nothing is deleted.
(Counting first would read every child twice to find orphans that are rare.) The run is
time-boxed (no new validation starts after `max_duration`) and resumable: what is still NOT
VALID is found again next time.
After each validation the upgrades' bookkeeping (cascade_tool.fk_changes) is updated in the same
transaction, so `verify` stops reporting the validation as pending.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from cascade_tool import catalog, sqlfile
from cascade_tool import orphans as orphans_lib
from cascade_tool.errors import DatabaseError, ValidateError
from cascade_tool.manifest import Manifest
from cascade_tool.plan import validate_statement, validity_kind

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}

SIZE_SQL = sqlfile.load("validate_sizes")
STATE_SQL = sql.SQL("SELECT convalidated FROM pg_catalog.pg_constraint WHERE oid = {oid}::oid")
BOOKKEEPING_SQL = sqlfile.load("validate_bookkeeping")
RECORD_SQL = sqlfile.load("validate_record")


def parse_duration(text: str, option: str) -> float:
    """Seconds in `30m`, `90s`, `1.5h`, `500ms`, `2min` (a bare number: seconds); `option` names
    the parameter in an error."""
    match = _DURATION.match(text)
    if not match:
        raise ValidateError(f"{text!r} is not a duration such as 30m, 90s, 2h or 500ms", option=option)
    return float(match.group(1)) * _SECONDS[match.group(2) or "s"]


@dataclass(frozen=True)
class Target:
    """One NOT VALID FK the manifest covers (with the action it asks for)."""

    entry: int
    table: str  # schema.table, for messages
    schema: str
    table_name: str
    constraint: str
    target: str
    fk_oid: int
    child_oid: int
    pages: int
    kind: str  # pending (validate = "later") | not_valid (as before the upgrade) | unfinished
    statement: str


@dataclass(frozen=True)
class Outcome:
    """What happened to one FK: validated | orphans (skipped) | failed | remaining (time box)."""

    entry: int
    table: str
    constraint: str
    kind: str
    result: str
    statement: str
    seconds: float | None = None  # the whole step: validation, and the orphan count if it failed
    orphans: int | None = None  # 0 once validated; counted only when the validation found some
    message: str = ""
    count_seconds: float | None = None  # of which the orphan count (None when not counted)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ValidationRun:
    outcomes: list[Outcome]
    valid: int  # FKs of the manifest already valid before the run
    seconds: float
    jobs: int

    @property
    def ok(self) -> bool:
        return all(o.result == "validated" for o in self.outcomes)

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "jobs": self.jobs,
            "seconds": round(self.seconds, 3),
            "already_valid": self.valid,
            "validated": self.count("validated"),
            "orphans": self.count("orphans"),
            "failed": self.count("failed"),
            "remaining": self.count("remaining"),
            "fks": [o.to_json() for o in sorted(self.outcomes, key=lambda o: (o.entry, o.constraint))],
        }


def targets(conn: psycopg.Connection[Any], manifest: Manifest) -> tuple[list[Target], int]:
    """(the NOT VALID FKs the manifest covers, largest child first; how many FKs are valid)."""
    rows = catalog.resolve(conn, manifest)
    records = catalog.validations(conn, rows)
    chosen = [r for r in rows if r.status == "not_valid"]
    valid = sum(1 for r in rows if r.fk_oid is not None and r.validated)
    sizes: dict[int, tuple[int, int]] = {}  # FK oid -> (child table oid, its pages)
    if chosen:
        with conn.cursor() as cur:
            cur.execute(SIZE_SQL, {"oids": [r.fk_oid for r in chosen]})
            sizes = {int(oid): (int(rel), int(pages)) for oid, rel, pages in cur.fetchall()}
    conn.rollback()
    out = []
    for r in chosen:
        schema, table = r.found_table
        if r.fk_oid is None or r.conname is None:
            continue  # not_valid rows always have their FK
        child, pages = sizes.get(r.fk_oid, (0, 0))
        out.append(Target(
            entry=manifest.active[r.i].index, table=r.table_display, schema=schema,
            table_name=table, constraint=r.conname, target=r.target_display,
            fk_oid=r.fk_oid, child_oid=child, pages=pages, kind=validity_kind(r, records),
            statement=validate_statement(schema, table, r.conname),
        ))
    out.sort(key=lambda t: (-t.pages, t.entry, t.constraint))
    return out, valid


class _Scheduler:
    """Hands out targets so that no two running ones share a child table, until the deadline."""

    def __init__(self, items: list[Target], deadline: float | None) -> None:
        self.queue = list(items)
        self.busy: set[int] = set()
        self.deadline = deadline
        self.cond = threading.Condition()

    def take(self) -> Target | None:
        with self.cond:
            while self.queue:
                now = time.monotonic()
                if self.deadline is not None and now >= self.deadline:
                    return None
                for i, item in enumerate(self.queue):
                    if item.child_oid not in self.busy:
                        self.busy.add(item.child_oid)
                        return self.queue.pop(i)
                self.cond.wait(None if self.deadline is None else self.deadline - now)
            return None

    def done(self, item: Target) -> None:
        with self.cond:
            self.busy.discard(item.child_oid)
            self.cond.notify_all()


def _orphan_count(conn: psycopg.Connection[Any], item: Target) -> int | None:
    """Rows the FK would reject, as VALIDATE sees them; None when the FK is gone."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(orphans_lib.FK_SQL, {"oid": item.fk_oid})
        d = cur.fetchone()
    if d is None:
        return None
    fk = orphans_lib._Fk(
        d["table_schema"], d["table_name"], d["relkind"] != "p", d["target_schema"], d["target_table"],
        d["target_relkind"] != "p", d["match_full"], d["columns"], d["references_columns"],
    )
    query = sql.SQL("SELECT count(*) FROM {child} WHERE {cond}").format(child=fk.child(), cond=fk.condition())
    with conn.cursor() as cur:
        cur.execute(query)
        row = cur.fetchone()
    return int(row[0]) if row else 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _set_timeout(conn: psycopg.Connection[Any], timeout_ms: int | None) -> None:
    """This transaction's statement_timeout (--statement-timeout), if one was given."""
    if timeout_ms is not None:
        conn.execute("SELECT pg_catalog.set_config('statement_timeout', %s, true)", [f"{timeout_ms}ms"])


def _validate_and_commit(
    conn: psycopg.Connection[Any], item: Target, timeout_ms: int | None, bookkeeping: bool
) -> bool | None:
    """BEGIN, the transaction's statement_timeout, the FK's state, VALIDATE CONSTRAINT, the
    bookkeeping row and COMMIT, in one round trip, as psql sends its one statement: on a busy
    server every round trip waits to be scheduled. Returns whether the FK was valid already when
    the transaction began (None: no FK has that oid any more)."""
    parts: list[sql.Composable] = [sql.SQL("BEGIN")]
    if timeout_ms is not None:
        parts.append(sql.SQL("SELECT pg_catalog.set_config('statement_timeout', {}, true)").format(
            sql.Literal(f"{timeout_ms}ms")))
    state_at = len(parts)
    parts.append(STATE_SQL.format(oid=sql.Literal(item.fk_oid)))
    parts.append(sql.SQL(item.statement))
    if bookkeeping:
        parts.append(sql.SQL(psycopg.ClientCursor(conn).mogrify(
            RECORD_SQL, {"schema": item.schema, "table": item.table_name, "constraint": item.constraint})))
    parts.append(sql.SQL("COMMIT"))
    cur = conn.execute(sql.SQL(";\n").join(parts))
    for _ in range(state_at):
        cur.nextset()
    row = cur.fetchone()
    return None if row is None else bool(row[0])


def _rollback(conn: psycopg.Connection[Any]) -> None:
    """End a transaction that failed or is not to be kept (a broken connection is left alone)."""
    try:
        if conn.info.transaction_status != TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
    except psycopg.Error:
        pass


def _validate_one(
    conn: psycopg.Connection[Any], item: Target, manifest: Manifest, timeout_ms: int | None, bookkeeping: bool
) -> Outcome:
    """VALIDATE the FK (and record it) in one transaction, one round trip; if rows violate it,
    count them."""
    started = time.monotonic()
    counted: list[float] = []

    def outcome(result: str, message: str = "", orphans: int | None = None) -> Outcome:
        return Outcome(item.entry, item.table, item.constraint, item.kind, result, item.statement + ";",
                       round(time.monotonic() - started, 3), orphans, message,
                       round(counted[-1], 3) if counted else None)

    try:
        # Twice at most: when orphan rows made the validation fail but are gone by the time they
        # are counted (deleted meanwhile), the validation is tried once more.
        for _attempt in range(2):
            try:
                state = _validate_and_commit(conn, item, timeout_ms, bookkeeping)
                if state is None:
                    return outcome("validated", "re-created since the lookup; validated as it is now", orphans=0)
                if state:
                    return outcome("validated", "already valid (validated by someone else meanwhile)")
                return outcome("validated", orphans=0)
            except psycopg.errors.ForeignKeyViolation:
                _rollback(conn)  # nothing changed; count the rows below
            except BaseException:
                _rollback(conn)
                raise
            counting = time.monotonic()
            with conn.transaction():
                _set_timeout(conn, timeout_ms)
                count = _orphan_count(conn, item)
            counted.append(time.monotonic() - counting)
            if count is None:
                return outcome("failed", "the constraint no longer exists (dropped or re-created since the lookup)")
            if count:
                return outcome(
                    "orphans",
                    f"{count} row(s) reference no row of {item.target}: skipped, nothing deleted; "
                    f"see them with: cascade-tool orphans --manifest {manifest.source}",
                    count,
                )
        return outcome("failed", "the validation found rows with no parent, then none were left to count; "
                                 "nothing changed: run cascade-tool validate again")
    except psycopg.errors.QueryCanceled:
        return outcome("failed", "cancelled by statement_timeout; nothing changed")
    except psycopg.Error as exc:
        return outcome("failed", f"{_first_line(exc)}; nothing changed")


def run(
    url: str,
    manifest: Manifest,
    *,
    jobs: int = 1,
    max_duration: float | None = None,
    statement_timeout: float | None = None,
    progress: Callable[[Outcome], None] | None = None,
) -> ValidationRun:
    """Validate every NOT VALID FK the manifest covers, on `jobs` connections."""
    if jobs < 1:
        raise ValidateError(f"{jobs}: expected 1 or more connections", option="jobs")
    started = time.monotonic()
    deadline = None if max_duration is None else started + max_duration
    timeout_ms = None if statement_timeout is None else max(1, int(statement_timeout * 1000))
    lookup = catalog.connect(url)
    conns = [lookup]
    try:
        items, valid = targets(lookup, manifest)
        if not items:
            return ValidationRun([], valid, time.monotonic() - started, jobs)
        # The lookup's connection becomes the first worker's: one connection fewer to open.
        for _ in range(min(jobs, len(items)) - 1):
            conns.append(catalog.connect(url))
        for conn in conns:
            conn.read_only = False
            conn.autocommit = True
        bookkeeping = bool(conns[0].execute(BOOKKEEPING_SQL).fetchone() == (True,))
        scheduler = _Scheduler(items, deadline)
        outcomes: list[Outcome] = []
        lock = threading.Lock()

        def work(conn: psycopg.Connection[Any]) -> None:
            while (item := scheduler.take()) is not None:
                try:
                    result = _validate_one(conn, item, manifest, timeout_ms, bookkeeping)
                finally:
                    scheduler.done(item)
                with lock:
                    outcomes.append(result)
                    if progress:
                        progress(result)

        threads = [threading.Thread(target=work, args=(c,), daemon=True) for c in conns]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    except psycopg.Error as exc:
        raise DatabaseError(f"validate: {_first_line(exc)}") from None
    finally:
        for conn in conns:
            conn.close()
    for item in scheduler.queue:
        outcomes.append(Outcome(
            item.entry, item.table, item.constraint, item.kind, "remaining", item.statement + ";",
            message="not started: --max-duration reached; run cascade-tool validate again",
        ))
    return ValidationRun(outcomes, valid, time.monotonic() - started, jobs)
