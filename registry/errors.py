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
    # the file at ``location`` was not read at all (broken YAML, unreadable, not a mapping): the
    # registry is missing whatever it declares, so findings about the whole may be its echoes
    unread: bool = False
    # the declaration at ``location`` was rejected (YAML002/YAML003): the registry lacks that entity
    rejected: bool = False

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


def follow_on(problems: Iterable[Problem]) -> tuple[list[Problem], list[Problem]]:
    """Split ``problems`` into what to show and what to hold back, as compilers stop after a
    syntax error.

    When a file was not read (``Problem.unread``: a YAML syntax error, an unreadable file), the
    registry lacks everything it declares, and the checks of the whole registry (GOV…, QA…) then
    report its elements as "unregistered", its departments as unknown, its datasets as missing:
    echoes, not findings. Those are held back (returned second, to be counted, never dropped
    silently); the file-local findings of every file (YAML…) are shown.

    When every file was read but a declaration was rejected (``Problem.rejected``), only the
    lineage-derived findings (:data:`DERIVED`) are held back. Nothing is held back when every
    declaration was read. Held-back errors still make the home invalid: the error they follow
    is an error itself.

    >>> broken = Problem("YAML001", "found unexpected end of stream", Location("a.yaml", 3), unread=True)
    >>> echo = Problem("GOV003", "column 'x' maps to unregistered element 'x'", Location("b.yaml", 9))
    >>> shown, held = follow_on([echo, broken])
    >>> [p.code for p in shown], [p.code for p in held]
    (['YAML001'], ['GOV003'])
    >>> follow_on([echo])[1]
    []
    """
    problems = list(problems)
    if any(p.unread for p in problems):
        return [p for p in problems if p.code.startswith("YAML")], [
            p for p in problems if not p.code.startswith("YAML")
        ]
    if any(p.rejected for p in problems):
        return [p for p in problems if p.code not in DERIVED], [p for p in problems if p.code in DERIVED]
    return problems, []


DERIVED = frozenset({"GOV030", "GOV039"})
"""Findings derived from lineage across the whole registry: a rejected declaration (an element
whose entry has a wrong value) leaves its columns unmapped, so every view reading them is judged
at the strictest classification, and says so. Held back while a declaration is rejected; the
references to the rejected entity itself are not reported at all (``Registry.is_declared``)."""


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
