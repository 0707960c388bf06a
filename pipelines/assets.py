"""Assets generated from the registry: a dataset, a view or an indicator each; no hand-written asset.

* dataset — key ``[department, dataset]``: stages the newest extract in its landing folder (or
  the file a sensor names), runs its checks on the staging table and publishes it only when no
  blocking expectation fails (write, audit, publish; :mod:`ingest.load`);
* view — key ``[owner, view]``: ``CREATE OR REPLACE TABLE`` from its SQL; depends on the tables
  its SQL reads (parsed with sqlglot);
* indicator — key ``[owner, indicator]``: runs its SQL and records the value in the
  materialization, so the Dagster UI plots it over time.
"""

import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from expectations.gate import GateDecision, gate_expectations, validate_staged
from expectations.suites import LoadedSuite
from ingest import IngestError, LoadOutcome
from ingest.cast import ident, target_type
from ingest.load import PreparedLoad, block_load, blocked_table, prepare_load, publish_load
from lineage.classification import Classification
from lineage.masking import MASK_MACRO
from lineage.propagate import Propagation
from lineage.tables import tables_read
from lineage.views import QueryLineage, RegistryLineage
from pipelines.checks import check_results, check_specs, standing_results
from pipelines.resources import GovregResource, landing_files, landing_folder
from registry.errors import Problem
from registry.home import Registry
from registry.model import Dataset, Indicator, View
from registry.rules import date_stops
from registry.store.loads import last_good_rows
from registry.vocab import UpdateCycle, strictest

POOL = "duckdb_warehouse"  # DuckDB takes one writing process: warehouse steps run one at a time

VIEW_CONDITION = (
    dg.AutomationCondition.eager()
    | (
        dg.AutomationCondition.missing()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.in_progress()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.execution_failed()
    ).with_label("missing, its sources present")
).with_label("govreg: rebuild when a source is published")
"""Views and indicators follow their sources (evaluated by :func:`pipelines.automation.automation_sensors`).

``eager``: requested once when a table they read has a new materialization (or will get one in
the same tick), never while a source is missing or running, never twice for one update. And a
view or indicator that does not exist yet while its sources do (a new one, or the sensor's first
tick, which ``eager`` alone lets pass) is built, once: a failed attempt waits for a new update.

Neither reads check results, and need not: a dataset materializes only when its extract passed
every blocking expectation on the staging table (write, audit, publish), so a blocked extract is
no update and the views keep the last good data; a source whose checks only warn does go live and
does refresh them (``all_deps_blocking_checks_passed`` would hold them back on warnings too: Dagster
counts a WARN result as failed). In one run, Dagster's blocking checks skip the views of a dataset
whose check fails with ERROR.
"""


class IngestConfig(dg.Config):
    """Which extract to ingest; by default the newest file in the dataset's landing folder."""

    file: str | None = None


