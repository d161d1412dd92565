"""Import reports: what was read, written, repaired and refused, feature by feature."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

Progress = Callable[[str], None]
"""Told, in a few words, which step a long job is at (the CLI shows it beside a spinner)."""


def quiet(_message: str) -> None:
    """A :data:`Progress` that says nothing."""


class Severity(StrEnum):
    """How an issue affects the import."""

    ERROR = "error"
    """The feature is refused; by default the whole import is then refused."""
    REPAIRED = "repaired"
    """The feature was changed to make it valid, and imported."""
    WARNING = "warning"
    """Imported as it is, but worth a look."""


@dataclass(frozen=True)
class Issue:
    """One finding about one feature (or the whole file when ``index`` is ``None``)."""

    severity: Severity
    reason: str
    index: int | None = None
    """Position of the feature in the file, from 0."""
    feature_id: str | None = None
    """The feature's code or source id, when it has one."""
    field: str | None = None

    def __str__(self) -> str:
        where = "file" if self.index is None else f"feature {self.index}"
        if self.feature_id:
            where += f" ({self.feature_id})"
        if self.field:
            where += f", field {self.field!r}"
        return f"{where}: {self.reason}"


@dataclass
class ImportReport:
    """Counts and findings of one import (boundaries or an asset layer)."""

    target: str
    path: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    derived: dict[str, int] = field(default_factory=dict)
    """Parent areas created or refreshed by dissolving their children, per level."""
    issues: list[Issue] = field(default_factory=list)
    link: dict[str, Any] | None = None
    committed: bool = False

    def add(
        self,
        severity: Severity,
        reason: str,
        *,
        index: int | None = None,
        feature_id: object = None,
        field: str | None = None,
    ) -> None:
        """Record one finding."""
        fid = None if feature_id is None else str(feature_id)
        self.issues.append(Issue(severity, reason, index, fid, field))

    @property
    def errors(self) -> list[Issue]:
        """Findings that refuse a feature."""
        return [i for i in self.issues if i.severity is Severity.ERROR]

    @property
    def repaired(self) -> list[Issue]:
        """Findings where a geometry was repaired."""
        return [i for i in self.issues if i.severity is Severity.REPAIRED]

    @property
    def warnings(self) -> list[Issue]:
        """Findings worth a look that did not stop anything."""
        return [i for i in self.issues if i.severity is Severity.WARNING]

    def sort_issues(self) -> None:
        """Findings about the whole file first, then feature by feature in file order.

        Stable: the findings about one feature keep the order they were made in.
        """
        self.issues.sort(key=lambda i: (i.index is not None, i.index or 0))

    def rejected_indexes(self) -> set[int]:
        """Indexes of the features refused."""
        return {i.index for i in self.errors if i.index is not None}

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        data = asdict(self)
        data["issues"] = [{**asdict(i), "severity": str(i.severity)} for i in self.issues]
        return data
