"""Typed errors. The CLI turns any `CascadeToolError` into one line on stderr and exit code 2."""

from __future__ import annotations


class CascadeToolError(Exception):
    """Base of every error the tool reports to a person (exit code 2 at the CLI)."""

    @property
    def problems(self) -> list[str]:
        """The error as lines, one per problem: the CLI prints each on a line of its own."""
        return [str(arg) for arg in self.args] or [type(self).__name__]

    def __str__(self) -> str:
        return "\n".join(self.problems) if len(self.args) > 1 else super().__str__()


class ManifestError(CascadeToolError):
    """The manifest cannot be read or does not follow the documented shape.

    Holds every problem found (one argument each), so one run names all of a manifest's mistakes.
    """


class DatabaseError(CascadeToolError):
    """The database cannot be reached, or a query against it failed."""


class RevisionError(CascadeToolError):
    """The Alembic versions directory cannot take a new revision (missing, several heads...)."""


class QuarantineError(CascadeToolError):
    """A quarantine command was asked for something it must not do (a bad retention, filter...)."""


class FleetError(CascadeToolError):
    """A fleet targets file, targets query or fleet option cannot be used as given.

    Holds every problem found (one argument each), like ManifestError.
    """
