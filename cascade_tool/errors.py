"""Typed errors. The CLI turns any `CascadeToolError` into one line on stderr and exit code 2."""

from __future__ import annotations


class CascadeToolError(Exception):
    """Base of every error the tool reports to a person (exit code 2 at the CLI)."""


class ManifestError(CascadeToolError):
    """The manifest cannot be read or does not follow the documented shape."""


class DatabaseError(CascadeToolError):
    """The database cannot be reached, or a query against it failed."""


class RevisionError(CascadeToolError):
    """The Alembic versions directory cannot take a new revision (missing, several heads...)."""


class QuarantineError(CascadeToolError):
    """A quarantine command was asked for something it must not do (a bad retention, filter...)."""


class FleetError(CascadeToolError):
    """A fleet targets file, targets query or fleet option cannot be used as given."""
