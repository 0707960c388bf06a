"""Custom expectations govreg adds to Great Expectations, and DuckDB providers for GX's own.

* ``expect_column_values_to_have_valid_check_digit`` (``scheme``: gb32100, gb11714, gb11643):
  a column map expectation; on DuckDB its condition is a SQL macro (:mod:`expectations.sql`),
  on pandas the same check in Python (:mod:`registry.checkdigit`).
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
