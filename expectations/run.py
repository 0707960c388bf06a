"""Validate a warehouse table with Great Expectations, pushed down to DuckDB SQL.

The result of every expectation becomes an :class:`Outcome`: ``passed``, ``failed`` or
``error``. An expectation whose result holds an exception is an error with its message, never
a pass or a fail. Samples of unexpected values (at most 20) are masked when the column carries
personal information.
"""

from __future__ import annotations

import copy
import hashlib
import json
import traceback
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.core import ExpectationValidationResult
from great_expectations.data_context.types.base import ProgressBarsConfig

import expectations.custom  # noqa: F401 - registers govreg's expectations and DuckDB providers
from expectations.mask import mask
from registry.home import Registry
from registry.model import Dataset
from registry.vocab import PersonalInfo

SAMPLE_SIZE = 20


@dataclass(frozen=True)
class Outcome:
    """One expectation's result on one table."""

    dataset: str
    suite: str
    key: str
    expectation_type: str
    kwargs: dict[str, Any]
    columns: tuple[str, ...]
    element: str | None
    rule: str | None
    severity: str
    status: str  # passed, failed, error
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    samples: tuple[str, ...] = ()
    message: str | None = None
    observed: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "suite": self.suite,
            "key": self.key,
            "type": self.expectation_type,
            "columns": list(self.columns),
            "element": self.element,
            "rule": self.rule,
            "severity": self.severity,
            "status": self.status,
            "element_count": self.element_count,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": self.unexpected_percent,
            "samples": list(self.samples),
            "message": self.message,
        }


@dataclass
class Validation:
    """All outcomes of validating one table with one suite."""

    dataset: str
    suite: str
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def expectation_key(expectation_type: str, kwargs: dict[str, Any], meta: dict[str, Any]) -> str:
    """A stable key: govreg's own for derived standards, a digest of type and arguments otherwise."""
    own = (meta or {}).get("govreg", {}).get("key")
    if own:
        return str(own)
    text = json.dumps({"type": expectation_type, "kwargs": kwargs}, sort_keys=True, default=str)
    return f"{expectation_type}:{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _personal_columns(registry: Registry, ds: Dataset) -> set[str]:
    return {
        c.element
        for c in ds.columns
        if c.element in registry.elements and registry.elements[c.element].personal != PersonalInfo.NONE
    }


def _error_message(exception_info: Any) -> str | None:
    """The message of the first exception a GX result carries, or None when it raised nothing."""
    infos: Iterable[Any]
    if not exception_info:
        return None
    if isinstance(exception_info, dict) and "raised_exception" in exception_info:
        infos = [exception_info]
    elif isinstance(exception_info, dict):
        infos = exception_info.values()
    else:
        infos = [exception_info]
    for info in infos:
        if isinstance(info, dict) and info.get("raised_exception"):
            return str(info.get("exception_message") or "the expectation raised an exception")
    return None


def _outcome(registry: Registry, ds: Dataset, suite: str, result: Any, personal: set[str]) -> Outcome:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    meta = (config.meta or {}).get("govreg", {})
    columns = tuple(
        meta.get("columns") or ([kwargs["column"]] if "column" in kwargs else kwargs.get("column_list", []))
    )
    element = meta.get("element") or (
        columns[0] if len(columns) == 1 and columns[0] in registry.elements else None
    )
    severity = str(getattr(config, "severity", None) or "critical")
    base = {
        "dataset": ds.code,
        "suite": suite,
        "key": expectation_key(config.type, kwargs, config.meta or {}),
        "expectation_type": config.type,
        "kwargs": kwargs,
        "columns": columns,
        "element": element,
        "rule": meta.get("rule"),
        "severity": severity.lower().removeprefix("failureseverity."),
    }
    error = _error_message(result.exception_info)
    if error is not None:
        return Outcome(**base, status="error", message=error)
    res = result.result or {}
    samples = [v for v in res.get("partial_unexpected_list") or [] if v is not None][:SAMPLE_SIZE]
    if not samples and res.get("partial_unexpected_list"):
        samples = ["<null>"] * min(len(res["partial_unexpected_list"]), SAMPLE_SIZE)
    hide = any(c in personal for c in columns)
    shown = tuple(mask(v) if hide and v != "<null>" else str(v) for v in samples)
    return Outcome(
        **base,
        status="passed" if result.success else "failed",
        element_count=res.get("element_count"),
        unexpected_count=res.get("unexpected_count"),
        unexpected_percent=res.get("unexpected_percent"),
        samples=shown,
        observed=res.get("observed_value"),
    )


def _run_suite(batch: Any, suite: str, expectations_: Sequence[gxe.Expectation]) -> list[Any]:
    """GX's results for ``expectations_``; one that raises out of GX's validation becomes an error result.

    GX builds each expectation's metric dependencies outside its own exception handling, so an
    unknown metric raises out of the whole suite: then run them one at a time.
    """
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}

    def run(items: Sequence[gxe.Expectation]) -> list[Any]:
        # A copy without its ``id``: GX refuses an expectation that belongs to another suite, and
        # every expectation of a suite GX saved (or of a suite loaded here) carries one.
        gx_suite = gx.ExpectationSuite(name=suite, expectations=[copy.copy(e) for e in items])
        return list(batch.validate(gx_suite, result_format=result_format).results)

    def failed(expectation: gxe.Expectation, exc: Exception) -> Any:
        info = {
            "raised_exception": True,
            "exception_message": f"{type(exc).__name__}: {exc}",
            "exception_traceback": traceback.format_exc(),
        }
        config = copy.copy(expectation).configuration
        return ExpectationValidationResult(success=False, expectation_config=config, exception_info=info)

    try:
        return run(expectations_)
    except Exception as exc:
        if len(expectations_) == 1:
            return [failed(expectations_[0], exc)]
    results: list[Any] = []
    for expectation in expectations_:
        try:
            results += run([expectation])
        except Exception as exc:
            results.append(failed(expectation, exc))
    return results


def validate_table(
    registry: Registry,
    ds: Dataset,
    warehouse: Path,
    expectations_: Sequence[gxe.Expectation],
    suite: str = "standards",
    table: str | None = None,
) -> Validation:
    """Run ``expectations_`` on the dataset's table in the DuckDB file ``warehouse``."""
    validation = Validation(ds.code, suite)
    if not expectations_:
        return validation
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_govreg_duckdb(
        name=f"warehouse-{uuid.uuid4().hex[:8]}", connection_string=f"duckdb:///{Path(warehouse).resolve()}"
    )
    try:
        batch = (
            source.add_table_asset(name=ds.code, table_name=table or ds.code)
            .add_batch_definition_whole_table("whole")
            .get_batch()
        )
        results = _run_suite(batch, suite, expectations_)
        personal = _personal_columns(registry, ds)
        validation.outcomes = [_outcome(registry, ds, suite, r, personal) for r in results]
    finally:
        # Release the DuckDB file: Dagster's next step opens it with its own configuration, which
        # DuckDB refuses while any connection of another configuration is open in this process.
        source.get_execution_engine().engine.dispose()
        source.get_engine().dispose()
    return validation
