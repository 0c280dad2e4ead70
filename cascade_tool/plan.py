"""Plan and verify: what an upgrade would do to a database, and whether anything is left to do.

Both are computed from the same catalog lookup the generated revision runs (catalog.resolve), so
`verify` is exactly "the plan is empty" and cannot disagree with the deploy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from cascade_tool import catalog
from cascade_tool.manifest import Manifest

MISSING = {"missing_table", "missing_target", "missing_columns"}
BLOCKING = {"unparseable", "not_unique", "no_primary_key", "missing_references"}
# Statuses verify reports as drift (for entries not marked optional). A NOT VALID FK with the
# wanted action (`not_valid`) is a warning instead, unless an upgrade meant to validate it and did
# not finish (see Step.warning).
# Warnings (Step.warning): an FK NOT VALID since before the upgrade (or made so by hand), and an
# FK whose validation an upgrade left pending (validate = "later"); verify --strict fails on them.
DRIFT = {"convert", "create", "not_enforced"} | MISSING | BLOCKING


def validate_statement(schema: str, table: str, constraint: str) -> str:
    """The statement that validates one FK, identifiers quoted by psycopg."""
    return sql.SQL("ALTER TABLE {}.{} VALIDATE CONSTRAINT {}").format(
        sql.Identifier(schema), sql.Identifier(table), sql.Identifier(constraint)
    ).as_string(None)


@dataclass(frozen=True)
class Step:
    """One manifest entry (and one matching FK, when several match) in the plan."""

    entry: int
    group: str | None
    table: str
    columns: list[str]
    target: str
    constraint: str | None
    status: str
    detail: str
    wanted: str
    actual: str | None
    validated: bool | None
    optional: bool
    matches: int
    action: str  # convert | create | leave | skip | blocked
    statements: list[str] = field(default_factory=list)
    orphans: int | None = None
    partitions: int = 0  # per-partition copies re-created with the FK (names kept)
    advice: str | None = None  # what a person should do that the upgrade will not
    # `statements`, by how the revision runs them: outside any transaction, in the swap's own
    # short transaction, and in the validation's.
    index_statements: list[str] = field(default_factory=list)
    swap_statements: list[str] = field(default_factory=list)
    validate_statements: list[str] = field(default_factory=list)
    # NOT VALID with the wanted action: "not_valid" (as before the upgrade) or "pending"
    # (validate = "later"); None otherwise, or when an upgrade left its own validation unfinished.
    warning: str | None = None
    validate_sql: str | None = None  # the VALIDATE CONSTRAINT statement, for a NOT VALID FK
    references: list[str] = field(default_factory=list)  # the referenced columns, when known

    @property
    def drift(self) -> bool:
        """Verify's verdict: something is still to be done (or cannot be done) here."""
        if self.status in MISSING:
            return not self.optional
        if self.status == "not_valid":
            return self.warning is None
        return self.status in DRIFT

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["drift"] = self.drift
        return data


@dataclass(frozen=True)
class Unlisted:
    """An FK to the target that the manifest does not mention."""

    table: str
    constraint: str
    columns: list[str]
    actual: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _action(status: str, orphans: int | None, policy: str = "fail", add_unique: bool = False) -> str:
    if status == "convert":
        return "convert"
    if status == "create" or (status == "not_unique" and add_unique):
        return "blocked" if orphans and policy == "fail" else "create"
    if status in MISSING:
        return "skip"
    if status in BLOCKING:
        return "blocked"
    return "leave"


