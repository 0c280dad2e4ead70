"""The orphans report: rows an FK still has to accept, per manifest entry, before anything runs.

For each entry whose FK does not exist yet (the lookup says `create`, or `not_unique` when the
referenced columns lack a unique constraint) or exists but is NOT VALID: how many rows reference
no parent, how many distinct keys are missing, a few of them, and the entry's `orphans` policy.
For `not_unique` entries, how many referenced key values occur more than once (a UNIQUE
constraint cannot be added while they do). Counts of entries the upgrade creates run the lookup's
own `orphan_sql`, the query the revision runs. Everything runs in one READ ONLY transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from cascade_tool import catalog, sqlfile
from cascade_tool.errors import DatabaseError
from cascade_tool.manifest import Manifest

FK_SQL = sqlfile.load("orphan_fk")
SAMPLES = 5


@dataclass(frozen=True)
class Finding:
    """One manifest entry (one FK when several match) and the rows its FK would reject."""

    entry: int  # position in the manifest's [[tables]]
    table: str
    columns: list[str]
    target: str
    references: list[str]
    status: str  # create | not_unique | not_valid (the lookup's status; convert when NOT VALID too)
    constraint: str | None
    policy: str  # fail | quarantine | set-null
    orphans: int
    missing_keys: int  # distinct key values with no parent
    sample_keys: list[list[str | None]]  # up to five of them, as text
    duplicate_keys: int | None  # not_unique: referenced key values found more than once
    add_unique: bool

    @property
    def blocked(self) -> bool:
        """The upgrade cannot leave this FK valid as the manifest stands."""
        if self.duplicate_keys:
            return True
        if self.status == "not_unique" and not self.add_unique:
            return True
        return self.orphans > 0 and self.policy == "fail"

    @property
    def found(self) -> bool:
        """Something to deal with: orphan rows, or referenced keys that are not unique."""
        return self.orphans > 0 or bool(self.duplicate_keys) or (
            self.status == "not_unique" and not self.add_unique
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["blocked"] = self.blocked
        return data


@dataclass(frozen=True)
class _FkRow:
    """The row of sql/orphan_fk.sql: an existing FK, by oid."""

    table_schema: str
    table_name: str
    relkind: str
    target_schema: str
    target_table: str
    target_relkind: str
    match_full: bool
    columns: list[str]
    references_columns: list[str]


@dataclass(frozen=True)
class _Fk:
    table_schema: str
    table_name: str
    only_child: bool
    target_schema: str
    target_table: str
    only_parent: bool
    match_full: bool
    columns: list[str]
    references: list[str]

    def condition(self) -> sql.Composed:
        """True for a child row the FK rejects (alias child), as VALIDATE CONSTRAINT sees it."""
        cols = [sql.SQL("child.{}").format(sql.Identifier(c)) for c in self.columns]
        missing = sql.SQL("NOT EXISTS (SELECT 1 FROM {only}{schema}.{table} AS parent WHERE {match})").format(
            only=sql.SQL("ONLY " if self.only_parent else ""),
            schema=sql.Identifier(self.target_schema),
            table=sql.Identifier(self.target_table),
            match=sql.SQL(" AND ").join(
                sql.SQL("parent.{} = {}").format(sql.Identifier(r), c)
                for r, c in zip(self.references, cols, strict=True)
            ),
        )
        all_set = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(c) for c in cols)
        if self.match_full and len(cols) > 1:
            any_set = sql.SQL(" OR ").join(sql.SQL("{} IS NOT NULL").format(c) for c in cols)
            any_null = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(c) for c in cols)
            return sql.SQL("({}) AND ({} OR {})").format(any_set, any_null, missing)
        return sql.SQL("{} AND {}").format(all_set, missing)

    def child(self) -> sql.Composed:
        return sql.SQL("{only}{schema}.{table} AS child").format(
            only=sql.SQL("ONLY " if self.only_child else ""),
            schema=sql.Identifier(self.table_schema),
            table=sql.Identifier(self.table_name),
        )


def _one(conn: psycopg.Connection[Any], query: sql.Composed, params: dict[str, Any] | None = None) -> Any:
    with conn.cursor() as cur:
        cur.execute(query, params)
        row = cur.fetchone()
        return row[0] if row else None


def _missing(conn: psycopg.Connection[Any], fk: _Fk) -> tuple[int, int, list[list[str | None]]]:
    """(orphan rows, distinct missing keys, up to SAMPLES missing keys)."""
    keys = sql.SQL(", ").join(sql.SQL("child.{}").format(sql.Identifier(c)) for c in fk.columns)
    counts = sql.SQL("SELECT ARRAY[count(*), count(DISTINCT {keys})] FROM {child} WHERE {cond}").format(
        keys=sql.SQL("({})").format(keys) if len(fk.columns) > 1 else keys,
        child=fk.child(), cond=fk.condition(),
    )
    rows, distinct = _one(conn, counts)
    aliases = [sql.Identifier(f"k{i}") for i in range(len(fk.columns))]
    samples = sql.SQL(
        "SELECT ARRAY[{texts}] FROM (SELECT DISTINCT {cols} FROM {child} WHERE {cond} ORDER BY {order} LIMIT {n}) AS s"
    ).format(
        texts=sql.SQL(", ").join(sql.SQL("s.{}::text").format(a) for a in aliases),
        cols=sql.SQL(", ").join(
            sql.SQL("child.{} AS {}").format(sql.Identifier(c), a) for c, a in zip(fk.columns, aliases, strict=True)
        ),
        child=fk.child(), cond=fk.condition(),
        order=sql.SQL(", ").join(aliases), n=sql.Literal(SAMPLES),
    )
    with conn.cursor() as cur:
        cur.execute(samples)
        sample_keys = [list(r[0]) for r in cur.fetchall()]
    return int(rows), int(distinct), sample_keys


def _duplicates(conn: psycopg.Connection[Any], schema: str, table: str, columns: list[str]) -> int:
    """How many key values of the referenced columns occur more than once (NULLs never clash)."""
    cols = [sql.Identifier(c) for c in columns]
    query = sql.SQL(
        "SELECT count(*) FROM (SELECT 1 FROM {schema}.{table} WHERE {set} GROUP BY {cols} HAVING count(*) > 1) AS d"
    ).format(
        schema=sql.Identifier(schema), table=sql.Identifier(table),
        set=sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(c) for c in cols),
        cols=sql.SQL(", ").join(cols),
    )
    return int(_one(conn, query))


def report(conn: psycopg.Connection[Any], manifest: Manifest) -> list[Finding]:
    """One finding per entry (and matching FK) whose FK is missing or NOT VALID."""
    rows = catalog.resolve(conn, manifest)
    findings: list[Finding] = []
    try:
        for row in rows:
            entry = manifest.active[row.i]
            missing_fk = row.status in ("create", "not_unique")
            not_valid = row.fk_oid is not None and row.validated is False
            if not (missing_fk or not_valid):
                continue
            if missing_fk:
                if not row.orphan_sql:
                    continue
                target = catalog.locate(conn, entry.target)
                row_schema, row_table = row.found_table
                fk = _Fk(row_schema, row_table, False, target.schema, target.name, False, False,
                         list(row.columns), list(row.references_columns or []))
                orphans = catalog.count(conn, row.orphan_sql)
                _rows, distinct, samples = _missing(conn, fk)
            else:
                with conn.cursor(row_factory=class_row(_FkRow)) as cur:
                    cur.execute(FK_SQL, {"oid": row.fk_oid})
                    d = cur.fetchone()
                assert d is not None
                fk = _Fk(d.table_schema, d.table_name, d.relkind != "p", d.target_schema,
                         d.target_table, d.target_relkind != "p", d.match_full,
                         d.columns, d.references_columns)
                orphans, distinct, samples = _missing(conn, fk)
            duplicates = (
                _duplicates(conn, fk.target_schema, fk.target_table, fk.references)
                if row.status == "not_unique" else None
            )
            findings.append(Finding(
                entry=entry.index, table=row.table_display, columns=fk.columns,
                target=f"{fk.target_schema}.{fk.target_table}", references=fk.references,
                status=row.status, constraint=row.conname, policy=entry.orphans,
                orphans=orphans, missing_keys=distinct, sample_keys=samples,
                duplicate_keys=duplicates, add_unique=entry.add_unique,
            ))
    except psycopg.Error as exc:
        text = str(exc).strip()
        raise DatabaseError(f"orphan count failed: {text.splitlines()[0] if text else type(exc).__name__}") from None
    finally:
        conn.rollback()
    return findings
