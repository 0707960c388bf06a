"""The main job on the bundled sample city, as ``make demo`` runs it.

1. validate the registry home and apply it to the metadata store (audited);
2. generate every department's extract into its landing folder;
3. materialize every asset with Dagster (datasets, then views and indicators);
4. a department sends a bad extract: it is refused at the door, quarantined, the table kept;
5. print per department: datasets loaded, rows, rejected files and why.
"""

import json
import os
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.csv as pacsv
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from examples.generator.reconcile import reconcile
from pipelines.assets import IngestConfig, dataset_key, op_name
from pipelines.definitions import CITY_JOB, build_definitions
from pipelines.resources import CITY, Settings, landing_folder
from registry.errors import GovregError, display_path
from registry.home import Registry
from registry.load import load_valid_home
from registry.model import Dataset
from registry.store import Store, signing
from registry.store.apply import apply_registry, plan_registry
from registry.store.audit import now, verify_audit
from registry.store.loads import list_loads
from registry.store.quality import latest_results

BAD_DATASET = "tax_registration"
DEMO_ROOT = Path(".govreg/demo")  # the demo's own store, data and Dagster instance, unless told otherwise
DEMO_STORE = f"sqlite:///{DEMO_ROOT / 'store.db'}"
DEMO_DATA = DEMO_ROOT / "data"
DEMO_KEY = DEMO_ROOT / "audit.key"  # the demo's own audit key, when the environment configures none


class DemoRefused(GovregError):
    """The demo was pointed at a store holding another registry, and not told ``--force``."""

    code = "DEMO"


def check_store_is_ours(store: Store, registry: Registry) -> str | None:
    """Why applying the demo's registry over ``store`` would touch someone else's data, or None.

    A store is the demo's to apply to when it is empty, or already holds a registry of the same
    name that the apply would only add to or change (nothing deleted).
    """
    specs = store.read_specs()
    if not any(specs.values()):
        return None
    stored = json.loads(next(iter(specs.get("settings", {}).values()), "{}")).get("name")
    if stored != registry.settings.name:
        return (
            f"the store {store.shown_url} holds another registry ({stored!r}, not {registry.settings.name!r})"
        )
    deletes = plan_registry(store, registry).counts()["delete"]
    if deletes:
        return f"applying the demo to {store.shown_url} would delete {deletes} entities it holds"
    return None


QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # events still go to the instance


@dataclass(frozen=True)
class DemoResult:
    warnings: int
    applied_events: int
    materialized: int
    failed_steps: tuple[str, ...]
    loads: list[dict[str, Any]]
    audit_ok: bool
    bad_extract_refused: bool
    defects: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """The summary ``govreg demo --json`` prints."""
        return {
            "warnings": self.warnings,
            "applied_events": self.applied_events,
            "materialized": self.materialized,
            "failed_steps": list(self.failed_steps),
            "audit_ok": self.audit_ok,
            "bad_extract_refused": self.bad_extract_refused,
            "loads": self.loads,
            "defects": self.defects,
            "defects_found_exactly": sum(bool(d.get("match")) for d in self.defects),
        }


