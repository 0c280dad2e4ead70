"""The catalog SQL files, cascade_tool/sql/<name>.sql: the one place they are read from."""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def load(name: str) -> str:
    """The text of sql/<name>.sql, read once per process."""
    return resources.files("cascade_tool").joinpath(f"sql/{name}.sql").read_text("utf-8")
