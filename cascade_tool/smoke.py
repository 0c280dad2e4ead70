"""`smoke-test`: the manual "create a test user, add rows, delete it, check" for any manifest.

Everything happens in one transaction that is always rolled back (and a dropped connection
rolls back too), under a statement_timeout and a lock_timeout so a busy table makes it stop
rather than wait. Values for NOT NULL columns are generated from the column's type and sent as
untyped parameters, so PostgreSQL converts them; no type or table name is pasted into SQL.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from cascade_tool import catalog
from cascade_tool.errors import CascadeToolError
from cascade_tool.manifest import Entry, Manifest

COLUMNS_SQL = """
SELECT a.attname::text AS name, a.attnotnull AS not_null,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' AS has_default,
       a.attgenerated <> '' AS generated,
       t.typcategory AS category, t.typname::text AS type, a.atttypmod AS typmod,
       (SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid
         ORDER BY e.enumsortorder LIMIT 1) AS first_label,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                WHERE i.indrelid = a.attrelid AND i.indisunique AND i.indkey[0] = a.attnum
                  AND i.indnkeyatts = 1) AS unique_alone
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
 WHERE a.attrelid = (SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
                      ON n.oid = c.relnamespace WHERE n.nspname = %(schema)s AND c.relname = %(table)s)
   AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""


class SmokeError(CascadeToolError):
    """The smoke test could not start (no target row could be created, ...)."""


@dataclass(frozen=True)
class Check:
    entry: int
    table: str
    columns: list[str]
    on_delete: str
    result: str  # deleted | nulled | defaulted | FAILED | not filled | skipped
    detail: str

    @property
    def failed(self) -> bool:
        return self.result == "FAILED"


@dataclass(frozen=True)
class SmokeResult:
    target: str
    delete_error: str | None
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return self.delete_error is None and not any(c.failed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "target": self.target,
            "delete_error": self.delete_error,
            "checks": [asdict(c) | {"failed": c.failed} for c in self.checks],
            "rolled_back": True,
        }


def _q(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def _value(cur: psycopg.Cursor[Any], schema: str, table: str, col: dict[str, Any]) -> str | None:
    """A value PostgreSQL will accept for this column's type (sent untyped), or None."""
    cat = col["category"]
    tag = uuid.uuid4().hex[:12]
    if cat == "S":
        text = f"cascade-tool-smoke-{tag}@example.invalid"
        limit = col["typmod"] - 4 if col["typmod"] and col["typmod"] > 4 else None
        return text[:limit] if limit else text
    if cat == "N":
        if col["unique_alone"]:
            cur.execute(sql.SQL("SELECT (coalesce(max({c}), 0) + 1)::text FROM {t}").format(
                c=sql.Identifier(col["name"]), t=_q(schema, table)))
            row = cur.fetchone()
            return str(next(iter(row.values()))) if row else "1"
        return "1"  # satisfies more CHECKs (ratings, positive amounts) than 0
    if cat == "B":
        return "false"
    if cat == "D":
        return "today" if col["type"] == "date" else "now"
    if cat == "E":
        return col["first_label"]  # type: ignore[no-any-return]
    if cat == "A":
        return "{}"
    if col["type"] in ("json", "jsonb"):
        return "{}"
    if col["type"] == "uuid":
        return str(uuid.uuid4())
    if col["type"] == "bytea":
        return ""
    return None


def _insert(
    cur: psycopg.Cursor[Any], schema: str, table: str, fixed: dict[str, Any],
    other_fk_values: dict[str, Any],
) -> dict[str, Any]:
    """Insert one row: `fixed` values, parents found for other NOT NULL FKs, generated values."""
    cur.execute(COLUMNS_SQL, {"schema": schema, "table": table})
    names: list[str] = []
    values: list[Any] = []
    for col in cur.fetchall():
        name = col["name"]
        if col["generated"]:
            continue
        if name in fixed:
            names.append(name)
            values.append(fixed[name])
        elif name in other_fk_values:
            names.append(name)
            values.append(other_fk_values[name])
        elif col["not_null"] and not col["has_default"]:
            value = _value(cur, schema, table, col)
            if value is None:
                raise SmokeError(f"no value for NOT NULL column {name} of type {col['type']}")
            names.append(name)
            values.append(value)
    query = sql.SQL("INSERT INTO {t} ({cols}) VALUES ({vals}) RETURNING *").format(
        t=_q(schema, table),
        cols=sql.SQL(", ").join(map(sql.Identifier, names)),
        vals=sql.SQL(", ").join(sql.Placeholder() * len(names)),
    )
    if not names:
        query = sql.SQL("INSERT INTO {t} DEFAULT VALUES RETURNING *").format(t=_q(schema, table))
    cur.execute(query, values)
    row = cur.fetchone()
    assert row is not None
    return dict(row)


def _other_fk_values(
    cur: psycopg.Cursor[Any], edges: list[catalog.Edge], schema: str, table: str,
    own: set[str], avoid: tuple[str, str, dict[str, Any]],
) -> dict[str, Any]:
    """For NOT NULL FK columns outside the entry: a key of an existing parent row (not our user)."""
    cur.execute(COLUMNS_SQL, {"schema": schema, "table": table})
    not_null = {c["name"] for c in cur.fetchall() if c["not_null"]}
    out: dict[str, Any] = {}
    for edge in edges:
        if edge.child != (schema, table) or set(edge.columns) & own or not set(edge.columns) & not_null:
            continue
        cond: sql.Composable = sql.SQL("true")
        if edge.parent == avoid[:2]:
            cond = sql.SQL("NOT ({}) = ({})").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in avoid[2]),
                sql.SQL(", ").join(sql.Literal(v) for v in avoid[2].values()),
            )
        cur.execute(
            sql.SQL("SELECT {refs} FROM {p} WHERE {cond} LIMIT 1").format(
                refs=sql.SQL(", ").join(map(sql.Identifier, edge.references_columns)),
                p=_q(edge.parent_schema, edge.parent_table), cond=cond,
            )
        )
        row = cur.fetchone()
        if row is None:
            raise SmokeError(
                f"NOT NULL column(s) {', '.join(edge.columns)} need a row in "
                f"{edge.parent_schema}.{edge.parent_table}, which is empty"
            )
        out.update(zip(edge.columns, row.values(), strict=True))
    return out


