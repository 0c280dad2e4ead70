"""`impact`: what deleting some target rows would do, computed without changing anything.

It follows the FK graph from the matched rows: rows an ON DELETE CASCADE would delete (and what
those deletions reach in turn), rows SET NULL / SET DEFAULT would change, and rows a NO ACTION /
RESTRICT FK would refuse to orphan (the delete would fail). Rows are tracked as (tableoid, ctid)
pairs, one query per FK edge and step, inside a READ ONLY transaction that is always rolled back.

The user's --where text is SQL by design. It is only ever run:
- inside a READ ONLY transaction (so it cannot write), under a statement_timeout;
- as a prepared statement (extended query protocol), so `id = 1; COMMIT; DROP TABLE t` is
  refused by the server as more than one command instead of being executed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from cascade_tool.errors import DatabaseError, ImpactError
from cascade_tool.graph import ForeignKey, Relation, find_target, load_graph
from cascade_tool.manifest import TableName

RowSet = set[tuple[str, str]]  # (tableoid, ctid) as text



@dataclass
class TableImpact:
    table: str
    deleted: int = 0
    via: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EdgeEffect:
    table: str
    constraint: str
    columns: list[str]
    on_delete: str
    rows: int
    blocks: bool
    why: str


@dataclass(frozen=True)
class Impact:
    target: str
    condition: str
    matched: int
    tables: list[TableImpact]
    nulled: list[EdgeEffect]
    blocked: list[EdgeEffect]

    @property
    def would_fail(self) -> bool:
        return bool(self.blocked)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "condition": self.condition,
            "matched": self.matched,
            "would_fail": self.would_fail,
            "deleted": [asdict(t) for t in self.tables],
            "set_null_or_default": [asdict(e) for e in self.nulled],
            "blocked": [asdict(e) for e in self.blocked],
            "read_only": True,
        }


def _qualified(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def _cols(alias: str, names: tuple[str, ...] | list[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(n)) for n in names)


def _split(rows: RowSet) -> tuple[list[str], list[str]]:
    ordered = sorted(rows)
    return [r[0] for r in ordered], [r[1] for r in ordered]


def _referencing(cur: psycopg.Cursor[Any], edge: ForeignKey, parents: RowSet) -> RowSet:
    """Rows of edge's child that reference the given rows of edge's parent."""
    query = sql.SQL(
        "SELECT c.tableoid::text, c.ctid::text FROM {child} AS c WHERE ({ccols}) IN ("
        "SELECT {pcols} FROM {parent} AS p WHERE (p.tableoid, p.ctid) IN ("
        "SELECT * FROM unnest(%s::text[]::oid[], %s::text[]::tid[])))"
    ).format(
        child=_qualified(edge.child.schema, edge.child.name),
        ccols=_cols("c", edge.columns),
        pcols=_cols("p", edge.references),
        parent=_qualified(edge.parent.schema, edge.parent.name),
    )
    oids, ctids = _split(parents)
    cur.execute(query, (oids, ctids))
    return {(str(a), str(b)) for a, b in cur.fetchall()}


def _start_rows(
    cur: psycopg.Cursor[Any], schema: str, table: str, where: str | None, key: list[Any] | None,
    pk: tuple[str, ...],
) -> RowSet:
    base = sql.SQL("SELECT t.tableoid::text, t.ctid::text FROM {} AS t WHERE ").format(_qualified(schema, table))
    try:
        if key is not None:
            if len(pk) != len(key):
                raise ImpactError(
                    f"needs a one-column primary key on {schema}.{table} (it has {len(pk)}): "
                    "select the rows with a condition instead",
                    option="key",
                )
            cond = sql.SQL(" AND ").join(sql.SQL("t.{} = %s").format(sql.Identifier(c)) for c in pk)
            cur.execute(base + cond, key)
        else:
            assert where is not None
            # The user's own SQL, by design: read-only transaction, statement_timeout, and a
            # prepared statement, so a second command is a protocol error, never executed.
            cur.execute(base + sql.SQL("(") + sql.SQL(where) + sql.SQL("\n)"), prepare=True)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImpactError(f"the condition failed in the database, nothing was changed: {first}") from None
    return {(str(a), str(b)) for a, b in cur.fetchall()}


def compute(
    conn: psycopg.Connection[Any],
    target: TableName,
    *,
    where: str | None = None,
    key: list[Any] | None = None,
    statement_timeout_ms: int = 30000,
) -> Impact:
    """Follow a deletion of the matching target rows through every declared FK, read-only."""
    if (where is None) == (key is None):
        raise ImpactError("give exactly one of a condition (where) and a key")
    if where is not None and not where.strip():
        raise ImpactError("is empty", option="where")
    conn.read_only = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(statement_timeout_ms)))
            located = find_target(conn, target)
            schema, table, pk = located.relation.schema, located.relation.name, located.primary_key
            root = located.relation
            graph = load_graph(conn, located)
            children = defaultdict(list, {
                graph.relations()[oid]: fks for oid, fks in graph.children_of().items()
            })

            start = _start_rows(cur, schema, table, where, key, pk)
            deleted: dict[Relation, RowSet] = defaultdict(set)
            via: dict[Relation, set[str]] = defaultdict(set)
            touched: dict[int, RowSet] = defaultdict(set)
            deleted[root] = set(start)
            queue: list[tuple[Relation, RowSet]] = [(root, set(start))]
            while queue:
                parent, delta = queue.pop(0)
                if not delta:
                    continue
                for edge in children.get(parent, []):
                    rows = _referencing(cur, edge, delta)
                    if not rows:
                        continue
                    touched[edge.oid] |= rows
                    if edge.on_delete == "CASCADE":
                        new = rows - deleted[edge.child]
                        if new:
                            deleted[edge.child] |= new
                            via[edge.child].add(edge.name)
                            queue.append((edge.child, new))
    except psycopg.errors.QueryCanceled:
        raise ImpactError(
            f"stopped after the {statement_timeout_ms} ms statement timeout; nothing was changed"
        ) from None
    except psycopg.Error as exc:
        raise DatabaseError(f"impact failed: {str(exc).strip().splitlines()[0]}") from None
    finally:
        conn.rollback()  # read-only, and never committed

    edge_by_oid = {e.oid: e for e in graph.edges}
    nulled: list[EdgeEffect] = []
    blocked: list[EdgeEffect] = []
    for oid, rows in sorted(touched.items(), key=lambda kv: (edge_by_oid[kv[0]].child, edge_by_oid[kv[0]].name)):
        edge = edge_by_oid[oid]
        survivors = rows - deleted[edge.child]
        name = str(edge.child)
        columns = list(edge.columns)
        if edge.on_delete in ("SET NULL", "SET DEFAULT") and survivors:
            if edge.on_delete == "SET NULL" and edge.failing_set_columns("SET NULL"):
                blocked.append(EdgeEffect(name, edge.name, columns, edge.on_delete, len(survivors), True,
                                          "SET NULL on a NOT NULL column: the delete fails (not-null violation)"))
            else:
                nulled.append(EdgeEffect(name, edge.name, columns, edge.on_delete, len(survivors), False,
                                         f"{edge.on_delete} on ({', '.join(edge.columns)})"))
        elif edge.on_delete in ("NO ACTION", "RESTRICT") and survivors:
            blocked.append(EdgeEffect(name, edge.name, columns, edge.on_delete, len(survivors), True,
                                      f"{edge.on_delete}: rows still reference the deleted rows"))
    tables = [
        TableImpact(str(rel), len(rows), sorted(via.get(rel, set())))
        for rel, rows in sorted(deleted.items(), key=lambda kv: (kv[0] != root, kv[0]))
        if rows
    ]
    condition = where if where is not None else f"{', '.join(pk)} = {', '.join(map(str, key or []))}"
    return Impact(str(root), condition, len(start), tables, nulled, blocked)
