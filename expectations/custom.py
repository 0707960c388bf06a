"""Custom expectations govreg adds to Great Expectations, and DuckDB providers for GX's own.

* ``expect_column_values_to_have_valid_check_digit`` (``scheme``: gb32100, gb11714, gb11643):
  a column map expectation; on DuckDB its condition is a SQL macro (:mod:`expectations.sql`),
  on pandas the same check in Python (:mod:`registry.checkdigit`).
* ``expect_column_values_to_be_valid_codes_on_date`` (``as_of``, ``always``, ``periods``,
  ``today``): a code is valid if it is in ``always`` or one of its ``periods``
  (``[code, valid_from, valid_to]``, ISO dates or null for open) holds the date in the row's
  ``as_of`` column; a row without a date is judged as of ``today``. On DuckDB, one SQL condition.
* ``expect_column_values_to_match_strftime_format`` is GX's own; GX computes it only in pandas,
  so a DuckDB provider (``try_strptime``) is registered here.

Importing this module registers them with GX.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)
from pydantic import Field

from expectations.engine import DuckDBExecutionEngine
from expectations.sql import FUNCTION
from registry.checkdigit import is_valid


class ColumnValuesValidCheckDigit(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_check_digit"
    condition_value_keys = ("scheme",)

    @column_condition_partial(engine=DuckDBExecutionEngine)
    def _duckdb(cls, column: Any, scheme: str, **kwargs: Any) -> Any:
        return getattr(sa.func, FUNCTION[scheme])(sa.cast(column, sa.String))

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: Any, scheme: str, **kwargs: Any) -> Any:
        return column.astype(str).map(lambda v: is_valid(scheme, v))


class ExpectColumnValuesToHaveValidCheckDigit(ColumnMapExpectation):
    """Expect identifiers to carry a correct check character (GB 32100, GB 11714 or GB 11643).

    Args:
        column: the column of identifiers.
        scheme: ``gb32100`` (unified social credit code), ``gb11714`` (organisation code) or
            ``gb11643`` (resident identity card number).
    """

    scheme: Literal["gb32100", "gb11714", "gb11643"]

    map_metric: ClassVar[str] = "column_values.valid_check_digit"
    success_keys: ClassVar[tuple[str, ...]] = ("scheme", "mostly")
    library_metadata: ClassVar[dict[str, Any]] = {"maturity": "production", "tags": ["govreg", "identifiers"]}


class DuckDBMatchStrftimeFormat(ColumnMapMetricProvider):
    condition_metric_name = "column_values.match_strftime_format"
    condition_value_keys = ("strftime_format",)

    @column_condition_partial(engine=DuckDBExecutionEngine)
    def _duckdb(cls, column: Any, strftime_format: str, **kwargs: Any) -> Any:
        return sa.func.try_strptime(sa.cast(column, sa.String), sa.literal(strftime_format)).isnot(None)


class ColumnValuesCodeValidOnDate(ColumnMapMetricProvider):
    condition_metric_name = "column_values.code_valid_on_date"
    condition_value_keys = ("as_of", "always", "periods", "today")

    @column_condition_partial(engine=DuckDBExecutionEngine)
    def _duckdb(
        cls,
        column: Any,
        as_of: str,
        always: list[str],
        periods: list[list[str | None]],
        today: str,
        **kwargs: Any,
    ) -> Any:
        def day(text: str) -> Any:
            return sa.cast(sa.literal(text), sa.Date)

        on = sa.func.coalesce(sa.cast(sa.column(as_of), sa.Date), day(today))
        code = sa.cast(column, sa.String)
        valid: list[Any] = [code.in_(always)] if always else []
        for value, start, end in periods:
            bounds = [on >= day(start)] * bool(start) + [on <= day(end)] * bool(end)  # type: ignore[arg-type]
            valid.append(sa.and_(code == value, *bounds))
        return sa.or_(*valid) if valid else sa.false()


class ExpectColumnValuesToBeValidCodesOnDate(ColumnMapExpectation):
    """Expect each code to be valid on the date its row carries (a code list with validity periods).

    Args:
        column: the column of codes.
        as_of: the row's date column; a row without a date is judged as of ``today``.
        always: codes valid on every day.
        periods: ``[code, valid_from, valid_to]`` (ISO dates, null for open), both days included.
        today: the day of the check (ISO date).
    """

    as_of: str
    always: list[str] = Field(default_factory=list)
    periods: list[list[str | None]] = Field(default_factory=list)
    today: str

    map_metric: ClassVar[str] = "column_values.code_valid_on_date"
    success_keys: ClassVar[tuple[str, ...]] = ("as_of", "always", "periods", "today", "mostly")
    library_metadata: ClassVar[dict[str, Any]] = {"maturity": "production", "tags": ["govreg", "codes"]}
