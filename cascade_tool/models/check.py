"""The comparison: every way the models disagree with the manifest (and the database), as
findings that name the model's file and line and the call to write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.orm import RelationshipDirection, RelationshipProperty

from cascade_tool.catalog import LookupRow as Row
from cascade_tool.manifest import Entry, Manifest
from cascade_tool.models.load import LoadedModels, _display, load_models
from cascade_tool.models.read import (
    DbOptions,
    ModelFK,
    _db_options,
    _deferral,
    _fk_matches,
    _model_fks,
    _names_table,
    _norm_action,
    _same_schema,
    _table_label,
    _tables_for,
)
from cascade_tool.models.rewrite import Located, SourceIndex, _mapper_of, _new_fk_call, _q

ERROR, WARNING = "error", "warning"
RECOMMENDED_CASCADE = "all, delete-orphan"
_EAGER = ("joined", "selectin", "subquery", "immediate")  # loaders that fill collections up front
AUTOGEN_WHY = (
    "alembic autogenerate compares ondelete, onupdate, deferrable and initially: "
    "`alembic revision --autogenerate` would propose to drop this FK and re-create it as the "
    "model says ({}), and `alembic check` fails"
)


@dataclass(frozen=True)
class Finding:
    """One disagreement, with where it is and the exact code to write."""

    severity: str  # error | warning
    kind: str  # fk_options | fk_missing | no_model | set_null_not_null | relationship | unlisted
    entry: int | None  # manifest index
    subject: str  # the manifest entry, or the model FK for unlisted ones
    obj: str  # ChatMessage.session_id, User.sessions, chat_messages.session_id
    file: str | None
    line: int | None
    problem: str
    why: str
    fix: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file and self.line else (self.file or "(no source)")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelCheck:
    """The result of check-models."""

    models: str
    manifest: str
    database_checked: bool
    entries: int
    fks: int  # model FKs matched to entries
    relationships: int  # relationships over those FKs
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "models": self.models,
            "manifest": self.manifest,
            "database_checked": self.database_checked,
            "checked": {"entries": self.entries, "fks": self.fks, "relationships": self.relationships},
            "errors": sum(f.severity == ERROR for f in self.findings),
            "warnings": sum(f.severity == WARNING for f in self.findings),
            "findings": [f.to_json() for f in self.findings],
            "notes": self.notes,
        }


class _Checker:
    def __init__(self, manifest: Manifest, loaded: LoadedModels, rows: Sequence[Row] | None) -> None:
        self.manifest = manifest
        self.loaded = loaded
        self.rows = rows
        self.source = SourceIndex(loaded)
        self.findings: list[Finding] = []
        self.notes: list[str] = []
        self.fks = _model_fks(loaded.metadata)
        self.matched: dict[int, list[ModelFK]] = {}
        self.relationships = 0

    def rows_for(self, entry: Entry) -> list[Row]:
        return [r for r in self.rows or [] if r.i == entry.index]

    def add(self, severity: str, kind: str, entry: Entry | None, subject: str, obj: str,
            located: Located | None, problem: str, why: str, fix: str) -> None:
        if entry is not None:
            subject = f"tables[{entry.index}]: {subject}"
        self.findings.append(Finding(
            severity, kind, entry.index if entry else None, subject, obj,
            _display(located.file) if located else None, located.line if located else None,
            problem, why, fix,
        ))

    # -- foreign keys ---------------------------------------------------------------------

    def run_entries(self) -> None:
        optional_missing: list[str] = []
        not_in_db: list[str] = []
        for entry in self.manifest.entries:
            fks = [fk for fk in self.fks if _fk_matches(entry, fk)]
            self.matched[entry.index] = fks
            if not fks:
                if self._no_fk(entry):
                    optional_missing.append(str(entry.table))
                continue
            db: DbOptions | None = None
            if self.rows is not None:
                db = _db_options(self.rows_for(entry))
                if db is None:
                    not_in_db.append(entry.describe())
            for fk in fks:
                self._compare_fk(entry, fk, db)
                self._set_null_nullable(entry, fk)
        if optional_missing:
            self.notes.append(f"no model for optional entries (skipped): {', '.join(optional_missing)}")
        if not_in_db:
            self.notes.append(
                "not in the database, so onupdate/deferrable/initially were not compared: "
                + "; ".join(not_in_db)
            )

    def _no_fk(self, entry: Entry) -> bool:
        """Report an entry with no model FK; True when that is fine (an optional legacy table)."""
        tables = _tables_for(self.loaded.metadata, entry.table)
        refs = entry.references or self._target_columns(entry)
        fix_call = _new_fk_call(entry.columns, entry.target, refs, self._fk_kws(entry.on_delete))
        if not tables:
            if entry.optional:
                return True
            self.add(
                WARNING, "no_model", entry, entry.describe(), str(entry.table), None,
                f"no model maps table {entry.table}",
                "autogenerate only knows what the models declare: it would propose to drop the table, "
                "and nothing here tells the ORM how deletes of the target behave",
                f"map {entry.table} with {fix_call} on {', '.join(entry.columns)}, "
                "or remove the entry from the manifest if this application does not own the table",
            )
            return False
        table = tables[0]
        missing = [c for c in entry.columns if c not in table.c]
        located = self.source.table_line(table)
        if missing:
            self.add(
                WARNING, "no_model", entry, entry.describe(), _table_label(table), located,
                f"the model of {_table_label(table)} has no column {', '.join(missing)}",
                "autogenerate would propose to drop the column, and with it the FK the migration converts",
                f"add {', '.join(missing)} to the model with {fix_call}",
            )
            return False
        self.add(
            ERROR, "fk_missing", entry, entry.describe(),
            f"{_table_label(table)}.{entry.columns[0]}" if len(entry.columns) == 1
            else f"{_table_label(table)}({', '.join(entry.columns)})",
            located,
            f"the model declares no ForeignKey on {_table_label(table)}({', '.join(entry.columns)}) "
            f"to {entry.target}",
            "`alembic revision --autogenerate` would propose to drop the FK the migration made "
            f"ON DELETE {entry.on_delete}, and `alembic check` fails",
            f"declare it: {fix_call}",
        )
        return False

    def _target_columns(self, entry: Entry) -> tuple[str, ...]:
        if not entry.chain and self.manifest.target_columns:
            return self.manifest.target_columns
        for table in _tables_for(self.loaded.metadata, entry.target):
            pk = tuple(c.name for c in table.primary_key.columns)
            if len(pk) == len(entry.columns):
                return pk
        return ("id",) * len(entry.columns)

    @staticmethod
    def _fk_kws(on_delete: str) -> dict[str, str]:
        action = _norm_action(on_delete)
        return {"ondelete": _q(action)} if action else {}

    def _compare_fk(self, entry: Entry, fk: ModelFK, db: DbOptions | None) -> None:
        fkc = fk.constraint
        problems: list[str] = []
        changes: dict[str, str | None] = {}
        model_delete, wanted = _norm_action(fkc.ondelete), _norm_action(entry.on_delete)
        if model_delete != wanted:
            problems.append(
                f"ondelete is {_q(fkc.ondelete) if fkc.ondelete else 'not set'}, "
                f"the manifest says {entry.on_delete}"
            )
            changes["ondelete"] = _q(wanted) if wanted else None
        if db is not None:
            model_update = _norm_action(fkc.onupdate)
            if model_update != db.onupdate:
                problems.append(
                    f"onupdate is {_q(fkc.onupdate) if fkc.onupdate else 'not set'}, "
                    f"the database has {'ON UPDATE ' + db.onupdate if db.onupdate else 'no ON UPDATE action'}"
                )
                changes["onupdate"] = _q(db.onupdate) if db.onupdate else None
            model_deferral = _deferral(fkc.deferrable, fkc.initially)
            if model_deferral != db.deferral:
                problems.append(f"the model says {model_deferral}, the database {db.deferral}")
                changes["deferrable"] = "True" if db.deferral != "NOT DEFERRABLE" else None
                changes["initially"] = _q("DEFERRED") if db.deferral.endswith("DEFERRED") else None
        if not problems:
            return
        located = self.source.fk_call(fk)
        fix = located.rewrite(changes) if located else None
        if fix is None:
            kws = {k: v for k, v in changes.items() if v is not None}
            for key in ("ondelete", "onupdate", "deferrable", "initially"):
                current = getattr(fkc, key)
                if key not in changes and current is not None:
                    kws[key] = _q(current) if isinstance(current, str) else repr(current)
            fix = _new_fk_call(fk.columns, fk.ref, fk.ref_columns, kws)
        self.add(
            ERROR, "fk_options", entry, entry.describe(), self._fk_object(fk), located,
            "; ".join(problems),
            AUTOGEN_WHY.format(
                "undoing the cascade-tool migration" if "ondelete" in changes
                else "losing the options the database has"
            ),
            fix,
        )

    def _fk_object(self, fk: ModelFK) -> str:
        if len(fk.columns) == 1:
            for cls in self.source.classes_for(fk.table):
                mapper = _mapper_of(self.loaded, cls)
                if mapper is not None:
                    try:
                        key = mapper.get_property_by_column(fk.table.c[fk.columns[0]]).key
                    except Exception:
                        key = fk.columns[0]
                    return f"{cls.__name__}.{key}"
        return fk.label

    def _set_null_nullable(self, entry: Entry, fk: ModelFK) -> None:
        if _norm_action(entry.on_delete) != "SET NULL":
            return
        strict = [c for c in fk.columns if not fk.table.c[c].nullable]
        if not strict:
            return
        located = self.source.fk_call(fk)
        self.add(
            ERROR, "set_null_not_null", entry, entry.describe(), self._fk_object(fk), located,
            f"the manifest says SET NULL but the model declares {', '.join(strict)} NOT NULL",
            "deleting the target row makes the database set the column to NULL, which NOT NULL refuses: "
            "the delete fails (and if the database column is nullable, autogenerate proposes NOT NULL)",
            f"make {', '.join(strict)} nullable (Mapped[... | None] or nullable=True) and the database "
            "column too, or change the entry to on_delete = \"CASCADE\"",
        )

    # -- FKs the manifest does not list ------------------------------------------------------

    def run_unlisted(self) -> None:
        listed = {id(fk) for fks in self.matched.values() for fk in fks}
        for fk in self.fks:
            if id(fk) in listed or not _names_table(self.manifest.target, fk.ref.schema, fk.ref.name, loose=True):
                continue
            name = _table_label(fk.table)
            cols = ", ".join(_q(c) for c in fk.columns)
            current = _norm_action(fk.constraint.ondelete) or "NO ACTION"
            self.add(
                WARNING, "unlisted", None, f"{fk.label} -> {self.manifest.target}", self._fk_object(fk),
                self.source.fk_call(fk),
                f"the models have an FK {fk.label} to {self.manifest.target} that the manifest does not list",
                "the migration leaves it as it is: deleting a user fails on its rows (NO ACTION/RESTRICT) "
                "or they stay behind, and verify warns about it",
                f'add to the manifest: [[tables]] name = {_q(name)} columns = [{cols}] '
                f'on_delete = "CASCADE" (rows the user owns), "SET NULL" (rows that mention them) '
                f'or {_q(current)} (keep it as it is)',
            )

    # -- relationships ------------------------------------------------------------------------

    def run_relationships(self) -> None:
        if not self.loaded.has_mappers:
            self.notes.append(
                f"relationships were not checked: {self.loaded.spec} is a MetaData with no mapped classes; "
                "pass the declarative base (package.module:Base) to check them"
            )
            return
        by_fk = {id(fk): entry for entry in self.manifest.entries for fk in self.matched.get(entry.index, [])}
        for mapper in self.loaded.mappers:
            for prop in sorted(mapper.relationships, key=lambda p: p.key):
                if prop.viewonly or prop.parent is not mapper:
                    continue
                hit = self._relationship_fk(prop)
                if hit is None or id(hit[0]) not in by_fk:
                    continue
                fk, secondary = hit
                entry = by_fk[id(fk)]
                self.relationships += 1
                if secondary:
                    self._check_secondary(prop, entry, fk)
                else:
                    self._check_one_to_many(prop, entry, fk)

    def _relationship_fk(self, prop: RelationshipProperty[Any]) -> tuple[ModelFK, bool] | None:
        """The model FK a parent-side relationship runs over (one-to-many, or its secondary table)."""
        if prop.direction is RelationshipDirection.ONETOMANY:
            secondary = False
        elif prop.direction is RelationshipDirection.MANYTOMANY and prop.secondary is not None:
            secondary = True
        else:
            return None
        pairs = prop.synchronize_pairs
        if not pairs:
            return None
        child_cols = [child for _, child in pairs]
        child_table = child_cols[0].table
        parent_table = pairs[0][0].table
        names = sorted(c.name for c in child_cols)
        for fk in self.fks:
            if (fk.table is child_table and sorted(fk.columns) == names
                    and isinstance(parent_table, Table)
                    and _same_schema(fk.ref.schema, parent_table.schema) and fk.ref.name == parent_table.name):
                return fk, secondary
        return None

    def _rel_object(self, prop: RelationshipProperty[Any]) -> str:
        return f"{prop.parent.class_.__name__}.{prop.key}"

    def _report_relationship(
        self, prop: RelationshipProperty[Any], entry: Entry, issues: list[tuple[str, str, str]],
        changes: dict[str, str | None],
    ) -> None:
        if not issues:
            return
        found = self.source.relationship_call(prop)
        located = found[0] if found else None
        fix = located.rewrite(changes) if located else None
        if fix is None:
            args = ", ".join(f"{k}={v}" for k, v in changes.items() if v is not None)
            func = "backref" if found and found[1] else "relationship"
            fix = f"{func}(..., {args})"
        severity = ERROR if any(s == ERROR for s, _, _ in issues) else WARNING
        self.add(
            severity, "relationship", entry, entry.describe(), self._rel_object(prop), located,
            "; ".join(p for _, p, _ in issues), " ".join(w for _, _, w in issues), fix,
        )

    def _check_one_to_many(self, prop: RelationshipProperty[Any], entry: Entry, fk: ModelFK) -> None:
        action = _norm_action(entry.on_delete)
        cascade, passive = prop.cascade, prop.passive_deletes
        cols = [fk.table.c[c] for c in fk.columns]
        col_text = ", ".join(f"{_table_label(fk.table)}.{c.name}" for c in cols)
        null_effect = _null_effect(cols)
        issues: list[tuple[str, str, str]] = []
        changes: dict[str, str | None] = {}
        if action == "CASCADE":
            recommended = {"cascade": _q(RECOMMENDED_CASCADE), "passive_deletes": "True"}
            if not cascade.delete and passive != "all":
                when = "the children already loaded in the session" if passive else "every child (SELECTed first)"
                issues.append((
                    ERROR,
                    f"no delete cascade: deleting the parent makes the ORM set {col_text} to NULL on {when} "
                    "before the DELETE, and so does removing a child from the collection",
                    (null_effect or "those rows survive with NULL where the database would have deleted them")
                    + ".",
                ))
                changes.update(recommended)
            elif not cascade.delete_orphan:
                issues.append((
                    ERROR if null_effect else WARNING,
                    f"no delete-orphan: removing a child from the collection makes the ORM set {col_text} "
                    "to NULL",
                    (null_effect or "the child survives without its owner, which the manifest's CASCADE "
                     "never leaves behind") + ".",
                ))
                changes.update(recommended)
            if cascade.delete and not passive:
                issues.append((
                    WARNING,
                    "passive_deletes is not set: deleting the parent makes the ORM SELECT the children and "
                    "DELETE them row by row",
                    "the database's ON DELETE CASCADE deletes them in the same statement; the ORM's "
                    "per-row work is slow on large collections.",
                ))
                changes["passive_deletes"] = "True"
        if action == "SET NULL":
            if cascade.delete or cascade.delete_orphan:
                kinds = " and ".join(k for k, on in (("delete", cascade.delete),
                                                      ("delete-orphan", cascade.delete_orphan)) if on)
                issues.append((
                    ERROR,
                    f"cascade includes {kinds}, but the manifest says SET NULL: the ORM deletes children "
                    "the database keeps",
                    f"on delete of the parent the database only clears {col_text}; the ORM would delete "
                    "the loaded children (all of them without passive_deletes).",
                ))
                changes["cascade"] = None  # the default, save-update and merge, is what SET NULL needs
                if not passive:
                    changes["passive_deletes"] = "True"
            elif not passive:
                issues.append((
                    WARNING,
                    f"passive_deletes is not set: deleting the parent makes the ORM SELECT the children and "
                    f"UPDATE {col_text} to NULL row by row",
                    "the database's ON DELETE SET NULL does it in the same statement.",
                ))
                changes["passive_deletes"] = "True"
        if not issues and action in ("CASCADE", "SET NULL") and passive is True and prop.lazy in _EAGER:
            does = "DELETE" if cascade.delete else f"UPDATE {col_text} to NULL on"
            issues.append((
                WARNING,
                f"lazy={_q(str(prop.lazy))} loads the children with every parent, so passive_deletes cannot "
                f"skip them: deleting the parent makes the ORM {does} each loaded child itself",
                f"the database's ON DELETE {action} does it in the same statement; load the collection "
                "per query instead (selectinload(...) where it is needed).",
            ))
            changes["lazy"] = None
        self._report_relationship(prop, entry, issues, changes)

    def _check_secondary(self, prop: RelationshipProperty[Any], entry: Entry, fk: ModelFK) -> None:
        if _norm_action(entry.on_delete) != "CASCADE" or prop.passive_deletes:
            return
        self._report_relationship(prop, entry, [(
            WARNING,
            f"passive_deletes is not set: deleting the parent makes the ORM SELECT the collection and "
            f"DELETE its rows from {_table_label(fk.table)} one by one",
            "the database's ON DELETE CASCADE deletes the association rows in the same statement.",
        )], {"passive_deletes": "True"})


def _null_effect(cols: Sequence[Column[Any]]) -> str | None:
    """What nulling these columns does, when it cannot work."""
    pk = [c.name for c in cols if c.primary_key]
    if pk:
        return (
            f"{', '.join(pk)} is part of the primary key: the flush stops with \"Dependency rule tried "
            f"to blank-out primary key column '{cols[0].table.name}.{pk[0]}'\""
        )
    strict = [c.name for c in cols if not c.nullable]
    if strict:
        return (
            f"{', '.join(strict)} is NOT NULL: the UPDATE fails (null value in column \"{strict[0]}\" "
            "violates not-null constraint) and the delete with it"
        )
    return None


def compare(manifest: Manifest, loaded: LoadedModels, rows: Sequence[Row] | None) -> ModelCheck:
    """Every finding for these models: FK options, missing and unlisted FKs, relationships.

    `rows` is the catalog lookup (catalog.resolve) for comparing onupdate/deferrable/initially
    with the database; None compares ondelete with the manifest only.
    """
    checker = _Checker(manifest, loaded, rows)
    checker.run_entries()
    checker.run_unlisted()
    checker.run_relationships()
    if rows is None:
        checker.notes.insert(0, (
            "onupdate, deferrable and initially were not compared with the database "
            "(no --database-url or DATABASE_URL): ondelete was compared with the manifest only"
        ))
    order = {ERROR: 0, WARNING: 1}
    findings = sorted(
        checker.findings,
        key=lambda f: (order[f.severity], f.entry if f.entry is not None else 1 << 30, f.file or "", f.line or 0),
    )
    return ModelCheck(
        models=loaded.spec,
        manifest=manifest.source,
        database_checked=rows is not None,
        entries=len(manifest.entries),
        fks=sum(len(v) for v in checker.matched.values()),
        relationships=checker.relationships,
        findings=findings,
        notes=checker.notes,
    )


def check(manifest: Manifest, spec: str, database_url: str | None = None,
          search_path: Path | None = None) -> ModelCheck:
    """check-models: import the models, read the database when given one, compare."""
    loaded = load_models(spec, search_path)
    rows: list[Row] | None = None
    if database_url:
        from cascade_tool import catalog

        with catalog.connect(database_url) as conn:
            rows = catalog.resolve(conn, manifest)
    return compare(manifest, loaded, rows)