def build_steps(
    conn: psycopg.Connection[Any],
    manifest: Manifest,
    *,
    count_orphans: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[Step]:
    """Run the lookup and turn each row into a step (orphan counts are read-only queries, which
    can take long on big tables: `progress` hears of each one before it runs)."""
    rows = catalog.resolve(conn, manifest)
    indexes: dict[int, list[catalog.IndexRow]] = {}
    if manifest.options.create_indexes:
        for index in catalog.missing_indexes(conn, rows):
            indexes.setdefault(index.entry, []).append(index)
    return _steps(conn, manifest, rows, count_orphans, indexes, progress, catalog.validations(conn, rows))


def _phases(row: catalog.LookupRow, indexes: list[catalog.IndexRow]) -> tuple[list[str], list[str], list[str]]:
    """What the upgrade runs for this row: index builds, the swap, the validation."""
    builds = [s for ix in indexes for s in (ix.drop_sql, ix.create_sql) if s]
    if row.status in ("convert", "create") and row.swap_sql:
        later = row.validate == "later"
        validate = [row.validate_sql] if row.validate_after and not later and row.validate_sql else []
        return builds, list(row.swap_sql), validate
    return builds, [], []


def validity_kind(row: catalog.LookupRow, records: dict[tuple[str, str, str], catalog.ValidationRow]) -> str:
    """Why an FK is NOT VALID: "pending" (an upgrade left its validation for later, validate =
    "later"), "unfinished" (an upgrade swapped or created it to validate it in the deploy and did
    not get that far), or "not_valid" (it was so before the upgrade, or was made so by hand)."""
    schema, table = row.found_table
    record = records.get((schema, table, row.conname or ""))
    if record is None or record.validated_at is not None:
        return "not_valid"
    if not (record.change == "created" or record.old_validated):
        return "not_valid"
    return "pending" if record.validate_later else "unfinished"


def _validity(
    row: catalog.LookupRow, records: dict[tuple[str, str, str], catalog.ValidationRow]
) -> tuple[str | None, str, str]:
    """(warning kind, VALIDATE statement, advice) of a NOT VALID FK that has the wanted action;
    kind None for an unfinished validation, which stays drift (run the upgrade again)."""
    statement = _validate_statement_of(row)
    kind = validity_kind(row, records)
    if kind == "unfinished":
        return None, statement, (
            "NOT VALID: the upgrade did not finish validating it; run the upgrade again, "
            f"or cascade-tool validate, or: {statement};"
        )
    if kind == "pending":
        return "pending", statement, (
            'validation pending (validate = "later"): its ON DELETE action applies already; run '
            f"cascade-tool validate after the deploy, or: {statement};"
        )
    return "not_valid", statement, (
        "NOT VALID: the upgrade keeps it so (its ON DELETE action applies all the same); verify "
        f"warns until it is validated: run cascade-tool validate, or: {statement};"
    )


def _validate_statement_of(row: catalog.LookupRow) -> str:
    """The VALIDATE CONSTRAINT statement of the row's FK (a row with an FK)."""
    schema, table = row.found_table
    if row.conname is None:
        raise ValueError(f"{row.table_display}: no foreign key to validate")
    return validate_statement(schema, table, row.conname)


def _index_advice(indexes: list[catalog.IndexRow]) -> str | None:
    partitioned = [ix.label for ix in indexes if not ix.create_sql]
    if not partitioned:
        return None
    return (
        "no index on " + ", ".join(partitioned) + ": a partitioned table, where CREATE INDEX "
        "CONCURRENTLY cannot run; build it per partition (CONCURRENTLY), then attach"
    )


def _steps(
    conn: psycopg.Connection[Any],
    manifest: Manifest,
    rows: list[catalog.LookupRow],
    count_orphans: bool,
    indexes: dict[int, list[catalog.IndexRow]] | None = None,
    progress: Callable[[str], None] | None = None,
    records: dict[tuple[str, str, str], catalog.ValidationRow] | None = None,
) -> list[Step]:
    steps: list[Step] = []
    shown: set[int] = set()
    for row in rows:
        row_indexes = [] if row.i in shown else (indexes or {}).get(row.i, [])
        shown.add(row.i)
        builds, swap, validate = _phases(row, row_indexes)
        entry = manifest.active[row.i]
        orphans = None
        uncounted = ""
        new_key = row.status == "not_unique" and bool(row.add_unique)
        if (row.status == "create" or new_key) and count_orphans and row.orphan_sql:
            if progress:
                progress(f"counting orphan rows of {row.table_display}")
            try:
                with conn.transaction():  # a savepoint: a refused count leaves the lookup usable
                    orphans = catalog.count(conn, row.orphan_sql)
            except psycopg.errors.FeatureNotSupported as exc:
                # Citus cannot run this join (tables not colocated on the FK's columns); the FK
                # itself is judged by cascade_tool.distributed
                uncounted = str(exc).strip().splitlines()[0]
        detail = row.detail
        if uncounted:
            detail += f" (orphan rows not counted: {uncounted})"
        warning = validate_sql = validity_advice = None
        if row.status == "not_valid":
            warning, validate_sql, validity_advice = _validity(row, records or {})
            if warning == "pending":
                detail = f"ON DELETE {row.current_action}, validation pending"
        elif row.validate_ddl:
            validate_sql = _validate_statement_of(row)
            validity_advice = (
                "NOT VALID: the upgrade keeps it so (its ON DELETE action applies all the same); "
                f"validate it when ready: cascade-tool validate, or: {validate_sql};"
            )
        elif row.status in ("convert", "create") and row.validate_after and row.validate == "later":
            validity_advice = (
                'validate = "later": the upgrade leaves it NOT VALID; run cascade-tool validate after the deploy'
            )
        if new_key:
            detail += ": add_unique builds a unique index on them first, then the FK is created"
        if orphans:
            detail = f"{orphans} row(s) reference no row of {row.target_display}: " + {
                "fail": "the upgrade would stop before changing anything",
                "quarantine": "the upgrade moves them to cascade_quarantine.rows (orphans = quarantine)",
                "set-null": "the upgrade sets their FK columns to NULL, keeping the values in "
                "cascade_quarantine.rows (orphans = set-null)",
            }[str(row.orphans)]
        steps.append(
            Step(
                entry=entry.index,
                group=entry.group,
                table=row.table_display,
                columns=list(row.columns or entry.columns),
                target=row.target_display,
                constraint=row.conname,
                status=row.status,
                detail=detail,
                wanted=row.wanted_action,
                actual=row.current_action,
                validated=row.validated,
                optional=bool(row.optional),
                matches=int(row.matches or 0),
                action=_action(row.status, orphans, str(row.orphans), bool(row.add_unique)),
                statements=builds + swap + validate,
                index_statements=builds,
                swap_statements=swap,
                validate_statements=validate,
                orphans=orphans,
                partitions=len(row.clones or []),
                advice=validity_advice or _index_advice(row_indexes),
                warning=warning,
                validate_sql=validate_sql,
                references=list(row.references_columns or entry.references or []),
            )
        )
    for entry in manifest.stale:
        steps.append(
            Step(
                entry=entry.index, group=entry.group, table=str(entry.table),
                columns=list(entry.columns), target=str(entry.target), constraint=None,
                status="stale", detail="marked stale (its FK is gone): review and remove the entry",
                wanted=entry.on_delete, actual=None, validated=None, optional=entry.optional,
                matches=0, action="skip",
            )
        )
    return steps


def _unlisted(
    conn: psycopg.Connection[Any], manifest: Manifest, rows: list[catalog.LookupRow]
) -> list[Unlisted]:
    return [
        Unlisted(
            table=f"{r.table_schema}.{r.table_name}",
            constraint=r.conname,
            columns=list(r.columns),
            actual=r.current_action,
        )
        for r in catalog.unlisted(conn, manifest, rows)
    ]


@dataclass(frozen=True)
class Verification:
    steps: list[Step]
    unlisted: list[Unlisted]
    strict: bool
    # On a Citus coordinator: shard placements whose copy of an FK disagrees with the manifest
    # (cascade_tool.distributed.ShardDrift); always drift.
    shards: list[Any] = field(default_factory=list)

    @property
    def drift(self) -> list[Step]:
        return [s for s in self.steps if s.drift]

    @property
    def warnings(self) -> list[Step]:
        """NOT VALID FKs that are not drift: pre-existing ones and pending validations."""
        return [s for s in self.steps if s.warning is not None]

    @property
    def ok(self) -> bool:
        """No drift; with --strict, no warning either (NOT VALID FKs, unlisted FKs)."""
        return not self.drift and not self.shards and not (self.strict and (self.unlisted or self.warnings))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "strict": self.strict,
            "entries": [s.to_json() for s in self.steps],
            "drift": len(self.drift) + len(self.shards),
            "shard_drift": [d.to_json() for d in self.shards],
            "warnings": [
                {
                    "kind": s.warning,
                    "entry": s.entry,
                    "table": s.table,
                    "columns": s.columns,
                    "constraint": s.constraint,
                    "statement": f"{s.validate_sql};",
                }
                for s in self.warnings
            ],
            "unlisted": [u.to_json() for u in self.unlisted],
        }


def verify(conn: psycopg.Connection[Any], manifest: Manifest, *, strict: bool = False) -> Verification:
    rows = catalog.resolve(conn, manifest)
    steps = _steps(conn, manifest, rows, count_orphans=False, records=catalog.validations(conn, rows))
    from cascade_tool import distributed  # it imports this module

    return Verification(steps, _unlisted(conn, manifest, rows), strict, distributed.shard_drift(conn, steps))

