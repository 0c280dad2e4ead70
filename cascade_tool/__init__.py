"""cascade-tool: convert user-linked foreign keys to ON DELETE CASCADE / SET NULL via Alembic.

The public API (as alembic.command is Alembic's): load a manifest, plan, render or generate the
revision, verify. See cascade_tool.api and docs/api.md.
"""

from __future__ import annotations

__version__ = "0.6.0"

from cascade_tool.api import build_plan, generate, load_manifest, render_revision, verify  # noqa: E402
from cascade_tool.errors import CascadeToolError  # noqa: E402
from cascade_tool.manifest import Manifest  # noqa: E402
from cascade_tool.plan import Step, Verification  # noqa: E402

__all__ = [
    "CascadeToolError",
    "Manifest",
    "Step",
    "Verification",
    "__version__",
    "build_plan",
    "generate",
    "load_manifest",
    "render_revision",
    "verify",
]
