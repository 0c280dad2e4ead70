"""The foreign-key graph around a target table, read from pg_catalog in one query.

`find_target(conn, "users")` resolves a table name the way PostgreSQL does (schema-qualified,
or the first match on search_path). `load_graph(conn, target)` returns every *declared* foreign
key whose referenced table is the target or is reachable from it through declared foreign keys
of any ON DELETE action (`sql/graph.sql`): the child and parent tables, the columns, the action,
which FK columns are NOT NULL, deferrability, validation, partitioning, and whether an index
covers the FK columns. Per-partition copies of an FK declared on a partitioned table are not
edges (their count is `ForeignKey.clones`): an FK is declared once, on the parent.

The graph is plain data (frozen dataclasses), so `discover`, `lint` and anything else can walk
it without touching the database again:

    with catalog.connect(url) as conn:
        graph = load_graph(conn, find_target(conn, "users"))
    for fk in graph.edges:           # sorted by child schema, child table, constraint name
        print(fk, fk.on_delete, fk.covered)
    graph.depths()                   # table oid -> shortest distance from the target
    graph.deleted_with_target()      # tables whose rows go when a target row goes (all-CASCADE)
"""

from __future__ import annotations

import difflib
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from cascade_tool import sqlfile
from cascade_tool.errors import DatabaseError, TargetNotFound
from cascade_tool.manifest import TableName, parse_table_name

TARGET_SQL = sqlfile.load("target")
GRAPH_SQL = sqlfile.load("graph")
TABLES_SQL = sqlfile.load("tables")  # for "did you mean"
_PLAIN = re.compile(r"[a-z_\x80-\U0010ffff][a-z0-9_$\x80-\U0010ffff]*")

DELETING = "CASCADE"
BLOCKING = ("RESTRICT", "NO ACTION")
NULLING = ("SET NULL", "SET DEFAULT")



def manifest_identifier(part: str) -> str:
    """One name part as the manifest writes it: plain when it reads back the same, else quoted."""
    if _PLAIN.fullmatch(part) and part.lower() == part:
        return part
    return '"' + part.replace('"', '""') + '"'


