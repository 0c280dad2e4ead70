"""Loading the application's models: import `package.module[:object]` and find its MetaData,
registry and mappers, the way alembic's env.py would.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.orm import Mapper, registry

from cascade_tool.errors import ModelsError


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
            f"{spec!r}: expected an import path, package.module or package.module:Base "
            "(dots, not a file path)",
            option="models",
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
            except Exception as exc:  # any mapper error becomes one line
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
    except (Exception, SystemExit) as exc:  # the app's import-time code is arbitrary
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


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
