"""Why an extract was refused at the door: a rule code, a location and what to do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from registry.codes import RULES
from registry.errors import GovregError


class IngestError(GovregError):
    """An extract refused at the door. The live table is untouched; the file is quarantined."""

    code = "INGEST"

    def __init__(
        self,
        rule: str,
        message: str,
        *,
        dataset: str,
        file: str,
        line: int = 0,
        columns: Sequence[str] = (),
        hint: str | None = None,
    ):
        self.rule = rule
        self.message = message
        self.dataset = dataset
        self.file = file
        self.line = line
        self.columns = tuple(columns)
        self.hint = hint or RULES[rule].hint
        self.quarantined_to: str | None = None
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.rule} dataset '{self.dataset}': {self.message} — {self.hint}"

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.rule,
            "title": RULES[self.rule].title,
            "dataset": self.dataset,
            "file": self.file,
            "line": self.line,
            "columns": list(self.columns),
            "message": self.message,
            "hint": self.hint,
        }
