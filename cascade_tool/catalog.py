"""Every query against the catalog, in one place.

The lookup itself is `sql/resolve.sql`: the CLI runs it with the manifest as a bound parameter,
and the generated revision embeds the same text, so plan, verify and the deploy cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cascade_tool.errors import DatabaseError
from cascade_tool.manifest import Manifest, TableName

ENTRIES_SLOT = "/*entries*/NULL::jsonb"
RESOLVE_SQL = resources.files("cascade_tool").joinpath("sql/resolve.sql").read_text("utf-8")
# Every index the upgrade builds before the swaps (FK indexes, then add_unique's unique keys);
# reads the lookup's rows from the function named at LOOKUP_SLOT.
INDEXES_SQL = resources.files("cascade_tool").joinpath("sql/indexes.sql").read_text("utf-8")
LOOKUP_SLOT = "/*lookup*/pg_temp.cascade_tool_lookup(NULL)"

# FKs to the target that no manifest entry covers (verify's "unlisted" warnings).
UNLISTED_SQL = """
SELECT n.nspname AS table_schema, r.relname AS table_name, c.conname,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(num, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num
              ORDER BY k.ord) AS columns,
       CASE c.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
            WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END AS current_action
  FROM pg_catalog.pg_constraint c
  JOIN pg_catalog.pg_class r ON r.oid = c.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
 WHERE c.contype = 'f' AND c.conparentid = 0
   AND c.confrelid = (
        SELECT c2.oid FROM pg_catalog.pg_class c2
          JOIN pg_catalog.pg_namespace n2 ON n2.oid = c2.relnamespace
          LEFT JOIN unnest(pg_catalog.current_schemas(false)) WITH ORDINALITY AS s(nsp, ord)
            ON s.nsp = n2.nspname
         WHERE c2.relname = %(target_table)s AND c2.relkind IN ('r', 'p')
           AND (n2.nspname = %(target_schema)s OR (%(target_schema)s IS NULL AND s.ord IS NOT NULL))
         ORDER BY s.ord LIMIT 1)
   AND NOT (c.oid = ANY (%(matched)s::oid[]))
 ORDER BY n.nspname, r.relname, c.conname
"""


# A table as PostgreSQL resolves the name (first match on search_path when unqualified),
# with its primary key columns.
LOCATE_SQL = """
SELECT n.nspname AS schema, c.relname AS name,
       ARRAY(SELECT a.attname::text
               FROM pg_catalog.pg_constraint p, unnest(p.conkey) WITH ORDINALITY AS k(num, ord),
                    pg_catalog.pg_attribute a
              WHERE p.conrelid = c.oid AND p.contype = 'p' AND a.attrelid = c.oid AND a.attnum = k.num
              ORDER BY k.ord) AS primary_key
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN unnest(pg_catalog.current_schemas(false)) WITH ORDINALITY AS s(nsp, ord) ON s.nsp = n.nspname
 WHERE c.relname = %(table)s::text AND c.relkind IN ('r', 'p')
   AND (n.nspname = %(schema)s::text OR (%(schema)s::text IS NULL AND s.ord IS NOT NULL))
 ORDER BY s.ord LIMIT 1
