"""cascade-tool: convert user-linked foreign keys to ON DELETE CASCADE / SET NULL via Alembic."""

from __future__ import annotations

__version__ = "0.2.0"
