"""Great Expectations on DuckDB, done properly.

GX's ``SqlAlchemyExecutionEngine.execute_query`` returns a cursor result *after* its ``with``
block has handed the connection back to the pool. With duckdb_engine the pool's reset (a
rollback on the same DuckDB connection) discards the pending result, so every metric comes back
empty and each expectation carries an IndexError in ``exception_info`` (GX issue 11579).
:class:`DuckDBExecutionEngine` buffers the rows while the connection is still checked out.

GX reads a SQL table's column types through SQLAlchemy's reflection, which duckdb_engine cannot
do under SQLAlchemy 2.1 (its column query joins ``pg_catalog.pg_collation``, which DuckDB has
not got); GX then falls back to names without types and ``expect_column_values_to_be_of_type``
fails with ``KeyError: 'type'``. :class:`DuckDBColumnTypes` reads the types DuckDB itself reports
for the batch (``DOUBLE``, ``VARCHAR``, ``DECIMAL(18,3)``, ...) as SQLAlchemy types of the same
name, so ``type_="DOUBLE"`` (or a generic ``"Float"``, ``"String"``) is compared as GX documents.

GX implements no regular expressions for the duckdb dialect; this module registers DuckDB
providers (``regexp_matches``, RE2, search semantics as GX's pandas engine) for the regex
metrics, keyed to :class:`DuckDBExecutionEngine`, so suites saved by GX with
``expect_column_values_to_match_regex`` run unchanged. GX finds metric providers up the engine's
class hierarchy, so every other metric is GX's own SQL.

:class:`DuckDBDatasource` is a fluent datasource (``type: govreg_duckdb``) that uses the engine
and defines the check-digit macros (:mod:`expectations.sql`) on every connection.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Type  # noqa: UP035 - `type` is a field name in the datasource

import sqlalchemy as sa
from duckdb_engine import Dialect as DuckDBDialect
from great_expectations.compatibility.typing_extensions import override
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.datasource.fluent.sql_datasource import SQLDatasource
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider

from expectations.sql import MACROS


class DuckDBExecutionEngine(SqlAlchemyExecutionEngine):
    """GX's SQL engine, with results read before the connection goes back to the pool."""

    @override
    def execute_query(self, query: Any) -> Any:
        with self.get_connection() as connection:
            result = self._execute_query_with_recovery(connection, query)
            return result.freeze()()  # buffered: survives the pool's reset of the connection

    @override
    def execute_query_in_transaction(self, query: Any) -> Any:
        with self.get_connection() as connection:
            if self._connection_has_transaction(connection):
                result = connection.execute(query)
            else:
                with connection.begin():
                    result = connection.execute(query)
            return result.freeze()()


