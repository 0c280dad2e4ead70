"""check-models: keep an application's SQLAlchemy models in agreement with the ON DELETE rules.

Once the database cascades, the ORM must not fight it. Three things go wrong otherwise:

- a model's `ForeignKey` without the manifest's `ondelete` (or with other `onupdate`,
  `deferrable`, `initially` than the database) makes `alembic revision --autogenerate` propose
  to re-create the FK as the model says, undoing the migration, and makes `alembic check` fail;
- a parent-side relationship without `passive_deletes=True` loads the children and nulls their
  column (a NOT NULL violation, or "tried to blank-out primary key column" on a key column) or
  deletes them one by one, work the database does in the same statement;
- `delete-orphan` on a SET NULL link deletes rows the database keeps, and its absence on a
  CASCADE link nulls a column the database would never null.

The application is imported (`package.module:Base`), its tables and relationships are matched
to the manifest entries by table name and column set, and each finding points at the model's
source line with the exact call to write. The comparison (`compare`) is a pure function of the
manifest, the loaded models and (optionally) the catalog lookup rows.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Column, ForeignKeyConstraint, MetaData, Table
from sqlalchemy.orm import Mapper, RelationshipDirection, RelationshipProperty, registry

from cascade_tool.catalog import Row
from cascade_tool.errors import CascadeToolError
from cascade_tool.manifest import Entry, Manifest, TableName

DEFAULT_SCHEMA = "public"
ERROR, WARNING = "error", "warning"
RECOMMENDED_CASCADE = "all, delete-orphan"
_EAGER = ("joined", "selectin", "subquery", "immediate")  # loaders that fill collections up front
AUTOGEN_WHY = (
    "alembic autogenerate compares ondelete, onupdate, deferrable and initially: "
    "`alembic revision --autogenerate` would propose to drop this FK and re-create it as the "
    "model says ({}), and `alembic check` fails"
)


class ModelsError(CascadeToolError):
    """The application's models cannot be imported, found or configured."""


# --------------------------------------------------------------------------------------------
# Loading the application's models
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedModels:
    """What `--models` named: its MetaData and, for a declarative base or registry, its mappers."""

    spec: str
    metadata: MetaData
    mappers: tuple[Mapper[Any], ...]
    source_files: tuple[Path, ...]  # where imperative Table(...) definitions may be found
    has_mappers: bool


