"""Every query against the catalog, in one place.

The lookup itself is `sql/resolve.sql`: the CLI runs it with the manifest as a bound parameter,
and the generated revision embeds the same text, so plan, verify and the deploy cannot disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from cascade_tool import sqlfile
from cascade_tool.errors import DatabaseError
from cascade_tool.manifest import Manifest, TableName

ENTRIES_SLOT = "/*entries*/NULL::jsonb"
RESOLVE_SQL = sqlfile.load("resolve")
# Every index the upgrade builds before the swaps (FK indexes, then add_unique's unique keys);
# reads the lookup's rows from the function named at LOOKUP_SLOT.
INDEXES_SQL = sqlfile.load("indexes")
LOOKUP_SLOT = "/*lookup*/pg_temp.cascade_tool_lookup(NULL)"
UNLISTED_SQL = sqlfile.load("unlisted")
LOCATE_SQL = sqlfile.load("locate")

# The upgrades' bookkeeping per FK (pending validations, validations an upgrade did not finish).
VALIDATIONS_SQL = sqlfile.load("validations")

# A JSON object from the catalog (jsonb): the per-partition copies the lookup records.
JsonObject = dict[str, object]


@dataclass(frozen=True)
class LookupRow:
    """One row of the lookup (sql/resolve.sql, its columns in order): a manifest entry and (at
    most) one matching foreign key. NULL columns are None."""

    i: int  # the entry's position in manifest.active
    status: str  # ok | convert | create | not_valid | not_enforced | missing_* | unparseable | ...
    detail: str
    optional: bool | None
    orphans: str  # the entry's orphan policy: fail | quarantine | set-null
    add_unique: bool
    validate: str  # now | later: "later" leaves the FKs it swaps or creates NOT VALID
    wanted_action: str
    table_display: str
    target_display: str
    table_schema: str | None
    table_name: str | None
    q_table: str | None
    q_target: str | None
    partitioned: bool | None
    columns: list[str]
    references_columns: list[str] | None
    fk_oid: int | None
    conname: str | None
    current_action: str | None
    validated: bool | None
    matches: int
    old_def: str | None
    new_def: str | None
    swap_sql: list[str] | None
    validate_after: bool | None
    validate_sql: str | None
    tmp_name: str
    create_name: str | None
    orphan_sql: str | None
    validate_ddl: str | None
    clones: list[JsonObject]

    @property
    def found_table(self) -> tuple[str, str]:
        """(schema, table) of the entry's table, for a row whose table exists."""
        if self.table_schema is None or self.table_name is None:
            raise ValueError(f"{self.table_display}: the table does not exist")
        return self.table_schema, self.table_name

    def to_json(self) -> dict[str, Any]:
        """The row as the generated revision passes it around (and sql/indexes.sql reads it)."""
        return asdict(self)


@dataclass(frozen=True)
class IndexRow:
    """One index the upgrade would build (sql/indexes.sql)."""

    entry: int
    table_schema: str
    table_name: str
    columns: list[str]
    partitioned: bool
    unique_key: bool  # add_unique: the referenced key's unique index
    label: str
    index_name: str
    drop_sql: str | None  # an INVALID leftover of an earlier attempt, dropped first
    create_sql: str | None  # None on a partitioned table (CONCURRENTLY cannot run there)


@dataclass(frozen=True)
class UnlistedRow:
    """An FK to the manifest's target that no entry matched (sql/unlisted.sql)."""

    table_schema: str
    table_name: str
    conname: str
    columns: list[str]
    current_action: str


@dataclass(frozen=True)
class ValidationRow:
    """What the upgrades recorded about one FK they swapped or created (sql/validations.sql)."""

    table_schema: str
    table_name: str
    constraint_name: str
    revision: str
    change: str  # altered | created
    old_validated: bool | None
    validated_at: str | None
    validate_later: bool


@dataclass(frozen=True)
class LocatedTable:
    """A table as PostgreSQL resolves its name (sql/locate.sql)."""

    schema: str
    name: str
    primary_key: list[str]


def normalize_url(url: str) -> str:
    """Accept SQLAlchemy-style URLs (postgresql+psycopg://) as well as libpq ones."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres+psycopg://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://"):]
    return url


def connect(url: str) -> psycopg.Connection[Any]:
    """A read-only-by-default connection; errors become one-line DatabaseErrors."""
    libpq = normalize_url(url)
    if not libpq.startswith("postgresql://"):
        raise DatabaseError(
            f"database URL must start with postgresql:// or postgresql+psycopg://, got {_redact(url)!r}"
        )
    try:
        conn = psycopg.connect(libpq, autocommit=False, connect_timeout=10)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseError(f"cannot connect to {_redact(url)}: {first}") from None
    conn.read_only = True
    return conn


def _redact(url: str) -> str:
    """Hide a password in a URL before it goes into a message."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        return f"{scheme}://{creds}@{host}"
    return url