@contextmanager
def warehouse(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """A warehouse connection closed on every path (the resource's own is left open on errors).

    It knows govreg's masking macro ``govreg_mask`` (:data:`lineage.masking.MASK_MACRO`), which
    views may use in a declassified column.
    """
    with resource.get_connection() as con:
        try:
            con.execute(MASK_MACRO)
            yield con
        finally:
            con.close()


def salt_variable(salt: str) -> str:
    """The environment variable holding a declassify rule's hash salt: ``GOVREG_SALT_<NAME>``."""
    return "GOVREG_SALT_" + re.sub(r"[^0-9A-Za-z]", "_", salt).upper()


def set_salts(con: duckdb.DuckDBPyConnection, view: View) -> None:
    """Set the session variables a view's ``hash`` declassify rules salt with, from the environment.

    The salt is a secret: it lives in the environment (``GOVREG_SALT_<NAME>``), never in the SQL
    or the registry. Without it the view is not built (a hash with no salt would be NULL, or an
    unsalted hash anyone could reverse by trying every identifier).
    """
    for rule in view.declassify:
        if rule.method != "hash" or not rule.salt:
            continue
        secret = os.environ.get(salt_variable(rule.salt))
        if not secret:
            raise dg.Failure(
                description=f"GOV031: view {view.code} hashes {rule.column} with the salt "
                f"{rule.salt!r}: set {salt_variable(rule.salt)} in the environment of the code "
                "location (a secret, never in the SQL); the view was not built without it",
                metadata={"codes": "GOV031"},
            )
        con.execute(f"SET VARIABLE {ident(rule.salt)} = ?", [secret])


_STOPS: dict[tuple[int, date], tuple[Registry, dict[str, tuple[Problem, ...]]]] = {}


def refuse_if_stopped(registry: Registry, code: str, today: date | None = None) -> None:
    """Fail this asset's run with the code of each date-driven error that stops it today.

    Failures stay local: an agreement that has ended (GOV007 for a replica, GOV030 for a view) no
    longer keeps the definitions from loading; it stops only the assets it names, judged on the day
    of the run (so an agreement that ends while the code location is up stops them the next day).
    Computed once per registry and day.
    """
    day = today or date.today()
    cached = _STOPS.get((id(registry), day))
    if cached is None or cached[0] is not registry:
        _STOPS.clear()
        cached = _STOPS[(id(registry), day)] = (registry, date_stops(registry, day))
    problems = cached[1].get(code, ())
    if problems:
        raise dg.Failure(
            description=f"'{code}' does not run on {day}: "
            + "; ".join(f"{p.code} {p.message}" for p in problems),
            metadata={
                "code": problems[0].code,
                "codes": ", ".join(sorted({p.code for p in problems})),
                "problems": "\n".join(str(p) for p in problems),
                "as_of": day.isoformat(),
            },
        )


def op_name(key: dg.AssetKey) -> str:
    return "__".join(key.path)


def dataset_key(ds: Dataset) -> dg.AssetKey:
    return dg.AssetKey([ds.provider, ds.code])


def query_key(query: View | Indicator) -> dg.AssetKey:
    return dg.AssetKey([query.owner, query.code])


def _owners(registry: Registry, department: str) -> list[str]:
    dept = registry.departments.get(department)
    owners = [dept.team] if dept and dept.team and dept.team.startswith("team:") else []
    owners += [s.email for s in dept.stewards if s.email] if dept else []
    return owners


def column_schema(registry: Registry, ds: Dataset) -> dg.TableSchema:
    columns = []
    for column in ds.columns:
        element = registry.elements[column.element]
        columns.append(
            dg.TableColumn(
                name=column.element,
                type=target_type(element.type),
                description=f"{element.name} / {element.name_en} — source column {column.name}",
                tags={
                    "govreg/security": str(element.security),
                    "govreg/personal": str(element.personal),
                    "govreg/owner": element.owner,
                },
            )
        )
    return dg.TableSchema(columns=columns)


FRESHNESS: Mapping[UpdateCycle, tuple[timedelta, timedelta]] = {
    UpdateCycle.REALTIME: (timedelta(hours=1), timedelta(hours=2)),
    UpdateCycle.DAILY: (timedelta(hours=24), timedelta(hours=30)),
    UpdateCycle.WEEKLY: (timedelta(days=7), timedelta(days=8)),
    UpdateCycle.MONTHLY: (timedelta(days=31), timedelta(days=35)),
    UpdateCycle.QUARTERLY: (timedelta(days=92), timedelta(days=100)),
    UpdateCycle.HALF_YEARLY: (timedelta(days=183), timedelta(days=190)),
    UpdateCycle.YEARLY: (timedelta(days=366), timedelta(days=380)),
}
"""(warn, fail) windows of a dataset's freshness policy, from its declared update cycle: warn once
a cycle has passed without a load, fail a margin later (a nightly export that runs late is not yet
stale). An ``irregular`` dataset has no cycle to be late against, and so no policy."""


def freshness_policy(ds: Dataset) -> dg.FreshnessPolicy | None:
    """The freshness policy Dagster judges the dataset by (see :data:`FRESHNESS`)."""
    windows = FRESHNESS.get(ds.update_cycle)
    if windows is None:
        return None
    warn, fail = windows
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=warn)


