"""Problems as data, and the package's exception tree.

Library code collects :class:`Problem` values and raises once, with all of them, as a
:class:`DeclarationError`. The CLI prints them; tests compare their codes and locations.

Exception tree::

    GovregError                  base of everything govreg raises on purpose
    ├── DeclarationError         a registry home has errors (carries every Problem)
    └── StoreError               the metadata store refused an operation
        ├── StoreBusy            another writer held the store longer than a writer waits
        └── AuditChainError      the audit log's hash chain does not verify
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from registry.codes import RULES, Severity


def display_path(path: Path) -> str:
    """A path as people want to read it: relative to the working directory when inside it."""
    text = os.path.relpath(path)
    return str(path) if text.startswith("..") else text


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """Where a declaration came from: a file and a 1-based line (0 when unknown)."""

    file: str = ""
    line: int = 0

    def __str__(self) -> str:
        if not self.file:
            return "<unknown>"
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: a rule code at a location, with a message and a fix hint.

    ``dated`` marks a finding whose truth depends on the day it is judged on (an agreement that
    has ended or not yet begun): it never keeps the Dagster definitions from loading; instead the
    assets named in ``stops`` (dataset, view or indicator codes) fail at run time with its code.
    """

    code: str
    message: str
    location: Location = field(default_factory=Location)
    hint: str = ""
    dated: bool = False
    stops: tuple[str, ...] = ()

    @property
    def severity(self) -> Severity:
        return RULES[self.code].severity

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        hint = self.hint or RULES[self.code].hint
        return f"{self.location}: {self.code} {self.message} — {hint}"

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity,
            "file": self.location.file,
            "line": self.location.line,
            "message": self.message,
            "hint": self.hint or RULES[self.code].hint,
            "dated": self.dated,
        }


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Errors first, then by file, line and code, so output is stable."""
    return sorted(problems, key=lambda p: (not p.is_error, p.location, p.code, p.message))


def relpath(path: Path, base: Path) -> str:
    """A path as users typed it: relative to ``base`` where possible."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


class GovregError(Exception):
    """Base of every error govreg raises on purpose."""

    code = "GOVREG"


class DeclarationError(GovregError):
    """A registry home has errors; ``problems`` holds every one of them (and the warnings)."""

    code = "DECLARATION"

    def __init__(self, problems: list[Problem]):
        self.problems = sort_problems(problems)
        errors = [p for p in self.problems if p.is_error]
        lines = "\n".join(str(p) for p in errors[:20])
        more = f"\n… and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} error(s) in the registry home:\n{lines}{more}")

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]


class StoreError(GovregError):
    """The metadata store refused an operation."""

    code = "STORE"


class StoreBusy(StoreError):
    """Another writer held the metadata store's write lock for longer than a writer waits (a
    bounded retry): nothing was written; the operation may be tried again as it is."""

    code = "BUSY"


class AuditChainError(StoreError):
    """The audit log's hash chain is broken: an event was edited, inserted or deleted."""

    code = "AUDIT"