def resolve(conn: psycopg.Connection[Any], manifest: Manifest) -> list[LookupRow]:
    """Run the lookup for every manifest entry."""
    sql = RESOLVE_SQL.replace(ENTRIES_SLOT, "%(entries)s::jsonb")
    try:
        with conn.cursor(row_factory=class_row(LookupRow)) as cur:
            # The planner over-estimates this query: JIT would spend seconds compiling it.
            cur.execute("SELECT pg_catalog.set_config('jit', 'off', true)")
            cur.execute(sql.encode(), {"entries": Jsonb(manifest.payload())})
            return cur.fetchall()
    except psycopg.Error as exc:
        raise DatabaseError(f"catalog lookup failed: {str(exc).strip().splitlines()[0]}") from None


def missing_indexes(conn: psycopg.Connection[Any], rows: list[LookupRow]) -> list[IndexRow]:
    """The indexes the upgrade would build (sql/indexes.sql): FK columns no index can serve, and
    add_unique keys, worked out from lookup rows already read (the revision reads them itself)."""
    sql = INDEXES_SQL.replace("%", "%%")  # format('%I') is not a parameter
    sql = sql.replace(LOOKUP_SLOT, "jsonb_array_elements(%(rows)s::jsonb)")
    try:
        with conn.cursor(row_factory=class_row(IndexRow)) as cur:
            cur.execute(sql.encode(), {"rows": Jsonb([r.to_json() for r in rows])})
            return cur.fetchall()
    except psycopg.Error as exc:
        raise DatabaseError(f"index lookup failed: {str(exc).strip().splitlines()[0]}") from None


def count(conn: psycopg.Connection[Any], query: str) -> int:
    """Run one of the lookup's generated count queries (orphan checks)."""
    with conn.cursor() as cur:
        cur.execute(query.encode())  # no parameters: psycopg sends the text as is
        row = cur.fetchone()
        return int(row[0]) if row else 0


def unlisted(conn: psycopg.Connection[Any], manifest: Manifest, rows: list[LookupRow]) -> list[UnlistedRow]:
    """FKs to the manifest's target that no entry matched."""
    matched = [r.fk_oid for r in rows if r.fk_oid]
    with conn.cursor(row_factory=class_row(UnlistedRow)) as cur:
        cur.execute(
            UNLISTED_SQL,
            {
                "target_table": manifest.target.name,
                "target_schema": manifest.target.schema,
                "matched": matched,
            },
        )
        return cur.fetchall()


def validations(
    conn: psycopg.Connection[Any], rows: list[LookupRow] | None = None
) -> dict[tuple[str, str, str], ValidationRow]:
    """The upgrades' newest record per FK, keyed by (schema, table, constraint); empty when no
    upgrade ran here (or this role may not read the bookkeeping). With the lookup's `rows`, only
    the records of their tables' schemas: tenants sharing a database share the bookkeeping."""
    try:
        with conn.transaction():
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT CASE WHEN to_regclass('cascade_tool.fk_changes') IS NOT NULL"
                    " THEN has_table_privilege('cascade_tool.fk_changes', 'SELECT') ELSE false END"
                )
                found = cur.fetchone()
            if not found or not found[0]:
                return {}
            with conn.cursor(row_factory=class_row(ValidationRow)) as records:
                schemas = None if rows is None else sorted({r.table_schema for r in rows if r.table_schema})
                records.execute(VALIDATIONS_SQL.encode(), {"schemas": schemas})
                return {(r.table_schema, r.table_name, r.constraint_name): r for r in records.fetchall()}
    except psycopg.errors.InsufficientPrivilege:
        return {}


def locate(conn: psycopg.Connection[Any], name: TableName) -> LocatedTable:
    """A table and its primary key columns; a DatabaseError naming it if absent."""
    row = find_table(conn, name.schema, name.name)
    if row is None:
        raise DatabaseError(f"table {name} does not exist (or is not on the search_path)")
    return row


def find_table(conn: psycopg.Connection[Any], schema: str | None, name: str) -> LocatedTable | None:
    """A table as PostgreSQL resolves the name (schema None: the search_path), or None."""
    with conn.cursor(row_factory=class_row(LocatedTable)) as cur:
        cur.execute(LOCATE_SQL, {"table": name, "schema": schema})
        return cur.fetchone()


def server_version(conn: psycopg.Connection[Any]) -> int:
    return int(conn.info.server_version) // 10000


def print_sql(manifest: Manifest) -> str:
    """The lookup as a standalone query for psql, the manifest inlined as a dollar-quoted literal."""
    payload = manifest.payload_json()
    tag = "manifest"
    while f"${tag}$" in payload:
        tag += "_"
    literal = f"${tag}${payload}${tag}$::jsonb"
    query = RESOLVE_SQL.replace(ENTRIES_SLOT, literal).rstrip().rstrip(";")
    return (
        "-- cascade-tool verify: one row per manifest entry (and per matching FK).\n"
        "SET jit = off;  -- the planner over-estimates this catalog query\n"
        "-- status: ok | convert (wrong ON DELETE) | create (no FK) | not_valid | not_enforced |\n"
        "--         missing_table | missing_columns | missing_target | ...\n"
        "SELECT q.table_display AS \"table\", array_to_string(q.columns, ', ') AS columns,\n"
        "       q.conname AS constraint_name, q.wanted_action AS expected, q.current_action AS actual,\n"
        "       q.validated, q.optional, q.status\n"
        f"FROM (\n{query}\n) AS q\nORDER BY q.i, q.conname;\n"
    )