def run(conn: psycopg.Connection[Any], manifest: Manifest, *, timeout_ms: int = 30000) -> SmokeResult:
    """Create a user, fill every manifest table it can, delete the user, check, roll back."""
    conn.read_only = False
    rows = catalog.resolve(conn, manifest)
    present = {r.i: r for r in rows if r.table_schema and not r.status.startswith("missing")}
    checks: list[Check] = []
    delete_error: str | None = None
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(timeout_ms)))
            cur.execute("SET LOCAL lock_timeout = '2s'")
            schema, table, pk = catalog.locate(conn, manifest.target)
            edges = catalog.edges(conn)
            cur.execute("SAVEPOINT cascade_tool_user")
            try:
                user = _insert(cur, schema, table, {}, {})
            except (psycopg.Error, SmokeError) as exc:
                raise SmokeError(f"cannot create a test row in {schema}.{table}: {_first(exc)}") from None
            key_cols = list(manifest.target_columns or pk)
            user_key = {c: user[c] for c in key_cols}

            inserted: dict[int, dict[str, Any]] = {}  # entry index -> inserted row
            parents: dict[tuple[str | None, str], dict[str, Any]] = {}
            # `present` and `inserted` are keyed by position in manifest.active (the lookup's i)
            order = sorted(enumerate(manifest.active), key=lambda pe: pe[1].chain)
            for pos, entry in order:
                row = present.get(pos)
                label = _label(entry, row)
                if row is None:
                    checks.append(_check(entry, label, "skipped", "table or column absent"))
                    continue
                if entry.on_delete in ("RESTRICT", "NO ACTION"):
                    checks.append(_check(entry, label, "skipped",
                                         f"{entry.on_delete} blocks the delete by design: not exercised"))
                    continue
                if entry.chain:
                    parent_row = parents.get((entry.target.schema, entry.target.name))
                    if parent_row is None:
                        checks.append(_check(entry, label, "not filled",
                                             f"no test row in {entry.target} to reference"))
                        continue
                    refs = list(row.references_columns)
                    fixed = {c: parent_row[r] for c, r in zip(entry.columns, refs, strict=True)}
                else:
                    refs = list(entry.references or key_cols)
                    fixed = {c: user[r] for c, r in zip(entry.columns, refs, strict=True)}
                cur.execute("SAVEPOINT cascade_tool_row")
                try:
                    others = _other_fk_values(cur, edges, row.table_schema, row.table_name,
                                              set(entry.columns), (schema, table, user_key))
                    inserted[pos] = _insert(cur, row.table_schema, row.table_name, fixed, others)
                    parents.setdefault((row.table_schema, row.table_name), inserted[pos])
                    parents.setdefault((entry.table.schema, entry.table.name), inserted[pos])
                    cur.execute("RELEASE SAVEPOINT cascade_tool_row")
                except (psycopg.Error, SmokeError) as exc:
                    cur.execute("ROLLBACK TO SAVEPOINT cascade_tool_row")
                    checks.append(_check(entry, label, "not filled", _first(exc)))

            cur.execute("SAVEPOINT cascade_tool_delete")
            try:
                cur.execute(
                    sql.SQL("DELETE FROM {t} WHERE ({k}) = ({v})").format(
                        t=_q(schema, table),
                        k=sql.SQL(", ").join(map(sql.Identifier, user_key)),
                        v=sql.SQL(", ").join(sql.Placeholder() * len(user_key)),
                    ),
                    list(user_key.values()),
                )
                cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred FKs are checked now
            except psycopg.Error as exc:
                delete_error = _first(exc)
                cur.execute("ROLLBACK TO SAVEPOINT cascade_tool_delete")

            for pos, entry in enumerate(manifest.active):
                if pos not in inserted:
                    continue
                checks.append(_verify_row(cur, entry, present[pos], inserted[pos], delete_error is None))
    except psycopg.Error as exc:
        raise SmokeError(f"smoke test stopped: {_first(exc)} (everything rolled back)") from None
    finally:
        conn.rollback()  # always: the smoke test never commits
    checks.sort(key=lambda c: c.entry)
    return SmokeResult(f"{schema}.{table}", delete_error, checks)


