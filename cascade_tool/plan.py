"""Plan and verify: what an upgrade would do to a database, and whether anything is left to do.

Both are computed from the same catalog lookup the generated revision runs (catalog.resolve), so
`verify` is exactly "the plan is empty" and cannot disagree with the deploy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg

from cascade_tool import catalog
from cascade_tool.manifest import Manifest

MISSING = {"missing_table", "missing_target", "missing_columns"}
BLOCKING = {"unparseable", "not_unique", "no_primary_key", "missing_references"}
# Statuses verify reports as drift (for entries not marked optional).
DRIFT = {"convert", "create", "not_valid", "not_enforced"} | MISSING | BLOCKING


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

    @property
    def drift(self) -> bool:
        """Verify's verdict: something is still to be done (or cannot be done) here."""
        if self.status in MISSING:
            return not self.optional
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
    return _steps(conn, manifest, rows, count_orphans, indexes, progress)


def _phases(row: catalog.LookupRow, indexes: list[catalog.IndexRow]) -> tuple[list[str], list[str], list[str]]:
    """What the upgrade runs for this row: index builds, the swap, the validation."""
    builds = [s for ix in indexes for s in (ix.drop_sql, ix.create_sql) if s]
    if row.status in ("convert", "create") and row.swap_sql:
        validate = [row.validate_sql] if row.validate_after and row.validate_sql else []
        return builds, list(row.swap_sql), validate
    return builds, [], []


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
) -> list[Step]:
    steps: list[Step] = []
    shown: set[int] = set()
    for row in rows:
        row_indexes = [] if row.i in shown else (indexes or {}).get(row.i, [])
        shown.add(row.i)
        builds, swap, validate = _phases(row, row_indexes)
        entry = manifest.active[row.i]
        orphans = None
        new_key = row.status == "not_unique" and bool(row.add_unique)
        if (row.status == "create" or new_key) and count_orphans and row.orphan_sql:
            if progress:
                progress(f"counting orphan rows of {row.table_display}")
            orphans = catalog.count(conn, row.orphan_sql)
        detail = row.detail
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
                advice=(
                    f"NOT VALID: the upgrade keeps it so and verify reports it as drift; "
                    f"validate it when ready: {row.validate_ddl};"
                    if row.validate_ddl
                    else _index_advice(row_indexes)
                ),
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

    @property
    def drift(self) -> list[Step]:
        return [s for s in self.steps if s.drift]

    @property
    def ok(self) -> bool:
        return not self.drift and not (self.strict and self.unlisted)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "strict": self.strict,
            "entries": [s.to_json() for s in self.steps],
            "drift": len(self.drift),
            "unlisted": [u.to_json() for u in self.unlisted],
        }


def verify(conn: psycopg.Connection[Any], manifest: Manifest, *, strict: bool = False) -> Verification:
    rows = catalog.resolve(conn, manifest)
    steps = _steps(conn, manifest, rows, count_orphans=False)
    return Verification(steps, _unlisted(conn, manifest, rows), strict)

