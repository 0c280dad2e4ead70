"""Every error the tool reports to a person, in one place.

The CLI turns any `CascadeToolError` into one line on stderr and exit code 2. Messages speak the
library's terms; when an error is about one argument, `option` names it (the library's
parameter name, e.g. "older_than") and the CLI puts the flag in front (`--older-than ...`).
"""

from __future__ import annotations


class CascadeToolError(Exception):
    """Base of every error the tool reports to a person (exit code 2 at the CLI)."""

    def __init__(self, *problems: str, option: str | None = None) -> None:
        super().__init__(*problems)
        self.option = option

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


class TargetNotFound(CascadeToolError):
    """The target table does not exist in this database."""


class RevisionError(CascadeToolError):
    """The Alembic versions directory cannot take a new revision (missing, several heads...)."""


class QuarantineError(CascadeToolError):
    """A quarantine command was asked for something it must not do (a bad retention, filter...)."""


class ValidateError(CascadeToolError):
    """The validate command was given an option it cannot use (a bad duration, job count...)."""


class ImpactError(CascadeToolError):
    """The condition or key selecting the rows to delete could not be evaluated."""


class SmokeError(CascadeToolError):
    """The smoke test could not start (no target row could be created, ...)."""


class DiscoverError(CascadeToolError):
    """discover cannot write or merge the manifest."""


class ModelsError(CascadeToolError):
    """The application's models cannot be imported, found or configured."""


class ServerError(CascadeToolError):
    """A throwaway PostgreSQL server could not be found, started or stopped."""


class FleetError(CascadeToolError):
    """A fleet targets file, targets query or fleet option cannot be used as given.

    Holds every problem found (one argument each), like ManifestError.
    """
