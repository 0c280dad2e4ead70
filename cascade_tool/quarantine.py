"""Rows kept aside to add a missing FK: list, restore and purge `cascade_quarantine.rows`.

The moving and the restoring are PL/pgSQL in templates/_quarantine.sql.j2, which the generated
revision embeds (it must run without this package). `restore` creates the same routines in its
own session (pg_temp) and calls them, so a downgrade and `cascade-tool quarantine restore` put
rows back in exactly the same way. Listing and purging are plain queries (sql/quarantine_*.sql).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row

from cascade_tool import sqlfile
from cascade_tool.errors import DatabaseError, QuarantineError
from cascade_tool.manifest import TableName

SCHEMA = "cascade_quarantine"
LIST_SQL = sqlfile.load("quarantine_list")
PURGE_SQL = sqlfile.load("quarantine_purge")

_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|min|h|d|w)\s*$")
_UNITS = {"s": "seconds", "sec": "seconds", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def routines_sql() -> str:
    """The CREATE statements of the pg_temp routines (templates/_quarantine.sql.j2), as SQL text."""
    from cascade_tool.render import _environment

    template = _environment().from_string(
        '{% from "_quarantine.sql.j2" import quarantine_routines %}{{ quarantine_routines() }}'
    )
    return template.render().strip() + "\n"


def install_routines(conn: psycopg.Connection[Any]) -> None:
    """Create the routines in this session's pg_temp (they vanish with the session)."""
    with conn.cursor() as cur:
        cur.execute(routines_sql().encode())  # no parameters: several statements, sent as is


@dataclass(frozen=True)
class Group:
    """What one revision quarantined in one table, by action."""

    revision: str
    table: str
    action: str  # moved | nulled
    pending: int  # still in quarantine
    restored: int
    oldest: datetime
    newest: datetime
    constraints: list[str]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["oldest"] = self.oldest.isoformat()
        data["newest"] = self.newest.isoformat()
        return data


@dataclass(frozen=True)
class Left:
    """Quarantined rows that could not go back, and why."""

    revision: str
    table: str
    action: str
    rows: int
    ids: list[int]  # up to five quarantine ids
    why: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Restored:
    restored: int  # rows re-inserted
    unnulled: int  # nulled rows given their values back
    left: list[Left]

    def to_json(self) -> dict[str, Any]:
        return {"restored": self.restored, "unnulled": self.unnulled, "left": [x.to_json() for x in self.left]}


@dataclass(frozen=True)
class Purged:
    revision: str
    table: str
    action: str
    rows: int
    never_restored: int
    oldest: datetime
    newest: datetime

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["oldest"] = self.oldest.isoformat()
        data["newest"] = self.newest.isoformat()
        return data


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `2w`, `90min`, `3600s`: a retention, which must be given explicitly."""
    match = _DURATION.match(text or "")
    if not match:
        raise QuarantineError(
            f"{text!r} is not a duration: write a number and a unit, e.g. 30d, 12h, 2w, 90min",
            option="older_than",
        )
    value = int(match.group(1))
    if value <= 0:
        raise QuarantineError(f"{text!r} must be more than zero", option="older_than")
    return timedelta(**{_UNITS[match.group(2)]: value})


def _filters(revision: str | None, table: TableName | None, schema: str | None = None) -> dict[str, Any]:
    """The filters the queries and the restore routine take; `schema` is one tenant's schema
    (tenants sharing a database share cascade_quarantine.rows; each row names its table's schema)."""
    return {
        "revision": revision,
        "table_schema": table.schema if table else None,
        "table_name": table.name if table else None,
        "schema": schema,
    }


def _exists(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass('cascade_quarantine.rows') IS NOT NULL").fetchone()
    return bool(row and row[0])


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def list_groups(
    conn: psycopg.Connection[Any], revision: str | None = None, table: TableName | None = None,
    schema: str | None = None,
) -> list[Group]:
    """Counts per revision, table and action; empty when nothing was ever quarantined."""
    try:
        if not _exists(conn):
            return []
        with conn.cursor(row_factory=class_row(Group)) as cur:
            cur.execute(LIST_SQL, _filters(revision, table, schema))
            return cur.fetchall()
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot read {SCHEMA}.rows: {_first_line(exc)}") from None


def restore(
    conn: psycopg.Connection[Any], revision: str | None = None, table: TableName | None = None,
    schema: str | None = None,
) -> Restored:
    """Put back what can go back, in one transaction: each row is back or still in quarantine."""
    conn.read_only = False
    try:
        if not _exists(conn):
            conn.rollback()
            return Restored(0, 0, [])
        install_routines(conn)
        f = _filters(revision, table, schema)
        row = conn.execute(
            "SELECT pg_temp.cascade_tool_restore_quarantined(%s, %s, %s, %s, %s::text[])",
            (f["revision"], f["table_schema"], f["table_name"], "cascade-tool quarantine restore",
             None if schema is None else [schema]),
        ).fetchone()
        conn.commit()
    except psycopg.Error as exc:
        conn.rollback()
        raise DatabaseError(f"restore failed, nothing was restored: {_first_line(exc)}") from None
    data: dict[str, Any] = row[0] if row else {"restored": 0, "unnulled": 0, "left": []}
    return Restored(
        int(data["restored"]),
        int(data["unnulled"]),
        [Left(x["revision"], x["table"], x["action"], int(x["rows"]), list(x["ids"]), x["why"]) for x in data["left"]],
    )


def purge(
    conn: psycopg.Connection[Any],
    older_than: timedelta,
    revision: str | None = None,
    table: TableName | None = None,
    schema: str | None = None,
) -> list[Purged]:
    """Delete quarantined rows (restored or not) older than the retention; returns what went."""
    conn.read_only = False
    try:
        if not _exists(conn):
            conn.rollback()
            return []
        with conn.cursor(row_factory=class_row(Purged)) as cur:
            cur.execute(PURGE_SQL, {**_filters(revision, table, schema), "older_than": older_than})
            out = cur.fetchall()
        conn.commit()
        return out
    except psycopg.Error as exc:
        conn.rollback()
        raise DatabaseError(f"purge failed, nothing was removed: {_first_line(exc)}") from None