"""
EDGES_SQL = resources.files("cascade_tool").joinpath("sql/edges.sql").read_text("utf-8")
# The upgrades' bookkeeping per FK (pending validations, validations an upgrade did not finish).
VALIDATIONS_SQL = resources.files("cascade_tool").joinpath("sql/validations.sql").read_text("utf-8")


@dataclass(frozen=True)
class Edge:
    """A declared foreign key, seen as an edge parent -> child of the deletion graph."""

    fk_oid: int
    conname: str
    child_schema: str
    child_table: str
    parent_schema: str
    parent_table: str
    columns: list[str]
    references_columns: list[str]
    on_delete: str
    nulls_not_null_column: bool
    validated: bool

    @property
    def child(self) -> tuple[str, str]:
        return (self.child_schema, self.child_table)

    @property
    def parent(self) -> tuple[str, str]:
        return (self.parent_schema, self.parent_table)


@dataclass(frozen=True)
class Row:
    """One row of the lookup: a manifest entry and (at most) one matching foreign key."""

    data: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(name) from None


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


def resolve(conn: psycopg.Connection[Any], manifest: Manifest) -> list[Row]:
    """Run the lookup for every manifest entry."""
    sql = RESOLVE_SQL.replace(ENTRIES_SLOT, "%(entries)s::jsonb")
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            # The planner over-estimates this query: JIT would spend seconds compiling it.
            cur.execute("SELECT pg_catalog.set_config('jit', 'off', true)")
            cur.execute(sql.encode(), {"entries": Jsonb(manifest.payload())})
            return [Row(dict(r)) for r in cur.fetchall()]
    except psycopg.Error as exc:
        raise DatabaseError(f"catalog lookup failed: {str(exc).strip().splitlines()[0]}") from None


def missing_indexes(conn: psycopg.Connection[Any], rows: list[Row]) -> list[Row]:
    """The indexes the upgrade would build (sql/indexes.sql): FK columns no index can serve, and
    add_unique keys, worked out from lookup rows already read (the revision reads them itself)."""
    sql = INDEXES_SQL.replace("%", "%%")  # format('%I') is not a parameter
    sql = sql.replace(LOOKUP_SLOT, "jsonb_array_elements(%(rows)s::jsonb)")
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql.encode(), {"rows": Jsonb([r.data for r in rows])})
            return [Row(dict(r)) for r in cur.fetchall()]
    except psycopg.Error as exc:
        raise DatabaseError(f"index lookup failed: {str(exc).strip().splitlines()[0]}") from None


def count(conn: psycopg.Connection[Any], query: str) -> int:
    """Run one of the lookup's generated count queries (orphan checks)."""
    with conn.cursor() as cur:
        cur.execute(query.encode())  # no parameters: psycopg sends the text as is
        row = cur.fetchone()
        return int(row[0]) if row else 0


def unlisted(conn: psycopg.Connection[Any], manifest: Manifest, rows: list[Row]) -> list[Row]:
    """FKs to the manifest's target that no entry matched."""
    matched = [r.data["fk_oid"] for r in rows if r.data.get("fk_oid")]
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            UNLISTED_SQL,
            {
                "target_table": manifest.target.name,
                "target_schema": manifest.target.schema,
                "matched": matched,
            },
        )
        return [Row(dict(r)) for r in cur.fetchall()]


def validations(conn: psycopg.Connection[Any]) -> dict[tuple[str, str, str], Row]:
    """The upgrades' newest record per FK, keyed by (schema, table, constraint); empty when no
    upgrade ran here (or this role may not read the bookkeeping)."""
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT CASE WHEN to_regclass('cascade_tool.fk_changes') IS NOT NULL"
                " THEN has_table_privilege('cascade_tool.fk_changes', 'SELECT') ELSE false END"
            )
            found = cur.fetchone()
            if not found or not next(iter(found.values())):
                return {}
            cur.execute(VALIDATIONS_SQL.encode())
            return {
                (r["table_schema"], r["table_name"], r["constraint_name"]): Row(dict(r))
                for r in cur.fetchall()
            }
    except psycopg.errors.InsufficientPrivilege:
        return {}


def locate(conn: psycopg.Connection[Any], name: TableName) -> tuple[str, str, list[str]]:
    """(schema, table, primary key columns) of a table; a DatabaseError naming it if absent."""
    with conn.cursor() as cur:
        cur.execute(LOCATE_SQL, {"table": name.name, "schema": name.schema})
        row = cur.fetchone()
    if row is None:
        raise DatabaseError(f"table {name} does not exist (or is not on the search_path)")
    return str(row[0]), str(row[1]), list(row[2])


def edges(conn: psycopg.Connection[Any]) -> list[Edge]:
    """Every declared FK of the database (partition clones excluded), in one query."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT pg_catalog.set_config('jit', 'off', true)")
        cur.execute(EDGES_SQL.encode())
        return [Edge(**r) for r in cur.fetchall()]


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
