"""The one reader of the TOML files a person writes (the manifest, a fleet's targets)."""

from __future__ import annotations

import tomllib
from typing import Any

from cascade_tool.errors import CascadeToolError


def parse_toml(data: bytes, source: str, error: type[CascadeToolError]) -> dict[str, Any]:
    """`data` as a TOML document; text that is not UTF-8 or not TOML raises `error`, naming `source`."""
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise error(f"{source}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: invalid TOML: {exc}") from None
