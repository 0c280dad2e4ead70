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

The application is imported (`package.module:Base`, models.load), its tables and relationships
are matched to the manifest entries by table name and column set (models.read), and each
finding points at the model's source line with the exact call to write (models.rewrite). The
comparison (models.check.compare) is a pure function of the manifest, the loaded models and
(optionally) the catalog lookup rows.
"""

from __future__ import annotations

from cascade_tool.errors import ModelsError
from cascade_tool.models.check import ERROR, WARNING, Finding, ModelCheck, check, compare
from cascade_tool.models.load import LoadedModels, load_models

__all__ = [
    "ERROR", "WARNING", "Finding", "LoadedModels", "ModelCheck", "ModelsError", "check", "compare", "load_models",
]
