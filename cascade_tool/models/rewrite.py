"""The code to write: where a model's ForeignKey(...) or relationship(...) call is in the
application's source, and the call that replaces it.
"""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Mapper, RelationshipProperty

from cascade_tool.manifest import TableName
from cascade_tool.models.load import LoadedModels
from cascade_tool.models.read import ModelFK


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
                except Exception:  # not mapped under a key: the column name will do
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