def install_macros(engine: sa.Engine) -> None:
    """Define govreg's SQL macros on every DuckDB connection the engine opens."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        for statement in MACROS:
            dbapi_connection.execute(statement)


class DuckDBDatasource(SQLDatasource):
    """A DuckDB warehouse for GX: the buffered engine, regex providers and check-digit macros."""

    type: Literal["govreg_duckdb"] = "govreg_duckdb"  # type: ignore[assignment]
    connection_string: str

    @property
    @override
    def execution_engine_type(self) -> Type[SqlAlchemyExecutionEngine]:  # noqa: UP006 - `type` is a field here
        return DuckDBExecutionEngine

    @override
    def get_execution_engine(self) -> SqlAlchemyExecutionEngine:
        engine = super().get_execution_engine()
        if not getattr(engine, "_govreg_macros", False):
            install_macros(engine.engine)
            engine.engine.dispose()  # connections opened before the listener get the macros too
            engine._govreg_macros = True  # type: ignore[attr-defined]
        return engine


def _regex(column: Any, regex: str, positive: bool) -> Any:
    matched = sa.func.regexp_matches(column, sa.literal(regex))
    return matched if positive else sa.not_(matched)


class DuckDBMatchRegex(ColumnMapMetricProvider):
    condition_metric_name = "column_values.match_regex"
    condition_value_keys = ("regex",)

    @column_condition_partial(engine=DuckDBExecutionEngine)
    def _duckdb(cls, column: Any, regex: str, **kwargs: Any) -> Any:
        return _regex(column, regex, True)


class DuckDBNotMatchRegex(ColumnMapMetricProvider):
    condition_metric_name = "column_values.not_match_regex"
    condition_value_keys = ("regex",)

    @column_condition_partial(engine=DuckDBExecutionEngine)
    def _duckdb(cls, column: Any, regex: str, **kwargs: Any) -> Any:
        return _regex(column, regex, False)


class DuckDBMatchRegexList(ColumnMapMetricProvider):
    condition_metric_name = "column_values.match_regex_list"
    condition_value_keys = ("regex_list", "match_on")

    @column_condition_partial(engine=DuckDBExecutionEngine)
    def _duckdb(cls, column: Any, regex_list: list[str], match_on: str = "any", **kwargs: Any) -> Any:
        matches = [_regex(column, r, True) for r in regex_list]
        return sa.or_(*matches) if match_on == "any" else sa.and_(*matches)


class DuckDBNotMatchRegexList(ColumnMapMetricProvider):
    condition_metric_name = "column_values.not_match_regex_list"
    condition_value_keys = ("regex_list",)

    @column_condition_partial(engine=DuckDBExecutionEngine)
    def _duckdb(cls, column: Any, regex_list: list[str], **kwargs: Any) -> Any:
        return sa.and_(*[_regex(column, r, False) for r in regex_list])


_SQL_TYPES: dict[str, type[sa.types.TypeEngine[Any]]] = {
    "BIGINT": sa.BIGINT,
    "BLOB": sa.BLOB,
    "BOOLEAN": sa.BOOLEAN,
    "DATE": sa.DATE,
    "DOUBLE": sa.DOUBLE,
    "FLOAT": sa.FLOAT,
    "INTEGER": sa.INTEGER,
    "INTERVAL": sa.Interval,
    "JSON": sa.JSON,
    "REAL": sa.REAL,
    "SMALLINT": sa.SMALLINT,
    "TIME": sa.TIME,
    "TIMESTAMP": sa.TIMESTAMP,
    "UUID": sa.UUID,
    "VARCHAR": sa.VARCHAR,
}


def duckdb_sql_type(name: str) -> sa.types.TypeEngine[Any]:
    """The SQLAlchemy type for a type name as DuckDB reports it (``DECIMAL(18,3)``, ``VARCHAR[]``)."""
    name = name.strip()
    if name.endswith("[]"):
        return sa.ARRAY(duckdb_sql_type(name[:-2]))
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", name, re.IGNORECASE)
    if decimal:
        return sa.DECIMAL(int(decimal.group(1)), int(decimal.group(2)))
    if name.upper() == "TIMESTAMP WITH TIME ZONE":
        return sa.TIMESTAMP(timezone=True)
    if name.upper() in _SQL_TYPES:
        return _SQL_TYPES[name.upper()]()
    known = DuckDBDialect.ischema_names.get(name.lower())  # TINYINT, HUGEINT, UBIGINT, ...
    return known() if known is not None else sa.types.NullType()


class DuckDBColumnTypes(TableMetricProvider):
    """``table.column_types`` from DuckDB's own description of the batch, not SQLAlchemy reflection."""

    metric_name = "table.column_types"
    value_keys = ("include_nested",)
    default_kwarg_values = {"include_nested": True}  # noqa: RUF012 - GX's own attribute, as GX declares it

    @metric_value(engine=DuckDBExecutionEngine)
    def _duckdb(
        cls,
        execution_engine: DuckDBExecutionEngine,
        metric_domain_kwargs: dict[str, Any],
        metric_value_kwargs: dict[str, Any],
        metrics: dict[str, Any],
        runtime_configuration: dict[str, Any],
    ) -> list[dict[str, Any]]:
        selectable, _, _ = execution_engine.get_compute_domain(
            metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE
        )
        query = sa.select(sa.text("*")).select_from(selectable).limit(0)  # type: ignore[arg-type]
        with execution_engine.get_connection() as connection:
            description = connection.execute(query).cursor.description or []
        return [{"name": d[0], "type": duckdb_sql_type(str(d[1]))} for d in description]