def dataset_asset(
    registry: Registry, ds: Dataset, data: Path, suite: LoadedSuite | None = None
) -> dg.AssetsDefinition:
    """Write, audit, publish: stage the extract, run its checks on the staging table, then swap.

    A load that fails a blocking expectation (or whose expectations cannot run) never becomes the
    live table: its rows go to ``<dataset>__blocked``, the file to quarantine, a ``blocked`` load
    record names the failing expectations, the check results are reported on the staged data and
    the run fails with QA005.
    """
    key = dataset_key(ds)
    description = (
        f"{ds.name} / {ds.name_en}\n\n{ds.summary}\n\nProvider: {ds.provider}. Extract: {ds.format}, "
        f"{ds.encoding}, landing in `{landing_folder(data, ds)}`. Classification: {ds.classification}."
    )

    # A multi-asset so that its outputs may be skipped: an extract loaded before changes nothing
    # and reports no check result (the live table's last results stand).
    @dg.multi_asset(
        name="__".join(key.path),
        specs=[
            dg.AssetSpec(
                key=key,
                group_name=ds.provider,
                description=description,
                owners=_owners(registry, ds.provider),
                kinds={"duckdb", str(ds.format)},
                tags={
                    "govreg/security": str(registry.dataset_security(ds)),
                    "govreg/sharing": str(registry.dataset_sharing(ds)),
                    "govreg/update_cycle": str(ds.update_cycle),
                    "govreg/classification": str(ds.classification),
                },
                metadata={
                    "dagster/column_schema": column_schema(registry, ds),
                    "dagster/table_name": f"warehouse.main.{ds.code}",
                    "govreg/landing": str(landing_folder(data, ds)),
                },
                skippable=True,
                freshness_policy=freshness_policy(ds),
            )
        ],
        check_specs=check_specs(key, ds, suite),
        can_subset=True,
        pool=POOL,
    )
    def _ingest(
        context: dg.AssetExecutionContext,
        config: IngestConfig,
        govreg: GovregResource,
        duckdb: DuckDBResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        refuse_if_stopped(govreg.registry, ds.code)
        files = [Path(config.file)] if config.file else landing_files(govreg.data_root, ds)
        if not files or not files[-1].exists():
            folder = landing_folder(govreg.data_root, ds)
            raise dg.Failure(
                description=f"ING008 no extract to ingest for '{ds.code}' in {folder}",
                metadata={"code": "ING008", "landing": str(folder)},
            )
        path = files[-1]
        run_id = context.run.run_id
        with warehouse(duckdb) as con:
            try:
                prepared = prepare_load(
                    govreg.registry,
                    ds.code,
                    path,
                    warehouse=con,
                    store=govreg.store,
                    quarantine=govreg.quarantine,
                    run_id=run_id,
                )
            except IngestError as error:
                raise _failure(error, path) from error
        if isinstance(prepared, LoadOutcome):
            context.log.info(f"{path.name}: {prepared.record.reason}; the table is unchanged")
            yield from standing_results(govreg.store, ds, [s.name for s in check_specs(key, ds, suite)])
            return
        results, reasons = _audit(govreg, ds, suite, Path(duckdb.database), prepared, run_id)
        if reasons:
            with warehouse(duckdb) as con:
                blocked = block_load(
                    prepared, reasons, warehouse=con, store=govreg.store, quarantine=govreg.quarantine
                )
            yield from results  # reported on the staged data, though it did not go live
            raise _failure(blocked, path, blocked_table=blocked_table(ds.code), failed="; ".join(reasons))
        with warehouse(duckdb) as con:
            outcome = publish_load(prepared, warehouse=con, store=govreg.store)
        record = outcome.record
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": record.rows_loaded or 0,
                "govreg/file": str(path),
                "govreg/sha256": record.sha256,
                "govreg/load_id": record.load_id,
                "govreg/rows_in": record.rows_in or 0,
                "govreg/rows_rejected": record.rows_rejected or 0,
                "govreg/cast_failures": json.dumps(record.cast_failures, ensure_ascii=False),
                "govreg/absent_columns": ", ".join(outcome.absent_columns),
                "govreg/rejects_table": outcome.rejects_table or "",
                "govreg/seconds": round(outcome.seconds, 3),
            },
            check_results=results,
        )

    return _ingest