def _instance(data: Path) -> dg.DagsterInstance:
    """A persistent Dagster instance (DAGSTER_HOME, default ``<data>/../dagster``): the UI shows the runs."""
    home = Path(os.environ.get("DAGSTER_HOME") or data.parent / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def demo_key() -> signing.AuditKey:
    """The key the demo signs its audit log with: the configured one (``GOVREG_AUDIT_KEY``, ...),
    else the demo's own ``.govreg/demo/audit.key``, made on the first run (mode 0600). The
    environment is pointed at it, so the Dagster runs of the demo sign with the same key."""
    key = signing.configured_key()
    if key is not None:
        return key
    if not DEMO_KEY.is_file():
        signing.generate(DEMO_KEY)
    os.environ[signing.ENV_KEY_FILE] = str(DEMO_KEY.resolve())
    return signing.read_key_file(DEMO_KEY)


def bad_extract(ds: Dataset, data: Path, today: date) -> Path:
    """An extract with a column nobody registered: what a department's new system might send."""
    folder = landing_folder(data, ds)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = f"{today:%Y%m%d}-resend"
    name = ds.file_pattern.replace("*", stamp) if ds.file_pattern else f"{ds.code}-{stamp}.csv"
    columns = {c.name: [f"示例{i}" for i in range(3)] for c in ds.columns}
    columns["lxdh"] = ["13800000000", "13900000000", "13700000000"]  # phone: not in the declaration
    path = folder / name
    table = pa.table(columns)
    pacsv.write_csv(table, path, pacsv.WriteOptions(delimiter=ds.delimiter))
    if str(ds.encoding) in ("gbk", "gb18030"):
        path.write_bytes(path.read_bytes().decode("utf-8").encode(str(ds.encoding)))
    path.with_name(path.name + ".done").touch()  # sent whole (the city declares completion: marker)
    return path


def run_demo(
    *,
    home: Path | None,
    store_url: str | None,
    data: Path | None,
    rows: int,
    seed: int,
    console: Console,
    actor: str,
    today: date | None = None,
    force: bool = False,
    progress: Callable[[str], AbstractContextManager[Any]] | None = None,
    table_printer: Callable[..., None] | None = None,
) -> DemoResult:
    """The demo on its own home, store and data folder (``.govreg/demo``) unless given others.

    It never applies over a store holding another registry, or deletes anything a store holds,
    unless ``force`` (:class:`DemoRefused` before anything is written). ``progress(message)``
    wraps each step that takes more than a moment (the CLI shows a spinner there on a terminal);
    ``table_printer`` prints the summary table (the CLI's, which never cuts an identifier).
    """
    step = progress or (lambda _message: nullcontext())
    from examples.generator import generate

    started = time.perf_counter()
    home = (home or CITY).resolve()
    store_url = store_url or DEMO_STORE
    data = (data or DEMO_DATA).resolve()
    with step("validating the registry home"):
        registry, warnings = load_valid_home(home)
    console.print(f"[bold]1. validate[/] {display_path(home)}: valid, {len(warnings)} warning(s)")
    for problem in warnings:
        console.print(f"   {problem.location}: [yellow]{problem.code}[/] {problem.message}", soft_wrap=True)
    audit_key = demo_key()
    store = Store(store_url, audit_key=audit_key)
    foreign = check_store_is_ours(store, registry)
    if foreign is not None and not force:
        store.dispose()
        raise DemoRefused(
            f"{foreign}: the demo uses its own store unless told otherwise (omit --store), "
            "or pass --force to apply the sample city over it; nothing was changed"
        )
    with step(f"applying {registry.count()} entities to the store"):
        applied = apply_registry(
            store, registry, actor=actor, reason="govreg demo: sample city", source=str(home), prune=force
        )
    with store.read() as conn:
        chain = verify_audit(
            conn, {audit_key.public: audit_key.private.public_key()}, key_source=audit_key.source
        )
    counts = applied.plan.counts()
    console.print(
        f"[bold]2. apply[/] to {store.shown_url}: {counts['create']} created, {counts['update']} updated, "
        f"{counts['delete']} deleted, {applied.events} audit events; audit chain "
        f"{'verified' if chain.ok else '[red]BROKEN[/]'} ({chain.events} events, "
        f"{chain.checkpoints} checkpoints signed by {signing.fingerprint(audit_key.public)}, "
        f"{chain.entities} entities match the log)",
        soft_wrap=True,
    )
    for broken in chain.problems:
        console.print(f"   [red]AUDIT[/] {escape(broken)}", soft_wrap=True)

    day = today or date.today()
    with step(f"generating {len(registry.datasets)} extracts ({rows:,} rows in the largest)"):
        manifest = generate(registry, data, rows=rows, seed=seed, today=day)
    console.print(
        f"[bold]3. generate[/] {len(manifest.datasets)} extracts into {display_path(data)} (seed {seed}, "
        f"{rows:,} rows in the largest; manifest.json lists the injected defects)",
        soft_wrap=True,
    )

    settings = Settings(
        home=home, store_url=store_url, data=data, warehouse=data / "warehouse.duckdb", automation=False
    )
    with step("loading the Dagster definitions"):
        defs = build_definitions(settings)
        instance = _instance(data)
    since = now()
    with step(f"materializing job '{CITY_JOB}': loads, checks, views and indicators"):
        result = defs.resolve_job_def(CITY_JOB).execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET
        )
    materialized = len(result.get_asset_materialization_events())
    failed = tuple(e.step_key or "" for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    console.print(
        f"[bold]4. materialize[/] job '{CITY_JOB}' (run {result.run_id[:8]}): {materialized} assets "
        f"materialized into {display_path(settings.warehouse)}"
        + (f", [red]{len(failed)} failed: {', '.join(failed)}[/]" if failed else ""),
        soft_wrap=True,
    )

    ds = registry.datasets[BAD_DATASET]
    bad = bad_extract(ds, data, day)
    key = dataset_key(ds)
    with step(f"sending a bad extract for {ds.code}"):
        resend = defs.resolve_job_def(CITY_JOB).execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=[key],
            run_config={**QUIET, "ops": {op_name(key): {"config": IngestConfig(file=str(bad)).model_dump()}}},
        )
    record = next(list_loads(store, dataset=ds.code, limit=1), None)
    refused = not resend.success and record is not None and record["status"] == "rejected"
    verdict = (
        f"refused and quarantined — {record['reason']}" if refused and record else "[red]not refused![/]"
    )
    console.print(f"[bold]5. a bad extract[/] {bad.name} for {ds.code}: {verdict}", soft_wrap=True)
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        values = {
            k: v.value for k, v in materialization.metadata.items() if k == "value" or k.startswith("value/")
        }
        if values:
            shown = ", ".join(f"{k.removeprefix('value/')}={v:g}" for k, v in list(values.items())[:6])
            console.print(
                f"   indicator {materialization.asset_key.to_user_string()}: {shown}", soft_wrap=True
            )

    loads = [r for r in list_loads(store, limit=10_000) if r["started_at"] >= since]
    checks = _check_results(result)
    published: dict[str, dict[str, int]] = {}  # newest first: each dataset's published load
    for record in loads:
        if record["status"] == "loaded":
            published.setdefault(record["dataset"], record["cast_failures"])
    reconciled = reconcile(
        registry,
        manifest.as_json(),
        {code: latest_results(store, code) for code in registry.datasets},
        published,
    )
    _summary(console, registry, loads, checks, table_printer)
    mismatched = [r for r in reconciled if not r["match"]]
    console.print(
        f"[bold]6. quality[/] {sum(c['passed'] for c in checks.values())} checks passed, "
        f"{sum(not c['passed'] for c in checks.values())} failed (details: govreg quality); injected defects "
        f"found exactly in {len(reconciled) - len(mismatched)} of {len(reconciled)} counts"
        + (
            ""
            if not mismatched
            else "; [red]mismatches: "
            + "; ".join(
                f"{r['dataset']}.{r['column']} {r['defect']} injected {r['injected']} found {r['found']}"
                for r in mismatched
            )
            + "[/]"
        ),
        soft_wrap=True,
    )
    console.print(f"done in {time.perf_counter() - started:.1f} s")
    return DemoResult(
        len(warnings), applied.events, materialized, failed, loads, chain.ok, refused, reconciled
    )