@dataclass(frozen=True, order=True)
class Relation:
    """A table, schema-qualified."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def manifest_name(self) -> str:
        """The name as a manifest entry writes it (parse_table_name reads it back exactly)."""
        return f"{manifest_identifier(self.schema)}.{manifest_identifier(self.name)}"


@dataclass(frozen=True)
class Target:
    """The table rows are deleted from."""

    oid: int
    relation: Relation
    partitioned: bool
    primary_key: tuple[str, ...]
    primary_key_types: tuple[int, ...]  # type oids, for matching look-alike columns

    def __str__(self) -> str:
        return str(self.relation)


@dataclass(frozen=True)
class ColumnDefault:
    column: str
    expression: str | None  # None: no default, SET DEFAULT writes NULL
    constant: bool


@dataclass(frozen=True)
class ForeignKey:
    """One declared foreign key: `child(columns)` references `parent(references)`."""

    oid: int
    name: str
    child_oid: int
    child: Relation
    child_partitioned: bool
    child_is_partition: bool
    parent_oid: int
    parent: Relation
    parent_partitioned: bool
    columns: tuple[str, ...]
    column_types: tuple[str, ...]
    not_null_columns: tuple[str, ...]
    references: tuple[str, ...]
    parent_primary_key: tuple[str, ...]
    on_delete: str  # CASCADE | SET NULL | SET DEFAULT | RESTRICT | NO ACTION
    on_update: str
    match: str  # SIMPLE | FULL | PARTIAL
    set_columns: tuple[str, ...]  # ON DELETE SET NULL (col, ...) (PostgreSQL 15+); () otherwise
    defaults: tuple[ColumnDefault, ...]
    deferrable: bool
    deferred: bool
    validated: bool
    enforced: bool
    indexed: bool  # a valid, non-partial index leads with exactly the FK columns
    partial_index: str | None  # else: the predicate of a partial index on those columns
    partial_index_serves: bool  # that predicate is "col IS NOT NULL": cascades use the index
    clones: int  # per-partition copies PostgreSQL keeps of this FK

    def __str__(self) -> str:
        return f"{self.child}({', '.join(self.columns)}) -> {self.parent}"

    @property
    def label(self) -> str:
        """How findings name the FK: table(columns) -> parent [constraint]."""
        return f"{self} [{self.name}]"

    @property
    def self_reference(self) -> bool:
        return self.child_oid == self.parent_oid

    @property
    def written_columns(self) -> tuple[str, ...]:
        """The columns ON DELETE SET NULL / SET DEFAULT writes."""
        return self.set_columns or self.columns

    @property
    def nullable(self) -> bool:
        """No FK column is NOT NULL: SET NULL can work."""
        return not self.not_null_columns

    @property
    def covered(self) -> bool:
        """An index PostgreSQL can use to find the referencing rows of a deleted parent row."""
        return self.indexed or self.partial_index_serves

    def default_of(self, column: str) -> ColumnDefault | None:
        return next((d for d in self.defaults if d.column == column), None)

    def failing_set_columns(self, action: str | None = None) -> tuple[str, ...]:
        """NOT NULL columns that `action` (default: the FK's own) would set to NULL."""
        action = action or self.on_delete
        if action == "SET NULL":
            return tuple(c for c in self.written_columns if c in self.not_null_columns)
        if action == "SET DEFAULT":
            return tuple(
                c for c in self.written_columns
                if c in self.not_null_columns and (d := self.default_of(c)) is not None
                and d.expression is None
            )
        return ()


@dataclass(frozen=True)
class Graph:
    """The declared FKs reachable from a target, sorted by child schema, table and name."""

    target: Target
    edges: tuple[ForeignKey, ...]

    def relations(self) -> dict[int, Relation]:
        """Every table in the graph (the target included), by oid."""
        out = {self.target.oid: self.target.relation}
        for fk in self.edges:
            out.setdefault(fk.child_oid, fk.child)
            out.setdefault(fk.parent_oid, fk.parent)
        return out

    def reachable(self) -> set[int]:
        """Tables that reach the target through FKs (the target itself only through a cycle)."""
        return {fk.child_oid for fk in self.edges} - {self.target.oid}

    def direct(self) -> list[ForeignKey]:
        return [fk for fk in self.edges if fk.parent_oid == self.target.oid]

    def children_of(self) -> dict[int, list[ForeignKey]]:
        """parent oid -> the FKs that reference it, in graph order."""
        out: dict[int, list[ForeignKey]] = {}
        for fk in self.edges:
            out.setdefault(fk.parent_oid, []).append(fk)
        return out

    def depths(self) -> dict[int, int]:
        """Shortest number of FKs from each table to the target (the target: 0)."""
        children = self.children_of()
        depth = {self.target.oid: 0}
        queue = deque([self.target.oid])
        while queue:
            oid = queue.popleft()
            for fk in children.get(oid, []):
                if fk.child_oid not in depth:
                    depth[fk.child_oid] = depth[oid] + 1
                    queue.append(fk.child_oid)
        return depth

    def deleted_with_target(
        self, actions: dict[int, str] | None = None
    ) -> dict[int, tuple[ForeignKey, ...]]:
        """Tables whose rows a delete from the target removes too, with the shortest path there.

        A table is in when an all-CASCADE path of FKs leads to it from the target. `actions`
        (FK oid -> ON DELETE) overrides the catalog's actions, to judge a manifest before it is
        deployed. The target maps to the empty path.
        """
        actions = actions or {}
        children = self.children_of()
        paths: dict[int, tuple[ForeignKey, ...]] = {self.target.oid: ()}
        queue = deque([self.target.oid])
        while queue:
            oid = queue.popleft()
            for fk in children.get(oid, []):
                if actions.get(fk.oid, fk.on_delete) == DELETING and fk.child_oid not in paths:
                    paths[fk.child_oid] = (*paths[oid], fk)
                    queue.append(fk.child_oid)
        return paths


def find_target(conn: psycopg.Connection[Any], name: str | TableName) -> Target:
    """Resolve the target table, or raise TargetNotFound naming similar tables."""
    table = parse_table_name(name, "target") if isinstance(name, str) else name
    names: list[tuple[str, str]] = []
    try:
        with conn.cursor(row_factory=class_row(_TargetRow)) as cur:
            cur.execute(TARGET_SQL, {"schema": table.schema, "table": table.name})
            row = cur.fetchone()
        if row is None:
            with conn.cursor() as tables:
                tables.execute(TABLES_SQL)
                names = [(str(r[0]), str(r[1])) for r in tables.fetchall()]
    except psycopg.Error as exc:
        raise DatabaseError(f"catalog lookup failed: {str(exc).strip().splitlines()[0]}") from None
    if row is None:
        raise TargetNotFound(_not_found(table, names))
    return Target(
        oid=row.oid,
        relation=Relation(row.schema, row.name),
        partitioned=row.kind == "p",
        primary_key=tuple(row.primary_key),
        primary_key_types=tuple(row.primary_key_types),
    )


def _not_found(table: TableName, names: list[tuple[str, str]]) -> str:
    where = f"schema {table.schema}" if table.schema else "the schemas on search_path"
    message = f"target table {table} does not exist (looked in {where})"
    by_name: dict[str, list[str]] = {}
    for schema, name in names:
        by_name.setdefault(name, []).append(f"{schema}.{name}")
    close = difflib.get_close_matches(table.name, sorted(by_name), n=3, cutoff=0.75)
    similar = sorted(q for name in close for q in by_name[name])
    return message + (f"; similar tables: {', '.join(similar)}" if similar else "")


def load_graph(conn: psycopg.Connection[Any], target: Target) -> Graph:
    """Every declared FK reachable from the target, in one catalog query."""
    return Graph(target, _foreign_keys(conn, target.oid))


def all_foreign_keys(conn: psycopg.Connection[Any]) -> tuple[ForeignKey, ...]:
    """Every declared FK of the database (partition clones excluded), in one catalog query."""
    return _foreign_keys(conn, None)


def _foreign_keys(conn: psycopg.Connection[Any], target: int | None) -> tuple[ForeignKey, ...]:
    try:
        with conn.cursor(row_factory=class_row(_ForeignKeyRow)) as cur:
            # The planner over-estimates catalog joins: JIT would spend seconds compiling them.
            cur.execute("SELECT pg_catalog.set_config('jit', 'off', true)")
            cur.execute(GRAPH_SQL, {"target": target})
            rows = cur.fetchall()
    except psycopg.Error as exc:
        raise DatabaseError(f"catalog lookup failed: {str(exc).strip().splitlines()[0]}") from None
    return tuple(_edge(r) for r in rows)


@dataclass(frozen=True)
class _ForeignKeyRow:
    """One row of sql/graph.sql, its columns in order."""

    oid: int
    name: str
    child_oid: int
    child_schema: str
    child_name: str
    child_kind: str
    child_is_partition: bool
    parent_oid: int
    parent_schema: str
    parent_name: str
    parent_kind: str
    columns: list[str]
    column_types: list[str]
    not_null_columns: list[str]
    references: list[str]
    parent_primary_key: list[str]
    on_delete: str
    on_update: str
    match: str
    set_columns: list[str]
    defaults: list[dict[str, str | bool | None]] | None
    deferrable: bool
    deferred: bool
    validated: bool
    enforced: bool
    indexed: bool
    partial_index: str | None
    not_null_predicate: str | None
    clones: int


@dataclass(frozen=True)
class _TargetRow:
    """The row of sql/target.sql."""

    oid: int
    schema: str
    name: str
    kind: str
    is_partition: bool
    primary_key: list[str]
    primary_key_types: list[int]


def _edge(row: _ForeignKeyRow) -> ForeignKey:
    return ForeignKey(
        oid=row.oid,
        name=row.name,
        child_oid=row.child_oid,
        child=Relation(row.child_schema, row.child_name),
        child_partitioned=row.child_kind == "p",
        child_is_partition=row.child_is_partition,
        parent_oid=row.parent_oid,
        parent=Relation(row.parent_schema, row.parent_name),
        parent_partitioned=row.parent_kind == "p",
        columns=tuple(row.columns),
        column_types=tuple(row.column_types),
        not_null_columns=tuple(row.not_null_columns),
        references=tuple(row.references),
        parent_primary_key=tuple(row.parent_primary_key),
        on_delete=row.on_delete,
        on_update=row.on_update,
        match=row.match,
        set_columns=tuple(row.set_columns),
        defaults=tuple(
            ColumnDefault(str(d["column"]), None if d["expression"] is None else str(d["expression"]),
                          bool(d["constant"]))
            for d in (row.defaults or [])
        ),
        deferrable=row.deferrable,
        deferred=row.deferred,
        validated=row.validated,
        enforced=row.enforced,
        indexed=row.indexed,
        partial_index=row.partial_index,
        partial_index_serves=(
            row.partial_index is not None and row.partial_index == row.not_null_predicate
        ),
        clones=row.clones,
    )


def count_rows(conn: psycopg.Connection[Any], queries: list[sql.Composable]) -> list[int]:
    """Run many scalar count queries (each `SELECT count(*) ...`) in one round trip.

    The queries are composed with psycopg.sql (identifiers quoted by psycopg); they read data
    and change nothing. They are sent without parameters, so a `%` in a name is just a `%`.
    Returns one number per query, in order.
    """
    if not queries:
        return []
    array = sql.SQL(", ").join(sql.SQL("({})::bigint").format(q) for q in queries)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT ARRAY[{}]").format(array))
            row = cur.fetchone()
    except psycopg.Error as exc:
        raise DatabaseError(f"row count failed: {str(exc).strip().splitlines()[0]}") from None
    assert row is not None
    return [int(n) for n in row[0]]