def _failure(error: IngestError, path: Path, **extra: str) -> dg.Failure:
    return dg.Failure(
        description=str(error),
        metadata={
            "code": error.rule,
            "file": str(path),
            "line": error.line,
            "columns": ", ".join(error.columns),
            "quarantined_to": error.quarantined_to or "",
            **extra,
        },
    )


def _audit(
    govreg: GovregResource,
    ds: Dataset,
    suite: LoadedSuite | None,
    warehouse_file: Path,
    prepared: PreparedLoad,
    run_id: str,
) -> tuple[list[dg.AssetCheckResult], list[str]]:
    """Validate the staging table: the check results, and what blocks it from going live.

    Fails closed: if the expectations cannot be built or run at all, the load is blocked.
    """
    try:
        checks = gate_expectations(govreg.registry, ds, suite, last_good_rows(govreg.store, ds.code))
        validations = validate_staged(govreg.registry, ds, warehouse_file, prepared.staging, checks)
    except Exception as exc:  # the gate could not run: nothing goes live
        return [], [f"the expectations could not run: {type(exc).__name__}: {exc}"]
    results = check_results(govreg.store, ds.provider, validations, run_id)
    return results, GateDecision(validations).reasons()


def table_keys(registry: Registry) -> dict[str, dg.AssetKey]:
    """Warehouse table name → the asset that writes it."""
    keys = {code: dataset_key(ds) for code, ds in registry.datasets.items()}
    keys.update({code: query_key(v) for code, v in registry.views.items()})
    return keys


def query_deps(query: View | Indicator, keys: Mapping[str, dg.AssetKey]) -> list[dg.AssetKey]:
    return sorted((keys[t] for t in tables_read(query.query or "", query.dialect) if t in keys), key=str)


def column_lineage(
    parsed: QueryLineage | None, keys: Mapping[str, dg.AssetKey]
) -> dg.TableColumnLineage | None:
    """``dagster/column_lineage`` from parsed lineage: the value-carrying sources of each column."""
    if parsed is None:
        return None
    deps: dict[str, set[tuple[str, str]]] = {}
    for edge in parsed.edges:
        if edge.kind != "indirect" and edge.source.table in keys and edge.target.table == parsed.code:
            deps.setdefault(edge.target.column, set()).add((edge.source.table, edge.source.column))
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=keys[t], column_name=c) for t, c in sorted(sources)]
            for column, sources in sorted(deps.items())
        }
    )


def view_column_schema(
    columns: Mapping[str, Classification], types: Mapping[str, str] | None = None
) -> dg.TableSchema:
    """A view's columns as Dagster shows them, each with the classification it carries after
    propagation (``govreg/security``, ``govreg/personal``, ``govreg/elements``) and where it comes
    from, as a dataset's columns carry their element's; a column whose sources are not all known
    says so (it takes the strictest classification of what the view reads)."""
    out = []
    for name, c in columns.items():
        origin = "; ".join(c.paths[:3]) + (f" (+{len(c.paths) - 3} more)" if len(c.paths) > 3 else "")
        notes = [f"from {origin}" if origin else "from no registered element"]
        if c.unresolved:
            notes.append(f"unresolved ({c.unresolved}): strictest classification of what it reads")
        if c.declassified:
            notes.append(f"declassified: {c.declassified}")
        out.append(
            dg.TableColumn(
                name=name,
                type=(types or {}).get(name, "unknown"),
                description="; ".join(notes),
                tags={
                    "govreg/security": str(c.security),
                    "govreg/personal": str(c.personal),
                    "govreg/elements": ",".join(sorted(c.elements)) or "none",
                },
            )
        )
    return dg.TableSchema(columns=out)