def _verify_row(
    cur: psycopg.Cursor[Any], entry: Entry, row: catalog.Row, inserted: dict[str, Any], deleted: bool
) -> Check:
    label = _label(entry, row)
    if not deleted:
        return _check(entry, label, "skipped", "the delete failed, nothing to check")
    table = _q(row.table_schema, row.table_name)
    if entry.on_delete == "CASCADE":
        # any row still pointing at the deleted user (or chain parent) would be an orphan
        cur.execute(
            sql.SQL("SELECT count(*) AS n FROM {t} WHERE ({c}) = ({v})").format(
                t=table, c=sql.SQL(", ").join(map(sql.Identifier, entry.columns)),
                v=sql.SQL(", ").join(sql.Placeholder() * len(entry.columns)),
            ),
            [inserted[c] for c in entry.columns],
        )
        left = cur.fetchone()
        if left and left["n"]:
            return _check(entry, label, "FAILED", "the row is still there after the delete")
        return _check(entry, label, "deleted", "row deleted with the user")
    # SET NULL / SET DEFAULT: the same row must still exist; find it by its primary key, or by
    # its other plain values when the table has none
    cur.execute(catalog.LOCATE_SQL, {"schema": row.table_schema, "table": row.table_name})
    located = cur.fetchone()
    pk = list(located["primary_key"]) if located else []
    keys = pk or [k for k, v in inserted.items()
                  if k not in entry.columns and isinstance(v, (str, int, float, bool)) and v is not None]
    cur.execute(
        sql.SQL("SELECT * FROM {t} WHERE {cond}").format(
            t=table,
            cond=sql.SQL(" AND ").join(
                sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder()) for k in keys
            ) or sql.SQL("true"),
        ),
        [inserted[k] for k in keys],
    )
    found = cur.fetchall()
    if not found:
        return _check(entry, label, "FAILED", f"{entry.on_delete} expected, but the row was deleted")
    if entry.on_delete == "SET NULL":
        if all(found[0][c] is None for c in entry.columns):
            return _check(entry, label, "nulled", "row kept, reference set NULL")
        return _check(entry, label, "FAILED", "row kept but the reference was not set NULL")
    return _check(entry, label, "defaulted", "row kept, reference set to its default")


def _label(entry: Entry, row: catalog.Row | None) -> str:
    return row.table_display if row is not None else str(entry.table)


def _check(entry: Entry, table: str, result: str, detail: str) -> Check:
    return Check(entry.index, table, list(entry.columns), entry.on_delete, result, detail)


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