def _check_results(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Asset check evaluations of the run: ``dataset:check`` → department, passed, severity."""
    out: dict[str, dict[str, Any]] = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.asset_check_evaluation_data
            out[f"{data.asset_key.path[-1]}:{data.check_name}"] = {
                "department": data.asset_key.path[0],
                "passed": data.passed,
                "severity": str(data.severity.value),
            }
    return out


def _summary(
    console: Console,
    registry: Any,
    loads: list[dict[str, Any]],
    checks: dict[str, dict[str, Any]],
    table_printer: Callable[..., None] | None = None,
) -> None:
    per: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"datasets": set(), "rows": 0, "rejected_rows": 0, "refused": []}
    )
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(loads, key=lambda r: r["id"]):
        refused = row["status"] in ("rejected", "blocked")  # blocked: refused by its expectations
        latest[row["dataset"]] = row if not refused else latest.get(row["dataset"], row)
        if refused:
            per[row["department"]]["refused"].append(f"{Path(row['file']).name}: {row['rule_code']}")
    for code, row in latest.items():
        if row["status"] in ("loaded", "duplicate"):
            dept = per[row["department"]]
            dept["datasets"].add(code)
            dept["rows"] += row["rows_loaded"] or 0
            dept["rejected_rows"] += row["rows_rejected"] or 0
    title = f"sample city: {registry.settings.name} / {registry.settings.name_en or ''}"
    numeric = ("datasets loaded", "rows", "rows set aside", "checks passed", "checks failed")
    headers = ("department", "名称", *numeric, "files refused (why)")
    shown: list[tuple[str, ...]] = []
    for code, dept in registry.departments.items():
        stats = per.get(code)
        if stats is None and not any(ds.provider == code for ds in registry.datasets.values()):
            continue
        stats = stats or {"datasets": set(), "rows": 0, "rejected_rows": 0, "refused": []}
        mine = [c for c in checks.values() if c["department"] == code]
        failed = [c for c in mine if not c["passed"]]
        shown.append(
            (
                code,
                dept.name,
                str(len(stats["datasets"])),
                f"{stats['rows']:,}",
                f"{stats['rejected_rows']:,}",
                str(len(mine) - len(failed)),
                f"{len(failed)}"
                + (f" ({sum(c['severity'] == 'ERROR' for c in failed)} blocking)" if failed else ""),
                "; ".join(stats["refused"]) or "—",
            )
        )
    if table_printer is not None:  # the CLI's: identifiers never cut, too narrow → one block a row
        table_printer(title, headers, shown, identifiers=("department",), numbers=numeric)
        return
    table = Table(title=title)
    for column in headers:
        table.add_column(column, justify="right" if column in numeric else "left", overflow="fold")
    for values in shown:
        table.add_row(*(escape(v) for v in values))
    console.print(table)
