"""Quality history in the metadata store, and the scores read from it.

Every expectation result is kept (dataset, suite, expectation, element, run, counts, masked
samples, time). A *validation* is one suite run on one table. Scores:

* an expectation scores ``1 − unexpected share`` (a table-level one: 1 if passed, else 0);
  an expectation that raised is an error and does not score at all;
* a dataset scores the mean of its latest validation's expectations (× 100);
* a department, the row-weighted mean of its datasets; an element, the mean of the
  expectations on columns carrying it, across datasets;
* the trend is the latest score minus the one before it.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from registry.store.audit import now
from registry.store.db import Store
from registry.store.schema import quality_results


def record_results(
    store: Store, department: str, outcomes: Iterable[dict[str, Any]], *, run_id: str | None = None
) -> str:
    """Store one validation's outcomes (``Outcome.to_json()`` dicts plus ``kwargs``); returns its id."""
    validation_id = uuid.uuid4().hex
    stamp = now()
    rows = [
        {
            "validation_id": validation_id,
            "run_id": run_id,
            "dataset": o["dataset"],
            "department": department,
            "suite": o["suite"],
            "key": o["key"],
            "expectation_type": o["type"],
            "kwargs": json.dumps(o.get("kwargs", {}), ensure_ascii=False, sort_keys=True, default=str),
            "columns": json.dumps(o.get("columns", []), ensure_ascii=False),
            "element": o.get("element"),
            "rule": o.get("rule"),
            "severity": o["severity"],
            "status": o["status"],
            "element_count": o.get("element_count"),
            "unexpected_count": o.get("unexpected_count"),
            "unexpected_percent": o.get("unexpected_percent"),
            "samples": json.dumps(o.get("samples", []), ensure_ascii=False),
            "message": o.get("message"),
            "validated_at": stamp,
        }
        for o in outcomes
    ]
    if rows:
        with store.write() as conn:
            conn.execute(insert(quality_results), rows)
    return validation_id


def expectation_score(row: dict[str, Any]) -> float | None:
    if row["status"] == "error":
        return None
    if row["unexpected_percent"] is not None:
        return max(0.0, 1.0 - float(row["unexpected_percent"]) / 100.0)
    return 1.0 if row["status"] == "passed" else 0.0


@dataclass(frozen=True)
class Score:
    """A quality score (0–100) with what it is made of."""

    subject: str
    kind: str  # dataset, department, element
    score: float | None
    previous: float | None
    passed: int
    failed: int
    errors: int
    rows: int
    validated_at: str | None

    @property
    def trend(self) -> float | None:
        return None if self.score is None or self.previous is None else round(self.score - self.previous, 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "kind": self.kind,
            "score": self.score,
            "previous": self.previous,
            "trend": self.trend,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "rows": self.rows,
            "validated_at": self.validated_at,
        }


def _mean(values: list[float]) -> float | None:
    return round(100.0 * sum(values) / len(values), 2) if values else None


def _validations(store: Store) -> dict[str, list[list[dict[str, Any]]]]:
    """Dataset → its validations (each a list of result rows), oldest first; suites merged per run time."""
    with store.read() as conn:
        rows = [
            dict(r) for r in conn.execute(select(quality_results).order_by(quality_results.c.id)).mappings()
        ]
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    for row in rows:
        grouped[row["dataset"]].setdefault(row["validation_id"], []).append(row)
    return {ds: list(vals.values()) for ds, vals in grouped.items()}


def _latest_per_suite(
    validations: list[list[dict[str, Any]]], skip_last: bool = False
) -> list[dict[str, Any]]:
    """The rows of the latest validation of each suite (or the one before, for the trend)."""
    by_suite: dict[str, list[list[dict[str, Any]]]] = defaultdict(list)
    for validation in validations:
        by_suite[validation[0]["suite"]].append(validation)
    out: list[dict[str, Any]] = []
    for runs in by_suite.values():
        index = -2 if skip_last else -1
        if len(runs) >= abs(index):
            out += runs[index]
    return out


def _summarise(subject: str, kind: str, rows: list[dict[str, Any]], previous: list[dict[str, Any]]) -> Score:
    scores = [s for s in (expectation_score(r) for r in rows) if s is not None]
    before = [s for s in (expectation_score(r) for r in previous) if s is not None]
    return Score(
        subject,
        kind,
        _mean(scores),
        _mean(before),
        sum(r["status"] == "passed" for r in rows),
        sum(r["status"] == "failed" for r in rows),
        sum(r["status"] == "error" for r in rows),
        max((r["element_count"] or 0 for r in rows), default=0),
        max((r["validated_at"] for r in rows), default=None),
    )


def quality_scores(store: Store) -> dict[str, list[Score]]:
    """Scores per dataset, department and element, each list worst first."""
    validations = _validations(store)
    datasets: list[Score] = []
    per_department: dict[str, list[tuple[Score, list[dict[str, Any]], list[dict[str, Any]]]]] = defaultdict(
        list
    )
    per_element: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = defaultdict(lambda: ([], []))
    for dataset, runs in validations.items():
        latest, before = _latest_per_suite(runs), _latest_per_suite(runs, skip_last=True)
        score = _summarise(dataset, "dataset", latest, before)
        datasets.append(score)
        per_department[latest[0]["department"]].append((score, latest, before))
        for row in latest:
            if row["element"]:
                per_element[row["element"]][0].append(row)
        for row in before:
            if row["element"]:
                per_element[row["element"]][1].append(row)
    departments = []
    for dept, items in per_department.items():
        weight = sum(max(s.rows, 1) for s, _, _ in items)
        scored = [(s.score, max(s.rows, 1)) for s, _, _ in items if s.score is not None]
        prev = [(s.previous, max(s.rows, 1)) for s, _, _ in items if s.previous is not None]
        latest_rows = [r for _, rows, _ in items for r in rows]
        base = _summarise(dept, "department", latest_rows, [])
        departments.append(
            Score(
                dept,
                "department",
                round(sum(v * w for v, w in scored) / sum(w for _, w in scored), 2) if scored else None,
                round(sum(v * w for v, w in prev) / sum(w for _, w in prev), 2) if prev else None,
                base.passed,
                base.failed,
                base.errors,
                weight,
                base.validated_at,
            )
        )
    elements = [_summarise(code, "element", latest, before) for code, (latest, before) in per_element.items()]

    def worst_first(scores: list[Score]) -> list[Score]:
        return sorted(
            scores, key=lambda s: (s.score is None, s.score if s.score is not None else 0, s.subject)
        )

    return {
        "datasets": worst_first(datasets),
        "departments": worst_first(departments),
        "elements": worst_first(elements),
    }


def latest_results(store: Store, dataset: str) -> list[dict[str, Any]]:
    """The rows of a dataset's latest validation of each suite."""
    runs = _validations(store).get(dataset, [])
    rows = _latest_per_suite(runs)
    for row in rows:
        row["samples"] = json.loads(row["samples"] or "[]")
        row["columns"] = json.loads(row["columns"] or "[]")
    return rows