def view_asset(
    registry: Registry,
    view: View,
    keys: Mapping[str, dg.AssetKey],
    parsed: QueryLineage | None = None,
    classified: Mapping[str, Classification] | None = None,
) -> dg.AssetsDefinition:
    lineage_meta = column_lineage(parsed, keys)
    classified = dict(classified or {})
    deps = (
        sorted({keys[t] for t in parsed.sources if t in keys}, key=str) if parsed else query_deps(view, keys)
    )
    metadata: dict[str, Any] = {"dagster/table_name": f"warehouse.main.{view.code}"}
    if classified:
        metadata["dagster/column_schema"] = view_column_schema(classified)
    if lineage_meta is not None:
        metadata["dagster/column_lineage"] = lineage_meta
        metadata["govreg/lineage_status"] = parsed.status if parsed else "unparsed"

    key = query_key(view)
    checks = (
        [
            dg.AssetCheckSpec(
                KEY_CHECK,
                asset=key,
                blocking=True,
                description=f"One row per {', '.join(view.key)}: no key value null or repeated. Run on "
                "each build before it replaces the live table; a failing build never goes live (QA006).",
            )
        ]
        if view.key
        else []
    )

    @dg.asset(
        key=key,
        check_specs=checks,
        group_name=view.owner,
        description=f"{view.name} / {view.name_en}\n\n{view.description}\n\n```sql\n{view.query}\n```",
        owners=_owners(registry, view.owner),
        kinds={"duckdb", "sql"},
        deps=deps,
        tags={
            "govreg/kind": "view",
            **(
                {
                    "govreg/security": str(strictest([c.security for c in classified.values()])),
                    "govreg/personal": str(strictest([c.personal for c in classified.values()])),
                }
                if classified
                else {}
            ),
        },
        metadata=metadata,
        pool=POOL,
        automation_condition=VIEW_CONDITION,
    )
    def _view(
        govreg: GovregResource, duckdb: DuckDBResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        refuse_if_stopped(govreg.registry, view.code)
        staging = f"{view.code}__staging"
        with warehouse(duckdb) as con:
            set_salts(con, view)
            con.begin()
            con.execute(f"CREATE OR REPLACE TABLE {ident(staging)} AS {view.query}")
            verdict = key_verdict(con, staging, view.key) if view.key else None
            if verdict is not None and not verdict.passed:
                con.execute(f"DROP TABLE {ident(staging)}")  # the live table stays as it was
                con.commit()
                yield verdict
                raise dg.Failure(
                    description=f"QA006 view '{view.code}': {verdict.description}; the live table was kept",
                    metadata={"code": "QA006"},
                )
            con.execute(f"CREATE OR REPLACE TABLE {ident(view.code)} AS SELECT * FROM {ident(staging)}")
            con.execute(f"DROP TABLE {ident(staging)}")
            con.commit()
            rows = con.execute(f"SELECT count(*) FROM {ident(view.code)}").fetchone()
            described = con.execute(f"DESCRIBE {ident(view.code)}").fetchall()
        types = {str(d[0]): str(d[1]) for d in described}
        if classified:
            schema = view_column_schema({c: classified[c] for c in types if c in classified}, types)
        else:
            schema = dg.TableSchema(columns=[dg.TableColumn(name=n, type=t) for n, t in types.items()])
        extra = {"dagster/column_lineage": lineage_meta} if lineage_meta is not None else {}
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": int(rows[0]) if rows else 0,
                "dagster/column_schema": schema,
                **extra,
            }
        )
        if verdict is not None:
            yield verdict

    return _view


KEY_CHECK = "key"


