"""The table manifest: reading it (read), writing one from a discovery (write), merging a new
discovery into a reviewed one (merge).

`from cascade_tool.manifest import load_manifest, Manifest, ...` reads; the writer and the
merge are imported from their modules (they need the catalog, reading does not).
"""

from __future__ import annotations

from cascade_tool.manifest.read import (
    ACTIONS,
    ORPHAN_POLICIES,
    Entry,
    Manifest,
    Options,
    TableName,
    entry_payload,
    load_manifest,
    parse_manifest,
    parse_table_name,
)

__all__ = [
    "ACTIONS",
    "ORPHAN_POLICIES",
    "Entry",
    "Manifest",
    "Options",
    "TableName",
    "entry_payload",
    "load_manifest",
    "parse_manifest",
    "parse_table_name",
]