def load_models(spec: str, search_path: Path | None = None) -> LoadedModels:
    """Import `package.module[:object]` the way alembic's prepend_sys_path does (cwd first).

    The object may be a DeclarativeBase subclass (or a declarative_base() result), a registry,
    a MetaData, or anything with a `.Model` base (Flask-SQLAlchemy's `db`). Without `:object`
    the module must define exactly one of them.
    """
    module_name, _, attr = spec.partition(":")
    module_name, attr = module_name.strip(), attr.strip()
    if not module_name or not re.fullmatch(r"[A-Za-z_][\w.]*", module_name):
        raise ModelsError(
            f"--models {spec!r}: expected an import path, package.module or package.module:Base "
            "(dots, not a file path)"
        )
    where = str((search_path or Path.cwd()).resolve())
    added = where not in sys.path
    if added:
        sys.path.insert(0, where)
    try:
        module = _import(module_name, where)
        obj = _attribute(module, module_name, attr) if attr else _find_base(module, module_name)
        metadata, reg = _metadata_and_registry(obj, spec)
        if reg is not None:
            try:
                reg.configure(cascade=True)
            except Exception as exc:  # noqa: BLE001 - any mapper error becomes one line
                raise ModelsError(
                    f"configuring the mappers of {spec} failed: {type(exc).__name__}: {_first_line(exc)}"
                ) from exc
    finally:
        if added and where in sys.path:
            sys.path.remove(where)
    mappers = tuple(sorted(reg.mappers, key=lambda m: (m.class_.__module__, m.class_.__qualname__))) if reg else ()
    return LoadedModels(spec, metadata, mappers, _source_files(module, mappers), reg is not None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _import(module_name: str, where: str) -> Any:
    hint = f"searched {where} first, then sys.path: run from the directory that holds the package, or set PYTHONPATH"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise ModelsError(f"cannot import {module_name}: No module named {missing!r} ({hint})") from exc
        raise ModelsError(
            f"importing {module_name} failed: ModuleNotFoundError: No module named {missing!r} "
            "(a dependency of the models is not installed in this environment)"
        ) from exc
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the app's import-time code is arbitrary
        # Point at the application's own line: the deepest frame under the search path, else the deepest.
        place, mine = "", ""
        tb = exc.__traceback__
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if not filename.startswith("<"):
                place = f" at {_display(Path(filename))}:{tb.tb_lineno}"
                if filename.startswith(where + os.sep):
                    mine = place
            tb = tb.tb_next
        place = mine or place
        if isinstance(exc, SyntaxError) and exc.filename:
            place = f" at {_display(Path(exc.filename))}:{exc.lineno}"
        raise ModelsError(
            f"importing {module_name} failed: {type(exc).__name__}: {_first_line(exc)}{place} ({hint})"
        ) from exc


def _attribute(module: Any, module_name: str, attr: str) -> Any:
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelsError(f"module {module_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _registry_of(obj: Any) -> registry | None:
    """The registry behind a declarative base, a registry, or Flask-SQLAlchemy's `db`."""
    if isinstance(obj, registry):
        return obj
    holder = obj if isinstance(obj, type) else getattr(obj, "Model", None)  # db.Model
    reg = getattr(holder, "registry", None) if isinstance(holder, type) else None
    return reg if isinstance(reg, registry) else None


def _find_base(module: Any, module_name: str) -> Any:
    registries: dict[int, tuple[str, registry]] = {}
    metadatas: dict[int, tuple[str, MetaData]] = {}
    for name, value in sorted(vars(module).items()):
        reg = _registry_of(value)
        if reg is not None:
            registries.setdefault(id(reg), (name, reg))
        elif isinstance(value, MetaData):
            metadatas.setdefault(id(value), (name, value))
    if len(registries) == 1:
        return next(iter(registries.values()))[1]
    if not registries and len(metadatas) == 1:
        return next(iter(metadatas.values()))[1]
    found = sorted(name for name, _ in [*registries.values(), *metadatas.values()])
    if not found:
        raise ModelsError(
            f"{module_name} defines no declarative base, registry or MetaData: "
            f"name the one to check, e.g. --models {module_name}:Base"
        )
    raise ModelsError(
        f"{module_name} defines several ({', '.join(found)}): name one, e.g. --models {module_name}:{found[0]}"
    )


def _metadata_and_registry(obj: Any, spec: str) -> tuple[MetaData, registry | None]:
    reg = _registry_of(obj)
    if reg is not None:
        return reg.metadata, reg
    if isinstance(obj, MetaData):
        return obj, _registry_for_metadata(obj)
    what = f"the class {obj.__name__}" if isinstance(obj, type) else f"a {type(obj).__name__} object"
    raise ModelsError(f"{spec} is {what}, not a DeclarativeBase subclass, a registry or a MetaData")


def _registry_for_metadata(metadata: MetaData) -> registry | None:
    """A MetaData may belong to a declarative base: use its mappers too (relationships)."""
    from sqlalchemy.orm import mapperlib

    for reg in list(getattr(mapperlib, "_mapper_registries", {})):
        if isinstance(reg, registry) and reg.metadata is metadata:
            return reg
    return None


def _source_files(module: Any, mappers: Sequence[Mapper[Any]]) -> tuple[Path, ...]:
    """The imported module, the loaded modules of its package, and the mapped classes' modules."""
    files: list[Path] = []
    package = module.__name__.rpartition(".")[0] or module.__name__
    names = [module.__name__] + sorted(n for n in sys.modules if n == package or n.startswith(package + "."))
    names += [m.class_.__module__ for m in mappers]
    for name in names:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path and path.endswith(".py") and Path(path) not in files:
            files.append(Path(path))
    return tuple(files)


# --------------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------------


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


def report_lines(result: ModelCheck) -> list[str]:
    """Plain text: one block per finding (severity, where, what, why, fix), then a summary."""
    lines = [f"cascade-tool check-models: {result.models} against {result.manifest}"]
    for f in result.findings:
        lines += [
            "",
            f"{f.severity}: {f.where}: {f.obj}",
            f"  entry: {f.subject}",
            f"  wrong: {f.problem}",
            f"  why:   {f.why}",
            f"  fix:   {f.fix}",
        ]
    lines.append("")
    for note in result.notes:
        lines.append(f"note: {note}")
    checked = (
        f"{result.entries} entries, {result.fks} model FKs and {result.relationships} relationships checked"
    )
    if result.ok:
        lines.append(f"OK: {checked}; the models agree with the manifest.")
    else:
        errors = sum(f.severity == ERROR for f in result.findings)
        warnings = len(result.findings) - errors
        lines.append(f"FAILED: {checked}: {errors} error(s), {warnings} warning(s).")
    return lines


# --------------------------------------------------------------------------------------------
# Reading the models
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFK:
    """A ForeignKeyConstraint of the models, with what it references."""

    table: Table
    constraint: ForeignKeyConstraint
    columns: tuple[str, ...]
    ref: TableName  # schema None: the default schema
    ref_columns: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{_table_label(self.table)}({', '.join(self.columns)})"


def _table_label(table: Table) -> str:
    return f"{table.schema}.{table.name}" if table.schema else table.name


def _model_fks(metadata: MetaData) -> list[ModelFK]:
    out: list[ModelFK] = []
    for table in metadata.sorted_tables:
        for fkc in sorted(table.foreign_key_constraints, key=lambda c: [e.parent.name for e in c.elements]):
            refs: list[tuple[str | None, str, str]] = []
            for element in fkc.elements:
                try:
                    col = element.column
                    refs.append((col.table.schema, col.table.name, col.name))
                except Exception:  # noqa: BLE001 - unresolvable target: read it from the string
                    tokens = getattr(element, "_column_tokens", None)
                    if not tokens or tokens[2] is None:
                        break
                    refs.append((tokens[0], tokens[1], tokens[2]))
            if len(refs) != len(fkc.elements) or len({(s, t) for s, t, _ in refs}) != 1:
                continue
            out.append(ModelFK(
                table, fkc, tuple(e.parent.name for e in fkc.elements),
                TableName(refs[0][0], refs[0][1]), tuple(c for _, _, c in refs),
            ))
    return out


def _same_schema(wanted: str | None, model: str | None) -> bool:
    return (wanted or DEFAULT_SCHEMA) == (model or DEFAULT_SCHEMA)


def _names_table(name: TableName, schema: str | None, table: str, *, loose: bool) -> bool:
    """Does the manifest's name denote this model table? `loose`: any schema for unqualified names."""
    if name.name != table:
        return False
    return _same_schema(name.schema, schema) or (loose and name.schema is None)


def _tables_for(metadata: MetaData, name: TableName) -> list[Table]:
    tables = [t for t in metadata.sorted_tables if _names_table(name, t.schema, t.name, loose=False)]
    if not tables and name.schema is None:
        tables = [t for t in metadata.sorted_tables if t.name == name.name]
    return tables


def _fk_matches(entry: Entry, fk: ModelFK) -> bool:
    if not _names_table(entry.table, fk.table.schema, fk.table.name, loose=True):
        return False
    if not _names_table(entry.target, fk.ref.schema, fk.ref.name, loose=True):
        return False
    if entry.references is not None:
        return sorted(zip(fk.columns, fk.ref_columns, strict=True)) == sorted(
            zip(entry.columns, entry.references, strict=True)
        )
    return sorted(fk.columns) == sorted(entry.columns)


def _norm_action(value: str | None) -> str | None:
    """As alembic compares them: case-insensitive, NO ACTION the same as nothing."""
    if not value:
        return None
    norm = " ".join(value.upper().split())
    return None if norm == "NO ACTION" else norm


def _deferral(deferrable: bool | None, initially: str | None) -> str:
    """Alembic's three-state value for DEFERRABLE/INITIALLY."""
    if initially and initially.lower() == "deferred":
        return "DEFERRABLE INITIALLY DEFERRED"
    return "DEFERRABLE" if deferrable else "NOT DEFERRABLE"


@dataclass(frozen=True)
class DbOptions:
    """The FK options autogenerate compares, as the database will have them after the upgrade."""

    onupdate: str | None
    deferral: str


def _def_options(definition: str) -> DbOptions:
    """Read ON UPDATE and DEFERRABLE/INITIALLY from pg_get_constraintdef() text.

    Everything up to the referenced column list may hold quoted identifiers; after it come
    keywords only (and ON DELETE SET NULL's column list, skipped as a parenthesized group).
    """
    depth, groups, quoted, rest = 0, 0, False, []
    for ch in definition:
        if quoted:
            quoted = ch != '"'  # a doubled "" closes and reopens: still inside
        elif ch == '"':
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            groups += depth == 0
        elif groups >= 2 and depth == 0:
            rest.append(ch)
    text = " ".join("".join(rest).upper().split())
    match = re.search(r"\bON UPDATE (NO ACTION|RESTRICT|CASCADE|SET NULL|SET DEFAULT)\b", text)
    deferrable = re.search(r"(?<!NOT )\bDEFERRABLE\b", text) is not None
    initially = "DEFERRED" if "INITIALLY DEFERRED" in text else None
    return DbOptions(_norm_action(match.group(1)) if match else None, _deferral(deferrable, initially))


def _db_options(rows: Sequence[Row]) -> DbOptions | None:
    """None when the database cannot tell (table or columns missing, unreadable definition)."""
    for row in rows:
        if row.data.get("fk_oid") and row.data.get("new_def"):
            return _def_options(str(row.data["new_def"]))
    if any(row.data.get("status") == "create" for row in rows):
        return DbOptions(None, "NOT DEFERRABLE")  # the revision creates it with no options
    return None


# --------------------------------------------------------------------------------------------
# Finding the source of a model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Located:
    """A call in the application's source (ForeignKey(...), relationship(...)), for its fix."""

    file: Path
    line: int
    text: str  # the module's source
    call: ast.Call | None

    def rewrite(self, changes: dict[str, str | None]) -> str | None:
        """The call with keyword arguments set (source text) or removed (None)."""
        if self.call is None:
            return None
        seg = ast.get_source_segment

        def src(node: ast.AST) -> str:
            return seg(self.text, node) or ast.unparse(node)

        parts = [src(a) for a in self.call.args]
        done: set[str] = set()
        for kw in self.call.keywords:
            if kw.arg is None:
                parts.append("**" + src(kw.value))
            elif kw.arg in changes:
                done.add(kw.arg)
                if changes[kw.arg] is not None:
                    parts.append(f"{kw.arg}={changes[kw.arg]}")
            else:
                parts.append(f"{kw.arg}={src(kw.value)}")
        parts += [f"{k}={v}" for k, v in changes.items() if k not in done and v is not None]
        return f"{src(self.call.func)}({', '.join(parts)})"


class SourceIndex:
    """Parses the application's files once, and finds the calls findings point at."""

    def __init__(self, loaded: LoadedModels) -> None:
        self.loaded = loaded
        self._parsed: dict[Path, tuple[str, ast.Module] | None] = {}

    def _parse(self, path: Path) -> tuple[str, ast.Module] | None:
        if path not in self._parsed:
            try:
                text = path.read_text("utf-8")
                self._parsed[path] = (text, ast.parse(text))
            except (OSError, SyntaxError, ValueError):
                self._parsed[path] = None
        return self._parsed[path]

    def class_def(self, cls: type) -> tuple[Path, str, ast.ClassDef] | None:
        try:
            file = inspect.getsourcefile(cls)
            _, start = inspect.getsourcelines(cls)
        except (OSError, TypeError):
            return None
        if not file:
            return None
        parsed = self._parse(Path(file))
        if parsed is None:
            return None
        text, tree = parsed
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if first == start or node.lineno == start:
                    return Path(file), text, node
        return None

    def fk_call(self, fk: ModelFK) -> Located | None:
        """The ForeignKey(...) or ForeignKeyConstraint(...) call that declares this FK."""
        for cls in self.classes_for(fk.table):
            found = self.class_def(cls)
            if found is None:
                continue
            path, text, node = found
            mapper = _mapper_of(self.loaded, cls)
            keys = set(fk.columns)
            if mapper is not None and len(fk.columns) == 1:
                col = fk.table.c.get(fk.columns[0])
                try:
                    keys.add(mapper.get_property_by_column(col).key)  # type: ignore[arg-type]
                except Exception:  # noqa: BLE001 - not mapped under a key: the column name will do
                    pass
            hit = _fk_in_class(node, keys, fk.columns)
            if hit is not None:
                return Located(path, hit.lineno, text, hit)
        for path in self.loaded.source_files:
            parsed = self._parse(path)
            if parsed is None:
                continue
            text, tree = parsed
            for call in _calls(tree, "Table"):
                if call.args and _str(call.args[0]) == fk.table.name:
                    hit = _fk_in_table_call(call, fk.columns)
                    if hit is not None:
                        return Located(path, hit.lineno, text, hit)
        return None

    def table_line(self, table: Table) -> Located | None:
        """Where the table is declared: its mapped class, or its Table("name", ...) call."""
        for cls in self.classes_for(table):
            found = self.class_def(cls)
            if found is not None:
                return Located(found[0], found[2].lineno, found[1], None)
        for path in self.loaded.source_files:
            parsed = self._parse(path)
            if parsed is None:
                continue
            for call in _calls(parsed[1], "Table"):
                if call.args and _str(call.args[0]) == table.name:
                    return Located(path, call.lineno, parsed[0], None)
        return None

    def relationship_call(self, prop: RelationshipProperty[Any]) -> tuple[Located, bool] | None:
        """The relationship(...) call, or the backref(...) that created it (second item True)."""
        for cls in prop.parent.class_.__mro__:
            found = self.class_def(cls)
            if found is None:
                continue
            path, text, node = found
            for stmt in node.body:
                if _assigns(stmt, prop.key):
                    calls = [c for c in _calls(stmt, "relationship", "relation")]
                    if calls:
                        return Located(path, calls[0].lineno, text, calls[0]), False
                    return Located(path, stmt.lineno, text, None), False
        for cls in prop.mapper.class_.__mro__:
            found = self.class_def(cls)
            if found is None:
                continue
            path, text, node = found
            for call in _calls(node, "backref"):
                if call.args and _str(call.args[0]) == prop.key:
                    return Located(path, call.lineno, text, call), True
            for call in _calls(node, "relationship", "relation"):
                for kw in call.keywords:
                    if kw.arg == "backref" and _str(kw.value) == prop.key:
                        return Located(path, call.lineno, text, None), True
        return None

    def classes_for(self, table: Table) -> list[type]:
        out: list[type] = []
        for mapper in self.loaded.mappers:
            if table in mapper.tables:
                for cls in mapper.class_.__mro__:
                    if cls not in out and _declares_table(cls, table):
                        out.append(cls)
        return out


def _declares_table(cls: type, table: Table) -> bool:
    mapper = vars(cls).get("__mapper__")
    return mapper is not None and table in getattr(mapper, "tables", ())


def _mapper_of(loaded: LoadedModels, cls: type) -> Mapper[Any] | None:
    for mapper in loaded.mappers:
        if mapper.class_ is cls:
            return mapper
    return None


def _name_of(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _calls(node: ast.AST, *names: str) -> Iterator[ast.Call]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and _name_of(sub.func) in names:
            yield sub


def _str(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _strs(node: ast.expr) -> list[str] | None:
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_str(e) for e in node.elts]
        if all(isinstance(i, str) for i in items):
            return [i for i in items if i is not None]
    return None


def _assigns(stmt: ast.stmt, key: str) -> bool:
    if isinstance(stmt, ast.AnnAssign):
        return isinstance(stmt.target, ast.Name) and stmt.target.id == key
    if isinstance(stmt, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == key for t in stmt.targets)
    return False


def _fk_constraint_for(node: ast.AST, columns: tuple[str, ...]) -> ast.Call | None:
    for call in _calls(node, "ForeignKeyConstraint"):
        cols = _strs(call.args[0]) if call.args else None
        if cols is not None and sorted(cols) == sorted(columns):
            return call
    return None


def _fk_in_class(node: ast.ClassDef, keys: set[str], columns: tuple[str, ...]) -> ast.Call | None:
    if len(columns) == 1:
        for stmt in node.body:
            if any(_assigns(stmt, k) for k in keys):
                for call in _calls(stmt, "ForeignKey"):
                    return call
            if isinstance(stmt, ast.FunctionDef) and stmt.name in keys:  # @declared_attr
                for call in _calls(stmt, "ForeignKey"):
                    return call
    for stmt in node.body:
        if _assigns(stmt, "__table_args__") or (isinstance(stmt, ast.FunctionDef) and stmt.name == "__table_args__"):
            hit = _fk_constraint_for(stmt, columns)
            if hit is not None:
                return hit
    return None


def _fk_in_table_call(call: ast.Call, columns: tuple[str, ...]) -> ast.Call | None:
    if len(columns) == 1:
        for col in _calls(call, "Column"):
            if col.args and _str(col.args[0]) == columns[0]:
                for fk in _calls(col, "ForeignKey"):
                    return fk
    return _fk_constraint_for(call, columns)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------------


def _q(value: str) -> str:
    return json.dumps(value)


def _new_fk_call(fk_columns: Sequence[str], target: TableName, refs: Sequence[str], kws: dict[str, str]) -> str:
    prefix = f"{target.schema}.{target.name}" if target.schema else target.name
    extra = "".join(f", {k}={v}" for k, v in kws.items())
    if len(fk_columns) == 1:
        return f"ForeignKey({_q(prefix + '.' + refs[0])}{extra})"
    cols = ", ".join(_q(c) for c in fk_columns)
    targets = ", ".join(_q(f"{prefix}.{r}") for r in refs)
    return f"ForeignKeyConstraint([{cols}], [{targets}]{extra})"


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
        return [r for r in self.rows or [] if r.data.get("i") == entry.index]

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
                    except Exception:  # noqa: BLE001
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


__all__ = [
    "Finding", "LoadedModels", "ModelCheck", "ModelsError", "check", "compare", "load_models",
    "report_lines",
]