def key_verdict(con: duckdb.DuckDBPyConnection, table: str, key: tuple[str, ...]) -> dg.AssetCheckResult:
    """The key check of a view's staged build: rows whose key is null, and key values held by more
    than one row. Exact, unlike a dataset's tolerated defects: the view is govreg's own SQL, and a
    profile "one row per enterprise" with a repeated enterprise is wrong, not noisy. Counts only:
    the key values themselves may be personal information."""
    columns = ", ".join(ident(c) for c in key)
    nulls = " OR ".join(f"{ident(c)} IS NULL" for c in key)
    row = con.execute(f"SELECT count(*), count(*) FILTER (WHERE {nulls}) FROM {ident(table)}").fetchone()
    total, null_rows = (int(row[0]), int(row[1])) if row else (0, 0)
    dup = con.execute(
        f"SELECT count(*), coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {ident(table)} "
        f"WHERE NOT ({nulls}) GROUP BY {columns} HAVING count(*) > 1)"
    ).fetchone()
    repeated, repeated_rows = (int(dup[0]), int(dup[1])) if dup else (0, 0)
    passed = null_rows == 0 and repeated == 0
    described = (
        f"{total} rows, one per {', '.join(key)}"
        if passed
        else f"{total} rows: {null_rows} with a null key, {repeated} key values held by {repeated_rows} rows"
    )
    return dg.AssetCheckResult(
        check_name=KEY_CHECK,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=described,
        metadata={
            "rows": total,
            "null_key_rows": null_rows,
            "repeated_keys": repeated,
            "rows_with_repeated_keys": repeated_rows,
            "key": ", ".join(key),
        },
    )


def _indicator_metadata(columns: list[str], rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """One ``value`` (plotted by Dagster), or one value per row labelled by its first column."""
    if "value" not in columns:
        raise dg.Failure(description=f"an indicator query must return a 'value' column, got {columns}")
    at = columns.index("value")
    if len(rows) == 1:
        value = rows[0][at]
        return {"value": float(value) if value is not None else float("nan")}
    label = next((i for i, c in enumerate(columns) if c != "value"), None)
    out: dict[str, Any] = {"rows": len(rows)}
    for row in rows[:50]:
        name = str(row[label]) if label is not None else str(len(out))
        out[f"value/{name}"] = float(row[at]) if row[at] is not None else float("nan")
    return out


def indicator_asset(
    registry: Registry, ind: Indicator, keys: Mapping[str, dg.AssetKey]
) -> dg.AssetsDefinition:
    @dg.asset(
        key=query_key(ind),
        group_name=ind.owner,
        description=f"{ind.name} / {ind.name_en}\n\nQuestion: {ind.question}\n\n```sql\n{ind.query}\n```",
        owners=_owners(registry, ind.owner),
        kinds={"duckdb", "sql"},
        deps=query_deps(ind, keys),
        tags={"govreg/kind": "indicator"},
        pool=POOL,
        automation_condition=VIEW_CONDITION,
    )
    def _indicator(govreg: GovregResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
        refuse_if_stopped(govreg.registry, ind.code)
        with warehouse(duckdb) as con:
            result = con.execute(ind.query or "")
            columns = [d[0] for d in result.description or ()]
            rows = result.fetchall()
        return dg.MaterializeResult(metadata=_indicator_metadata(columns, rows))

    return _indicator


def build_assets(
    registry: Registry, data: Path, suites: Mapping[str, LoadedSuite] | None = None
) -> list[dg.AssetsDefinition]:
    keys = table_keys(registry)
    suites = suites or {}
    assets = [dataset_asset(registry, ds, data, suites.get(ds.code)) for ds in registry.datasets.values()]
    parsed = RegistryLineage(registry)
    propagation = Propagation(registry, parsed)
    assets += [
        view_asset(registry, v, keys, parsed.view(v.code), dict(propagation.view_columns(v.code)))
        for v in registry.views.values()
    ]
    assets += [indicator_asset(registry, i, keys) for i in registry.indicators.values()]
    return assets
